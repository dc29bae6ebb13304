//! Admin APIs rdkafka's AdminClient does not expose, as raw `kafka-protocol` requests:
//! IncrementalAlterConfigs, DescribeConfigs with synonyms and documentation, DescribeCluster,
//! DeleteTopics by topic id. `admin_restart.rs`: a restart removes directories of deleted
//! partitions.

use std::net::TcpStream;

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tracing::info;
use uuid::Uuid;

use crate::common::wire::call;
use crate::common::{init_logs, unique_name};
use crate::harness::Target;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Creates a one-partition topic with CreateTopics v7; returns its id.
pub fn create_topic(conn: &mut TcpStream, name: &str) -> Uuid {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(1)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    let response: CreateTopicsResponse = call(conn, ApiKey::CreateTopics, 7, &request);
    assert_eq!(response.topics[0].error_code, 0, "{response:?}");
    response.topics[0].topic_id
}

fn describe(
    conn: &mut TcpStream,
    version: i16,
    resource: DescribeConfigsResource,
) -> DescribeConfigsResponse {
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![resource])
        .with_include_synonyms(true)
        .with_include_documentation(version >= 3);
    call(conn, ApiKey::DescribeConfigs, version, &request)
}

pub fn incremental(
    conn: &mut TcpStream,
    topic: &str,
    ops: &[(&str, i8, Option<&str>)],
) -> (i16, Option<StrBytes>) {
    let configs = ops
        .iter()
        .map(|(k, op, v)| {
            AlterableConfig::default()
                .with_name(s(k))
                .with_config_operation(*op)
                .with_value(v.map(s))
        })
        .collect();
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(topic))
            .with_configs(configs),
    ]);
    let response: IncrementalAlterConfigsResponse =
        call(conn, ApiKey::IncrementalAlterConfigs, 1, &request);
    let r = &response.responses[0];
    (r.error_code, r.error_message.clone())
}

#[test]
fn incremental_alter_and_describe_with_synonyms() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let name = unique_name("raw-configs");
    create_topic(&mut conn, &name);

    info!("SET two settings, then DELETE one: the other stays");
    let (code, msg) = incremental(
        &mut conn,
        &name,
        &[
            ("retention.ms", 0, Some("98765")),
            ("segment.bytes", 0, Some("2097152")),
        ],
    );
    assert_eq!(code, 0, "{msg:?}");
    let (code, msg) = incremental(&mut conn, &name, &[("segment.bytes", 1, None)]);
    assert_eq!(code, 0, "{msg:?}");
    for version in 1..=4 {
        let resource = DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(&name))
            .with_configuration_keys(Some(vec![s("retention.ms"), s("segment.bytes")]));
        let response = describe(&mut conn, version, resource);
        let result = &response.results[0];
        assert_eq!(result.error_code, 0, "v{version}: {result:?}");
        assert_eq!(
            result.configs.len(),
            2,
            "v{version}: the key filter is honoured"
        );
        let retention = result
            .configs
            .iter()
            .find(|c| &*c.name == "retention.ms")
            .expect("retention.ms");
        assert_eq!(retention.value.as_deref(), Some("98765"));
        assert_eq!(retention.config_source, 1, "DYNAMIC_TOPIC_CONFIG");
        assert_eq!(&*retention.synonyms[0].name, "retention.ms");
        assert!(
            retention
                .synonyms
                .iter()
                .any(|y| &*y.name == "log.retention.ms"),
            "{retention:?}"
        );
        let segment = result
            .configs
            .iter()
            .find(|c| &*c.name == "segment.bytes")
            .expect("segment.bytes");
        assert_ne!(
            segment.config_source, 1,
            "v{version}: segment.bytes was deleted"
        );
        if version >= 3 {
            assert_eq!(retention.config_type, 5, "LONG");
            assert!(
                retention
                    .documentation
                    .as_ref()
                    .is_some_and(|d| !d.is_empty())
            );
        }
    }

    info!("APPEND and SUBTRACT edit a list setting");
    for (op, value, expected) in [(2, "compact", "delete,compact"), (3, "delete", "compact")] {
        let (code, msg) = incremental(&mut conn, &name, &[("cleanup.policy", op, Some(value))]);
        assert_eq!(code, 0, "{msg:?}");
        let resource = DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(&name))
            .with_configuration_keys(Some(vec![s("cleanup.policy")]));
        let response = describe(&mut conn, 4, resource);
        let policy = &response.results[0].configs[0];
        assert_eq!(policy.value.as_deref(), Some(expected), "{policy:?}");
    }

    info!("APPEND/SUBTRACT of a non-list, unknown keys and bad values are INVALID_CONFIG");
    for ops in [
        [("retention.ms", 2, Some("1"))],
        [("retention.ms", 0, Some("later"))],
        [("no.such.setting", 0, Some("1"))],
    ] {
        let (code, msg) = incremental(&mut conn, &name, &ops);
        assert_eq!(code, ResponseError::InvalidConfig.code(), "{ops:?}");
        assert!(
            msg.as_deref().is_some_and(|m| m.contains(ops[0].0)),
            "{msg:?}"
        );
    }
    let (code, _) = incremental(
        &mut conn,
        &unique_name("raw-missing"),
        &[("retention.ms", 0, Some("1"))],
    );
    assert_eq!(code, ResponseError::UnknownTopicOrPartition.code());
    let missing = DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(s(&unique_name("raw-missing")));
    let response = describe(&mut conn, 4, missing);
    assert_eq!(
        response.results[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}

/// AlterConfigs of one resource at `version`: its error code and message.
pub fn alter(
    conn: &mut TcpStream,
    version: i16,
    resource_type: i8,
    name: &str,
    configs: &[(&str, &str)],
    validate_only: bool,
) -> (i16, Option<StrBytes>) {
    use kafka_protocol::messages::alter_configs_request as a;
    let configs = configs
        .iter()
        .map(|(k, v)| {
            a::AlterableConfig::default()
                .with_name(s(k))
                .with_value(Some(s(v)))
        })
        .collect();
    let request = AlterConfigsRequest::default()
        .with_resources(vec![
            a::AlterConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(s(name))
                .with_configs(configs),
        ])
        .with_validate_only(validate_only);
    let response: AlterConfigsResponse = call(conn, ApiKey::AlterConfigs, version, &request);
    let r = &response.responses[0];
    (r.error_code, r.error_message.clone())
}

#[test]
fn alter_configs_error_codes() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let name = unique_name("raw-alter");
    create_topic(&mut conn, &name);
    let retention = |conn: &mut TcpStream| {
        let resource = DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(s(&name))
            .with_configuration_keys(Some(vec![s("retention.ms")]));
        describe(conn, 4, resource).results[0].configs[0]
            .value
            .clone()
    };
    let before = retention(&mut conn);
    for version in 0..=2 {
        info!(
            version,
            "bad values and unknown keys are INVALID_CONFIG naming the key"
        );
        for (key, value) in [
            ("retention.ms", "soon"),
            ("message.downconversion.enable", "true"),
        ] {
            let (code, msg) = alter(&mut conn, version, 2, &name, &[(key, value)], false);
            assert_eq!(code, ResponseError::InvalidConfig.code(), "{key}={value}");
            assert!(msg.as_deref().is_some_and(|m| m.contains(key)), "{msg:?}");
        }
        info!(
            version,
            "validate_only accepts a good value and changes nothing"
        );
        let (code, msg) = alter(
            &mut conn,
            version,
            2,
            &name,
            &[("retention.ms", "42")],
            true,
        );
        assert_eq!(code, 0, "{msg:?}");
        assert_eq!(retention(&mut conn), before);
        info!(
            version,
            "broker configs are static; unknown topics are unknown"
        );
        let (code, _) = alter(&mut conn, version, 4, "", &[("num.partitions", "3")], false);
        assert_eq!(code, ResponseError::InvalidRequest.code());
        let (code, _) = alter(
            &mut conn,
            version,
            2,
            &unique_name("raw-missing"),
            &[],
            false,
        );
        assert_eq!(code, ResponseError::UnknownTopicOrPartition.code());
    }
    let other_broker = DescribeConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(s("4242"));
    assert_eq!(
        describe(&mut conn, 4, other_broker).results[0].error_code,
        ResponseError::InvalidRequest.code()
    );
}

#[test]
fn describe_cluster_names_brokers_and_controller() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    for version in 0..=1 {
        let response: DescribeClusterResponse = call(
            &mut conn,
            ApiKey::DescribeCluster,
            version,
            &DescribeClusterRequest::default(),
        );
        assert_eq!(response.error_code, 0, "v{version}: {response:?}");
        assert!(!response.cluster_id.is_empty());
        assert!(!response.brokers.is_empty());
        assert!(
            response
                .brokers
                .iter()
                .any(|b| b.broker_id == response.controller_id),
            "{response:?}"
        );
        if target.data_dir().is_some() {
            assert!(
                response
                    .brokers
                    .iter()
                    .any(|b| b.port == i32::from(target.addr.port()))
            );
        }
    }
    info!("a broker listener does not describe controllers (KIP-919)");
    let request = DescribeClusterRequest::default().with_endpoint_type(2);
    let response: DescribeClusterResponse = call(&mut conn, ApiKey::DescribeCluster, 1, &request);
    assert_eq!(
        response.error_code,
        ResponseError::MismatchedEndpointType.code()
    );
}

#[test]
fn delete_topics_by_id() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let name = unique_name("raw-by-id");
    let id = create_topic(&mut conn, &name);
    let by_id = |id| {
        DeleteTopicsRequest::default()
            .with_topics(vec![DeleteTopicState::default().with_topic_id(id)])
            .with_timeout_ms(10_000)
    };
    let response: DeleteTopicsResponse = call(&mut conn, ApiKey::DeleteTopics, 6, &by_id(id));
    let r = &response.responses[0];
    assert_eq!((r.error_code, r.topic_id), (0, id), "{r:?}");
    assert_eq!(r.name.as_ref().map(|n| n.0.to_string()), Some(name.clone()));
    let response: DeleteTopicsResponse = call(&mut conn, ApiKey::DeleteTopics, 6, &by_id(id));
    assert_eq!(
        response.responses[0].error_code,
        ResponseError::UnknownTopicId.code()
    );
    let old = DeleteTopicsRequest::default()
        .with_topic_names(vec![TopicName(s(&name))])
        .with_timeout_ms(10_000);
    let response: DeleteTopicsResponse = call(&mut conn, ApiKey::DeleteTopics, 1, &old);
    assert_eq!(
        response.responses[0].error_code,
        ResponseError::UnknownTopicOrPartition.code()
    );
}
