//! Samples of the admin requests (see `mod.rs` for what a sample holds).

use kafka_protocol::messages::*;

use super::{Fill, ID_A, ID_B, only, s, unless};

pub(super) fn create_topics(v: i16, f: Fill) -> CreateTopicsRequest {
    use create_topics_request::{CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig};
    let t = f.tags(v >= 5);
    let config = |name, null| {
        CreatableTopicConfig::default()
            .with_name(s(name))
            .with_value(unless(null, s("compact")))
            .with_unknown_tagged_fields(t.clone())
    };
    let assignment = |index| {
        CreatableReplicaAssignment::default()
            .with_partition_index(index)
            .with_broker_ids(vec![BrokerId(1), BrokerId(2)])
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name| {
        CreatableTopic::default()
            .with_name(s(name))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![assignment(0), assignment(1)])
            .with_configs(vec![
                config("cleanup.policy", false),
                config("segment.bytes", f.nulls),
            ])
            .with_unknown_tagged_fields(t.clone())
    };
    CreateTopicsRequest::default()
        .with_topics(vec![topic("a"), topic("bb")])
        .with_timeout_ms(5_000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn delete_topics(v: i16, f: Fill) -> DeleteTopicsRequest {
    use delete_topics_request::DeleteTopicState;
    let t = f.tags(v >= 4);
    let state = |name, id, null| {
        DeleteTopicState::default()
            .with_name(unless(null, s(name)))
            .with_topic_id(id)
            .with_unknown_tagged_fields(t.clone())
    };
    let states = vec![state("a", ID_A, false), state("bb", ID_B, f.nulls)];
    DeleteTopicsRequest::default()
        .with_topics(only(v >= 6, states))
        .with_topic_names(only(v <= 5, vec![s("a"), s("bb")]))
        .with_timeout_ms(5_000)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn create_partitions(v: i16, f: Fill) -> CreatePartitionsRequest {
    use create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
    let t = f.tags(v >= 2);
    let assignment = CreatePartitionsAssignment::default()
        .with_broker_ids(vec![BrokerId(1), BrokerId(2)])
        .with_unknown_tagged_fields(t.clone());
    let topic = |name, null| {
        CreatePartitionsTopic::default()
            .with_name(s(name))
            .with_count(6)
            .with_assignments(unless(null, vec![assignment.clone(), assignment.clone()]))
            .with_unknown_tagged_fields(t.clone())
    };
    CreatePartitionsRequest::default()
        .with_topics(vec![topic("a", false), topic("bb", f.nulls)])
        .with_timeout_ms(5_000)
        .with_validate_only(true)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn describe_configs(v: i16, f: Fill) -> DescribeConfigsRequest {
    use describe_configs_request::DescribeConfigsResource;
    let t = f.tags(v >= 4);
    let resource = |name, null| {
        DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(name))
            .with_configuration_keys(unless(null, vec![s("retention.ms"), s("segment.bytes")]))
            .with_unknown_tagged_fields(t.clone())
    };
    DescribeConfigsRequest::default()
        .with_resources(vec![resource("a", false), resource("bb", f.nulls)])
        .with_include_synonyms(true)
        .with_include_documentation(v >= 3)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn alter_configs(v: i16, f: Fill) -> AlterConfigsRequest {
    use alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let t = f.tags(v >= 2);
    let config = |name, null| {
        AlterableConfig::default()
            .with_name(s(name))
            .with_value(unless(null, s("1000")))
            .with_unknown_tagged_fields(t.clone())
    };
    let resource = |name| {
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(name))
            .with_configs(vec![
                config("retention.ms", false),
                config("segment.ms", f.nulls),
            ])
            .with_unknown_tagged_fields(t.clone())
    };
    AlterConfigsRequest::default()
        .with_resources(vec![resource("a"), resource("bb")])
        .with_validate_only(true)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn incremental_alter_configs(v: i16, f: Fill) -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let t = f.tags(v >= 1);
    let config = |name, operation, null| {
        AlterableConfig::default()
            .with_name(s(name))
            .with_config_operation(operation)
            .with_value(unless(null, s("1000")))
            .with_unknown_tagged_fields(t.clone())
    };
    let resource = |name| {
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(name))
            .with_configs(vec![
                config("retention.ms", 0, false),
                config("segment.ms", 1, f.nulls),
            ])
            .with_unknown_tagged_fields(t.clone())
    };
    IncrementalAlterConfigsRequest::default()
        .with_resources(vec![resource("a"), resource("bb")])
        .with_validate_only(true)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn describe_cluster(v: i16, f: Fill) -> DescribeClusterRequest {
    DescribeClusterRequest::default()
        .with_include_cluster_authorized_operations(true)
        .with_endpoint_type(if v >= 1 { 2 } else { 1 })
        .with_include_fenced_brokers(v >= 2)
        .with_unknown_tagged_fields(f.tags(true))
}
