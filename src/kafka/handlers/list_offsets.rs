//! ListOffsets v1-v8: earliest (log start), latest (high watermark), the largest timestamp,
//! and the first offset at or after a timestamp, per partition.
//! Timestamps resolve to records, as in Kafka: the offset and timestamp of the first record
//! at or after the time (only the batch that holds it is read).

use kafka_protocol::messages::list_offsets_request::ListOffsetsPartition;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map;

/// The leader epoch field exists from v4.
fn has_leader_epoch(version: i16) -> bool {
    version >= 4
}

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
/// KIP-405: the earliest offset kept locally; without tiered storage, the earliest.
const EARLIEST_LOCAL: i64 = -4;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: ListOffsetsRequest,
) -> Option<ListOffsetsResponse> {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| list_partition(&ctx.broker, &name, p, ctx.api_version))
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    Some(ListOffsetsResponse::default().with_topics(topics))
}

fn list_partition(
    broker: &BrokerContext,
    topic: &str,
    wanted: &ListOffsetsPartition,
    version: i16,
) -> ListOffsetsPartitionResponse {
    let base = ListOffsetsPartitionResponse::default()
        .with_partition_index(wanted.partition_index)
        .with_timestamp(-1)
        .with_offset(-1)
        .with_leader_epoch(-1);
    let replica = match broker.replica(topic, wanted.partition_index) {
        Ok(replica) => replica,
        Err(e) => return base.with_error_code(error_map::partition_code(&e)),
    };
    // Fenced as Fetch is: a client acting on an older or newer leader learns so. The field is
    // -1 (no check) before v4.
    if let Err(e) = replica.check_leader_epoch(wanted.current_leader_epoch) {
        return base.with_error_code(error_map::partition_code(&e));
    }
    let epoch = if has_leader_epoch(version) {
        replica.leader_epoch().0
    } else {
        -1
    };
    let found = match wanted.timestamp {
        LATEST => replica
            .offset_bounds()
            .map(|(_, latest)| Some((latest, -1))),
        EARLIEST | EARLIEST_LOCAL => replica
            .offset_bounds()
            .map(|(earliest, _)| Some((earliest, -1))),
        MAX_TIMESTAMP => replica.offset_of_max_timestamp(),
        ts => replica.offset_for_timestamp(ts),
    };
    match found {
        Ok(Some((offset, timestamp))) => base
            .with_offset(offset.0)
            .with_timestamp(timestamp)
            .with_leader_epoch(epoch),
        // Nothing at or after the time: Kafka answers offset -1.
        Ok(None) => base.with_leader_epoch(epoch),
        Err(e) => base.with_error_code(error_map::partition_code(&e)),
    }
}
