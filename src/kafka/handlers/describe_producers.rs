//! DescribeProducers v0 (KIP-664): the idempotent producers each partition's leader has state
//! of, with their epoch and last sequence. No transactions are served, so none is open
//! (`current_txn_start_offset` -1) and no coordinator epoch is known (-1).

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};

use super::RequestContext;
use crate::kafka::error_map;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DescribeProducersRequest,
) -> Option<DescribeProducersResponse> {
    let topics = request
        .topics
        .into_iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|p| describe_partition(&ctx, &name, *p))
                .collect();
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions)
        })
        .collect();
    Some(DescribeProducersResponse::default().with_topics(topics))
}

fn describe_partition(ctx: &RequestContext, topic: &str, partition: i32) -> PartitionResponse {
    let base = PartitionResponse::default().with_partition_index(partition);
    let producers = ctx
        .broker
        .replica(topic, partition)
        .and_then(|replica| replica.producers());
    match producers {
        Ok(producers) => base.with_active_producers(
            producers
                .into_iter()
                .map(|p| {
                    ProducerState::default()
                        .with_producer_id(ProducerId(p.producer_id))
                        .with_producer_epoch(i32::from(p.epoch))
                        .with_last_sequence(p.last_sequence)
                        .with_last_timestamp(p.last_applied_ms)
                        .with_coordinator_epoch(-1)
                        .with_current_txn_start_offset(-1)
                })
                .collect(),
        ),
        Err(e) => base
            .with_error_code(error_map::partition_code(&e))
            .with_error_message(Some(e.to_string().into())),
    }
}
