//! Metadata v0-v12: live brokers, cluster id, controller, and for each topic its id and
//! partitions with leader (the Raft leader), leader epoch (the Raft term), replicas and ISR.
//! A partition this broker hosts is described from its own replica (the freshest view of who
//! leads); any other from what its leader last recorded in the metadata. Unknown topics are
//! created when the request and the broker allow it, as librdkafka expects.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::OFFSETS_TOPIC;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::metadata::{MetadataView, TopicMeta, state};

/// Before v4 a Metadata request cannot say whether to create topics; Kafka then does.
fn may_auto_create(version: i16, request: &MetadataRequest) -> bool {
    version < 4 || request.allow_auto_topic_creation
}

/// Fields a version lacks must keep their defaults, or the response does not encode.
fn has_controller(version: i16) -> bool {
    version >= 1
}
fn has_cluster_id(version: i16) -> bool {
    version >= 2
}
fn has_leader_epoch(version: i16) -> bool {
    version >= 7
}
fn has_topic_ids(version: i16) -> bool {
    version >= 10
}
fn has_offline_replicas(version: i16) -> bool {
    version >= 5
}

/// Before v1 an empty topic list means "all topics"; later only a null list does.
fn wants_all_topics(version: i16, request: &MetadataRequest) -> bool {
    match &request.topics {
        None => true,
        Some(topics) => version == 0 && topics.is_empty(),
    }
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: MetadataRequest,
) -> Option<MetadataResponse> {
    let broker = &ctx.broker;
    let version = ctx.api_version;
    let mut topics = Vec::new();
    if wants_all_topics(version, &request) {
        let view = broker.services.metadata.current();
        for topic in view.state.topics.values() {
            topics.push(describe_topic(broker, topic, version));
        }
    } else {
        for wanted in request.topics.iter().flatten() {
            let auto_create = may_auto_create(version, &request);
            topics.push(lookup(broker, wanted, auto_create, version).await);
        }
    }
    let view = broker.services.metadata.current();
    let mut response = MetadataResponse::default()
        .with_brokers(brokers(broker, &view))
        .with_topics(topics);
    if has_cluster_id(version) {
        response.cluster_id = Some(StrBytes::from_string(broker.config.cluster_id.clone()));
    }
    if has_controller(version) {
        response.controller_id = controller(broker);
    }
    Some(response)
}

/// Registered brokers that are up: this one and those its Raft transport reaches now.
fn brokers(broker: &BrokerContext, view: &MetadataView) -> Vec<MetadataResponseBroker> {
    let reachable = broker.services.partitions.reachable_peers();
    view.state
        .brokers
        .values()
        .filter(|b| {
            b.node_id == broker.node_id()
                || reachable
                    .as_ref()
                    .is_none_or(|peers| peers.contains(&b.node_id))
        })
        .map(|b| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id as i32))
                .with_host(StrBytes::from_string(b.host.clone()))
                .with_port(i32::from(b.port))
        })
        .collect()
}

/// The controller is the leader of the metadata log.
fn controller(broker: &BrokerContext) -> BrokerId {
    let leader = broker.services.metadata.replica().leader().leader;
    BrokerId(leader.map_or(-1, |id| id as i32))
}

async fn lookup(
    broker: &BrokerContext,
    wanted: &kafka_protocol::messages::metadata_request::MetadataRequestTopic,
    auto_create: bool,
    version: i16,
) -> MetadataResponseTopic {
    let view = broker.services.metadata.current();
    let Some(name) = wanted.name.as_ref().map(|n| n.0.to_string()) else {
        return match view.state.topic_by_id(wanted.topic_id) {
            Some(topic) => describe_topic(broker, topic, version),
            None => MetadataResponseTopic::default()
                .with_topic_id(wanted.topic_id)
                .with_name(None)
                .with_error_code(error_map::refusal_code(Refusal::UnknownTopicId)),
        };
    };
    if let Some(topic) = view.state.topics.get(&name) {
        return describe_topic(broker, topic, version);
    }
    let failed = |code: i16| {
        MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
            .with_error_code(code)
    };
    if let Err(e) = state::validate_topic_name(&name) {
        return failed(error_map::metadata_code(&e));
    }
    if !auto_create {
        return failed(error_map::refusal_code(Refusal::UnknownTopicOrPartition));
    }
    match broker.services.admin.auto_create(&name).await {
        Ok(Some(topic)) => describe_topic(broker, &topic, version),
        Ok(None) => failed(error_map::refusal_code(Refusal::UnknownTopicOrPartition)),
        Err(e) => {
            tracing::info!(topic = %name, error = %e, "auto-creation failed");
            failed(error_map::admin_code(&e))
        }
    }
}

fn describe_topic(
    broker: &BrokerContext,
    topic: &TopicMeta,
    version: i16,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .enumerate()
        .map(|(p, replicas)| describe_partition(broker, topic, p as i32, replicas, version))
        .collect();
    let mut described = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_is_internal(topic.name == OFFSETS_TOPIC)
        .with_partitions(partitions);
    if has_topic_ids(version) {
        described.topic_id = topic.id;
    }
    described
}

fn describe_partition(
    broker: &BrokerContext,
    topic: &TopicMeta,
    partition: i32,
    replicas: &[u64],
    version: i16,
) -> MetadataResponsePartition {
    let mut base = MetadataResponsePartition::default()
        .with_partition_index(partition)
        .with_replica_nodes(replicas.iter().map(|id| node(*id)).collect());
    // Only this broker's own replicas are known to be offline (they would not open here); as
    // on Kafka the partition is then led elsewhere or has no leader.
    if has_offline_replicas(version) && broker.offline_here(topic, partition) {
        base.offline_replicas = vec![node(broker.node_id())];
    }
    match broker.leader_view(topic, partition) {
        Some(view) => {
            let mut described = base
                .with_leader_id(node(view.leader))
                .with_isr_nodes(view.isr.iter().map(|id| node(*id)).collect());
            if has_leader_epoch(version) {
                described.leader_epoch = view.epoch.0;
            }
            described
        }
        None => base
            .with_leader_id(BrokerId(-1))
            .with_error_code(error_map::refusal_code(Refusal::LeaderNotAvailable)),
    }
}

fn node(id: u64) -> BrokerId {
    BrokerId(i32::try_from(id).unwrap_or(-1))
}
