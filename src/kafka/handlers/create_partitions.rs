//! CreatePartitions v0-v3: each topic grows on its own through the metadata log, to a count
//! larger than its current one, with replicas spread by the broker or chosen by the client;
//! `validate_only` runs the same checks without writing. Answered once the new replicas run
//! here. `metadata/admin/` does it.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::RequestContext;
use crate::kafka::configs;
use crate::metadata::admin::NewPartitions;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: CreatePartitionsRequest,
) -> Option<CreatePartitionsResponse> {
    let topics = request
        .topics
        .iter()
        .map(|t| NewPartitions {
            name: t.name.0.to_string(),
            count: t.count,
            assignments: t.assignments.as_ref().map(|chosen| {
                chosen
                    .iter()
                    .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                    .collect()
            }),
        })
        .collect();
    let outcomes = ctx
        .broker
        .services
        .admin
        .create_partitions(topics, request.validate_only, request.timeout_ms)
        .await;
    let results = request
        .topics
        .into_iter()
        .zip(outcomes)
        .map(|(topic, outcome)| {
            let (code, message) = configs::outcome_fields(&outcome);
            CreatePartitionsTopicResult::default()
                .with_name(topic.name)
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    Some(CreatePartitionsResponse::default().with_results(results))
}
