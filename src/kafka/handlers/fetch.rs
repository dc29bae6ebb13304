//! Fetch v4-v15: whole batches from each partition's fetch offset up to the high watermark,
//! bounded per partition and per response (always at least one batch), long-polled until
//! `min_bytes` are there or `max_wait_ms` passes, woken by the high watermark moving.
//! No fetch sessions: every answer carries session id 0, so clients send full requests.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::future::select_all;
use kafka_protocol::messages::fetch_request::FetchPartition;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};
use tokio::time::Instant;

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::types::KafkaOffset;

/// From v13 topics are named by id.
fn topics_by_id(version: i16) -> bool {
    version >= 13
}

/// The log start offset field exists from v5.
fn has_log_start_offset(version: i16) -> bool {
    version >= 5
}

/// The longest a Fetch long-polls, whatever `max_wait_ms` asks: as long as clients wait for
/// an answer by default (`request.timeout.ms`), so a poll never pins a connection for longer.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// One partition to read, resolved.
struct Wanted {
    topic: usize,
    partition: FetchPartition,
}

pub(crate) async fn handle(ctx: RequestContext, request: FetchRequest) -> Option<FetchResponse> {
    let broker = &ctx.broker;
    let by_id = topics_by_id(ctx.api_version);
    let view = broker.services.metadata.current();
    let mut names = Vec::with_capacity(request.topics.len());
    let mut wanted = Vec::new();
    for (t, topic) in request.topics.iter().enumerate() {
        let name = if by_id {
            view.state
                .topic_by_id(topic.topic_id)
                .map(|meta| meta.name.clone())
        } else {
            Some(topic.topic.0.to_string())
        };
        names.push(name);
        for partition in &topic.partitions {
            wanted.push(Wanted {
                topic: t,
                partition: partition.clone(),
            });
        }
    }
    let wait = Duration::from_millis(request.max_wait_ms.max(0) as u64).min(MAX_WAIT);
    let deadline = Instant::now() + wait;
    // The broker's fetch.max.bytes bounds every response, whatever the request asks.
    let broker_max = broker.config.fetch_max_bytes as usize;
    let max_bytes = match usize::try_from(request.max_bytes) {
        Ok(asked) if asked > 0 => asked.min(broker_max),
        _ => broker_max,
    };
    let min_bytes = request.min_bytes.max(0) as usize;
    let mut answers = read_all(broker, &names, &wanted, max_bytes);
    while !enough(&answers, min_bytes) && Instant::now() < deadline {
        if !wait_for_any(broker, &names, &wanted, deadline).await {
            break;
        }
        answers = read_all(broker, &names, &wanted, max_bytes);
    }

    let mut responses: Vec<FetchableTopicResponse> = request
        .topics
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
        })
        .collect();
    for (w, mut answer) in wanted.iter().zip(answers) {
        if !has_log_start_offset(ctx.api_version) {
            answer.data.log_start_offset = -1;
        }
        responses[w.topic].partitions.push(answer.data);
    }
    Some(
        FetchResponse::default()
            .with_session_id(0)
            .with_responses(responses),
    )
}

struct Answer {
    data: PartitionData,
    bytes: usize,
    failed: bool,
}

fn enough(answers: &[Answer], min_bytes: usize) -> bool {
    answers.iter().any(|a| a.failed)
        || answers.iter().map(|a| a.bytes).sum::<usize>() >= min_bytes.max(1)
}

fn read_all(
    broker: &BrokerContext,
    names: &[Option<String>],
    wanted: &[Wanted],
    max_bytes: usize,
) -> Vec<Answer> {
    let mut budget = max_bytes;
    let mut first = true;
    wanted
        .iter()
        .map(|w| {
            // Only the first partition with data may take a batch larger than the limits.
            let answer = read_partition(
                broker,
                names[w.topic].as_deref(),
                &w.partition,
                budget,
                first,
            );
            if answer.bytes > 0 {
                first = false;
                budget = budget.saturating_sub(answer.bytes);
            }
            answer
        })
        .collect()
}

fn read_partition(
    broker: &BrokerContext,
    topic: Option<&str>,
    wanted: &FetchPartition,
    response_budget: usize,
    first_with_data: bool,
) -> Answer {
    let base = PartitionData::default()
        .with_partition_index(wanted.partition)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_preferred_read_replica(kafka_protocol::messages::BrokerId(-1))
        .with_aborted_transactions(Some(Vec::new()));
    let fail = |code: i16| Answer {
        data: base.clone().with_error_code(code),
        bytes: 0,
        failed: true,
    };
    let Some(topic) = topic else {
        return fail(error_map::refusal_code(Refusal::UnknownTopicId));
    };
    let replica = match broker.replica(topic, wanted.partition) {
        Ok(replica) => replica,
        Err(e) => return fail(error_map::partition_code(&e)),
    };
    if let Err(e) = replica.check_leader_epoch(wanted.current_leader_epoch) {
        return fail(error_map::partition_code(&e));
    }
    let partition_max = if wanted.partition_max_bytes > 0 {
        wanted.partition_max_bytes as usize
    } else {
        usize::MAX
    };
    let limit = partition_max.min(response_budget);
    match replica.fetch(KafkaOffset(wanted.fetch_offset), limit, first_with_data) {
        Ok(read) => Answer {
            bytes: read.bytes,
            data: base
                .with_high_watermark(read.high_watermark.0)
                .with_last_stable_offset(read.high_watermark.0)
                .with_log_start_offset(read.log_start_offset.0)
                .with_records(Some(concat(read.batches))),
            failed: false,
        },
        Err(e) => {
            let mut answer = fail(error_map::partition_code(&e));
            if let crate::partition::Error::OffsetOutOfRange {
                log_start_offset,
                high_watermark,
                ..
            } = e
            {
                answer.data = answer
                    .data
                    .with_high_watermark(high_watermark.0)
                    .with_last_stable_offset(high_watermark.0)
                    .with_log_start_offset(log_start_offset.0);
            }
            answer
        }
    }
}

/// One buffer for the response: a single batch goes out as the slice of the mapping it is.
fn concat(batches: Vec<Bytes>) -> Bytes {
    match batches.len() {
        0 => Bytes::new(),
        1 => batches.into_iter().next().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(batches.iter().map(Bytes::len).sum());
            for b in &batches {
                out.extend_from_slice(b);
            }
            out.freeze()
        }
    }
}

/// Waits until some wanted partition's high watermark passes its fetch offset; false if none
/// can ever wake the wait (no such partitions here) or the deadline passed.
async fn wait_for_any(
    broker: &BrokerContext,
    names: &[Option<String>],
    wanted: &[Wanted],
    deadline: Instant,
) -> bool {
    let mut waits = Vec::new();
    for w in wanted {
        let Some(topic) = names[w.topic].as_deref() else {
            continue;
        };
        if let Some(replica) = broker.services.partitions.get(topic, w.partition.partition) {
            // Wake on data newer than what was just read, not on data already there but too
            // little for `min_bytes` (that would spin until the deadline).
            let offset = KafkaOffset(w.partition.fetch_offset).max(replica.high_watermark());
            waits.push(Box::pin(async move {
                replica.wait_for_data(offset, deadline).await
            }));
        }
    }
    if waits.is_empty() {
        tokio::time::sleep_until(deadline).await;
        return false;
    }
    select_all(waits).await;
    Instant::now() < deadline
}
