//! OffsetForLeaderEpoch v2-v4: where each leader epoch (Raft term) ends in the leader's log.
//! librdkafka asks after every leader change, with the epoch of the last batch it consumed, to
//! learn whether the log it read from was truncated.

use kafka_protocol::messages::offset_for_leader_epoch_request::OffsetForLeaderPartition;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: OffsetForLeaderEpochRequest,
) -> Option<OffsetForLeaderEpochResponse> {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.topic.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| epoch_end(&ctx.broker, &name, p))
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions)
        })
        .collect();
    Some(OffsetForLeaderEpochResponse::default().with_topics(topics))
}

fn epoch_end(
    broker: &BrokerContext,
    topic: &str,
    wanted: &OffsetForLeaderPartition,
) -> EpochEndOffset {
    let base = EpochEndOffset::default()
        .with_partition(wanted.partition)
        .with_leader_epoch(-1)
        .with_end_offset(-1);
    let answer = broker.replica(topic, wanted.partition).and_then(|replica| {
        replica.check_leader_epoch(wanted.current_leader_epoch)?;
        replica.end_of_epoch(wanted.leader_epoch)
    });
    match answer {
        Ok((epoch, end_offset)) => base.with_leader_epoch(epoch).with_end_offset(end_offset.0),
        Err(e) => base.with_error_code(error_map::partition_code(&e)),
    }
}
