//! FindCoordinator v0-v4: the broker that coordinates a consumer group is the leader of the
//! group's `__consumer_offsets` partition. The first request creates that topic, as Kafka does.
//! One key until v3; a batch of keys from v4.

use std::collections::BTreeMap;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::group::{CoordinatorError, OFFSETS_TOPIC};
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::metadata::admin::AdminError;

/// Kafka's key type of a consumer group (1 is a transactional id, not served here).
const GROUP_KEY: i8 = 0;
/// Replicas of each `__consumer_offsets` partition (Kafka's `offsets.topic.replication.factor`),
/// fewer when the cluster is smaller.
const OFFSETS_REPLICATION: usize = 3;

fn batched(version: i16) -> bool {
    version >= 4
}
fn has_error_message(version: i16) -> bool {
    version >= 1
}

/// Where one key's coordinator is, or why there is none: the error code and message.
type Found = Result<(i32, String, i32), (i16, String)>;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: FindCoordinatorRequest,
) -> Option<FindCoordinatorResponse> {
    let version = ctx.api_version;
    let keys: Vec<StrBytes> = if batched(version) {
        request.coordinator_keys.clone()
    } else {
        vec![request.key.clone()]
    };
    let ready = if request.key_type == GROUP_KEY {
        ensure_offsets_topic(&ctx.broker)
            .await
            .map_err(|e| (error_map::admin_code(&e), e.to_string()))
    } else {
        Err((
            error_map::refusal_code(Refusal::InvalidRequest),
            format!("key type {} is not served", request.key_type),
        ))
    };
    let found: Vec<(StrBytes, Found)> = keys
        .into_iter()
        .map(|key| {
            let answer = match &ready {
                Ok(()) => locate(&ctx.broker, &key),
                Err(refused) => Err(refused.clone()),
            };
            (key, answer)
        })
        .collect();
    let mut response = FindCoordinatorResponse::default();
    if batched(version) {
        response.coordinators = found
            .into_iter()
            .map(|(key, answer)| match answer {
                Ok((node, host, port)) => Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(node))
                    .with_host(StrBytes::from_string(host))
                    .with_port(port),
                Err((code, message)) => Coordinator::default()
                    .with_key(key)
                    .with_node_id(BrokerId(-1))
                    .with_port(-1)
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(message))),
            })
            .collect();
        return Some(response);
    }
    let (_, answer) = found.into_iter().next()?;
    match answer {
        Ok((node, host, port)) => {
            response.node_id = BrokerId(node);
            response.host = StrBytes::from_string(host);
            response.port = port;
        }
        Err((code, message)) => {
            response.node_id = BrokerId(-1);
            response.port = -1;
            response.error_code = code;
            if has_error_message(version) {
                response.error_message = Some(StrBytes::from_string(message));
            }
        }
    }
    Some(response)
}

/// The leader of `group`'s offsets partition and its advertised address.
fn locate(broker: &BrokerContext, group: &StrBytes) -> Found {
    let not_available = |why: &str| {
        let error = CoordinatorError::NotAvailable(group.to_string());
        Err((error_map::coordinator_code(&error), why.to_string()))
    };
    let state = broker.services.metadata.current().state;
    let Some(topic) = state.topics.get(OFFSETS_TOPIC) else {
        return not_available("the offsets topic is being created");
    };
    let partition = broker.services.groups.partition_of(group);
    let Some(leader) = broker.leader_view(topic, partition).map(|l| l.leader) else {
        return not_available("the group's offsets partition has no leader yet");
    };
    match state.brokers.get(&leader) {
        Some(info) => Ok((leader as i32, info.host.clone(), i32::from(info.port))),
        None => not_available("the coordinator's broker is not registered yet"),
    }
}

/// Creates `__consumer_offsets` unless it exists: `offsets.topic.num.partitions` partitions of
/// `offsets.topic.segment.bytes` segments, kept whatever time or size retention says (committed
/// offsets must outlive it; compaction deletes what snapshots cover).
async fn ensure_offsets_topic(broker: &BrokerContext) -> Result<(), AdminError> {
    let configs = BTreeMap::from([
        ("retention.ms".to_string(), "-1".to_string()),
        ("retention.bytes".to_string(), "-1".to_string()),
        (
            "segment.bytes".to_string(),
            broker.config.offsets_topic_segment_bytes.to_string(),
        ),
    ]);
    broker
        .services
        .admin
        .ensure_internal_topic(
            OFFSETS_TOPIC,
            broker.services.groups.offsets_partitions(),
            OFFSETS_REPLICATION,
            configs,
        )
        .await
}
