//! Produce v3-v11: each partition's batches are checked (framing, magic, CRC, size), prepared
//! under the topic's settings (record checks, LogAppendTime, recompression) and then appended
//! through its Raft instance; acks=-1 and acks=1 answer once the batches are committed
//! (on a Raft log the leader's own durable append is part of every commit), acks=0 answers
//! nothing. Every partition's outcome is independent of the others.

use std::time::Duration;

use futures::future::join_all;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use super::RequestContext;
use crate::group::OFFSETS_TOPIC;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::partition;
use crate::record::{BatchError, split_checked};

/// The log start offset field exists from v5.
fn has_log_start_offset(version: i16) -> bool {
    version >= 5
}

/// The per-record errors and the error message exist from v8.
fn has_record_errors(version: i16) -> bool {
    version >= 8
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: ProduceRequest,
) -> Option<ProduceResponse> {
    let broker = &ctx.broker;
    let acks = request.acks;
    let deadline = Instant::now() + Duration::from_millis(request.timeout_ms.max(0) as u64);
    for topic in &request.topic_data {
        let name = topic.name.0.to_string();
        // The offsets topic is never created by a produce: FindCoordinator makes it, with its
        // own settings.
        let known = name == OFFSETS_TOPIC
            || broker
                .services
                .metadata
                .current()
                .state
                .topics
                .contains_key(&name);
        if !known && let Err(e) = broker.services.admin.auto_create(&name).await {
            tracing::info!(topic = %name, error = %e, "auto-creation on produce failed");
        }
    }
    // Every partition's append starts on the first poll, in request order, before any of them
    // is awaited: a later request on the connection never overtakes this one on a partition
    // (an idempotent producer's batches must reach the log in the order it sent them).
    let responses = join_all(request.topic_data.into_iter().map(|topic| async move {
        let name = topic.name.0.to_string();
        let partitions =
            join_all(topic.partition_data.into_iter().map(|data| {
                produce_partition(broker, &name, acks, data, deadline, ctx.api_version)
            }))
            .await;
        TopicProduceResponse::default()
            .with_name(topic.name)
            .with_topic_id(topic.topic_id)
            .with_partition_responses(partitions)
    }))
    .await;
    if acks == 0 {
        return None;
    }
    Some(ProduceResponse::default().with_responses(responses))
}

async fn produce_partition(
    broker: &BrokerContext,
    topic: &str,
    acks: i16,
    data: PartitionProduceData,
    deadline: Instant,
    version: i16,
) -> PartitionProduceResponse {
    let base = PartitionProduceResponse::default()
        .with_index(data.index)
        .with_base_offset(-1)
        .with_log_append_time_ms(-1)
        .with_log_start_offset(-1);
    let fail = |code: i16| base.clone().with_error_code(code);
    // Committed offsets are written by coordinators only; a client record there could read
    // differently on replicas that load from a snapshot and ones that do not.
    if topic == OFFSETS_TOPIC {
        return fail(error_map::refusal_code(Refusal::InvalidTopic));
    }
    if !matches!(acks, -1..=1) {
        return fail(error_map::refusal_code(Refusal::InvalidRequiredAcks));
    }
    let replica = match broker.replica(topic, data.index) {
        Ok(replica) => replica,
        Err(e) => return fail(error_map::partition_code(&e)),
    };
    let records = data.records.unwrap_or_default();
    let batches = match split_checked(&records) {
        Ok(batches) => batches,
        Err(e) => {
            tracing::info!(topic, partition = data.index, error = %e, "refusing records");
            return refused(base, &e.into(), topic, data.index, version);
        }
    };
    let prepared = match replica.prepare(batches) {
        Ok(prepared) => prepared,
        Err(e) => return refused(base, &e, topic, data.index, version),
    };
    // Submitted in order: the first poll of each append hands its batch to Raft.
    let appends = join_all(prepared.batches.into_iter().map(|b| replica.append(b)));
    let results = match tokio::time::timeout_at(deadline, appends).await {
        Ok(results) => results,
        Err(_) => return fail(error_map::refusal_code(Refusal::RequestTimedOut)),
    };
    let mut first = None;
    for result in results {
        match result {
            Ok(appended) => {
                first.get_or_insert(appended);
            }
            Err(e) => return refused(base, &e, topic, data.index, version),
        }
    }
    let appended = |response: PartitionProduceResponse, appended: partition::Appended| {
        response
            .with_base_offset(appended.base_offset.0)
            .with_log_append_time_ms(prepared.log_append_time_ms.unwrap_or(-1))
    };
    match first {
        Some(first) if has_log_start_offset(version) => {
            appended(base, first).with_log_start_offset(first.log_start_offset.0)
        }
        Some(first) => appended(base, first),
        None => fail(error_map::partition_code(&partition::Error::CorruptBatch(
            BatchError::Empty,
        ))),
    }
}

/// The answer for a partition whose batches were refused: the error code and, from v8, the
/// records at fault with the message.
fn refused(
    base: PartitionProduceResponse,
    err: &partition::Error,
    topic: &str,
    partition: i32,
    version: i16,
) -> PartitionProduceResponse {
    let response = base.with_error_code(error_map::partition_code(err));
    match err {
        partition::Error::Rejected(rejected) => {
            tracing::debug!(topic, partition, error = %rejected, "records refused");
            if !has_record_errors(version) {
                return response;
            }
            let records = rejected.records.iter().map(|e| {
                BatchIndexAndErrorMessage::default()
                    .with_batch_index(e.batch_index)
                    .with_batch_index_error_message(Some(StrBytes::from_string(e.message.clone())))
            });
            response
                .with_record_errors(records.collect())
                .with_error_message(Some(StrBytes::from_string(rejected.to_string())))
        }
        partition::Error::CorruptBatch(e @ BatchError::Invalid(_))
            if has_record_errors(version) =>
        {
            response.with_error_message(Some(StrBytes::from_string(e.to_string())))
        }
        e => {
            tracing::debug!(topic, partition, error = %e, "append failed");
            response
        }
    }
}
