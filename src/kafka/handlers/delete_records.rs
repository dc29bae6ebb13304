//! DeleteRecords v0-v2: moves each partition's log start offset up to the given offset (-1: the
//! high watermark) through its Raft instance, so every replica stops serving the records below
//! it; whole segments below it are deleted at the next retention pass. Answered with the new log
//! start offset (the low watermark) once the move is committed. Internal topics are refused, as
//! Kafka refuses them.

use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::delete_records_request::DeleteRecordsPartition;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};
use tokio::time::Instant;

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::metadata::is_internal_topic;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DeleteRecordsRequest,
) -> Option<DeleteRecordsResponse> {
    let deadline = Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let partitions = join_all(
            topic
                .partitions
                .iter()
                .map(|p| delete_partition(&ctx.broker, &name, p, deadline)),
        )
        .await;
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    Some(DeleteRecordsResponse::default().with_topics(topics))
}

async fn delete_partition(
    broker: &BrokerContext,
    topic: &str,
    wanted: &DeleteRecordsPartition,
    deadline: Instant,
) -> DeleteRecordsPartitionResult {
    let base = DeleteRecordsPartitionResult::default()
        .with_partition_index(wanted.partition_index)
        .with_low_watermark(-1);
    if is_internal_topic(topic) {
        return base.with_error_code(error_map::refusal_code(Refusal::InvalidTopic));
    }
    let replica = match broker.replica(topic, wanted.partition_index) {
        Ok(replica) => replica,
        Err(e) => return base.with_error_code(error_map::partition_code(&e)),
    };
    match tokio::time::timeout_at(deadline, replica.delete_records(wanted.offset)).await {
        Ok(Ok(log_start)) => base.with_low_watermark(log_start.0),
        Ok(Err(e)) => base.with_error_code(error_map::partition_code(&e)),
        Err(_) => base.with_error_code(error_map::refusal_code(Refusal::RequestTimedOut)),
    }
}
