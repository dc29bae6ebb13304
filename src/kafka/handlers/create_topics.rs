//! CreateTopics v2-v7: each topic is validated and created through the metadata log on its
//! own; `validate_only` runs the same checks without writing. From v5 the answer carries the
//! new topic's partition count, replication factor and settings. `metadata/admin/` does it.

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::RequestContext;
use crate::kafka::configs;
use crate::metadata::admin::{AdminError, CreatedTopic, NewTopic};

/// From v5 a created topic is described back to the client.
fn describes_result(version: i16) -> bool {
    version >= 5
}

/// From v7 the answer carries the topic id.
fn has_topic_id(version: i16) -> bool {
    version >= 7
}

/// Kafka's "broker default" for the partition count and the replication factor.
const DEFAULT: i32 = -1;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: CreateTopicsRequest,
) -> Option<CreateTopicsResponse> {
    let names: Vec<_> = request.topics.iter().map(|t| t.name.clone()).collect();
    let topics = request.topics.into_iter().map(new_topic).collect();
    let created = ctx
        .broker
        .services
        .admin
        .create_topics(topics, request.validate_only)
        .await;
    let results = names
        .into_iter()
        .zip(created)
        .map(|(name, result)| {
            let base = CreatableTopicResult::default().with_name(name);
            answer(base, result, ctx.api_version)
        })
        .collect();
    Some(CreateTopicsResponse::default().with_topics(results))
}

fn new_topic(topic: CreatableTopic) -> NewTopic {
    NewTopic {
        name: topic.name.0.to_string(),
        partitions: (topic.num_partitions != DEFAULT).then_some(topic.num_partitions),
        replication_factor: (i32::from(topic.replication_factor) != DEFAULT)
            .then_some(topic.replication_factor),
        assignments: topic
            .assignments
            .into_iter()
            .map(|a| {
                (
                    a.partition_index,
                    a.broker_ids.iter().map(|b| b.0).collect(),
                )
            })
            .collect(),
        configs: topic
            .configs
            .into_iter()
            .map(|c| (c.name.to_string(), c.value.map(|v| v.to_string())))
            .collect(),
    }
}

fn answer(
    base: CreatableTopicResult,
    result: Result<CreatedTopic, AdminError>,
    version: i16,
) -> CreatableTopicResult {
    let (code, message) = configs::outcome_fields(&result);
    let mut answer = base.with_error_code(code).with_error_message(message);
    let Ok(created) = result else {
        return answer;
    };
    if has_topic_id(version) {
        answer.topic_id = created.topic.id;
    }
    if describes_result(version) {
        let configs = created
            .configs
            .into_iter()
            .map(|c| {
                CreatableTopicConfigs::default()
                    .with_name(c.name.into())
                    .with_value(Some(c.value.into()))
                    .with_config_source(configs::source_code(c.source))
            })
            .collect();
        let partitions = &created.topic.partitions;
        answer = answer
            .with_num_partitions(partitions.len() as i32)
            .with_replication_factor(partitions.first().map_or(0, |r| r.len() as i16))
            .with_configs(Some(configs));
    }
    answer
}
