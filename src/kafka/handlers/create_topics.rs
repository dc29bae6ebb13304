//! CreateTopics v2-v7: each topic is validated and created through the metadata log on its
//! own; `validate_only` runs the same checks without writing. From v5 the answer carries the
//! new topic's partition count, replication factor and settings.

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::topics::{self, NewTopic, TopicError};
use crate::metadata::{ConfigSource, TopicMeta, topic_config};

/// From v5 a created topic is described back to the client.
fn describes_result(version: i16) -> bool {
    version >= 5
}

/// From v7 the answer carries the topic id.
fn has_topic_id(version: i16) -> bool {
    version >= 7
}

/// Kafka's DescribeConfigs source codes.
pub(crate) fn source_code(source: ConfigSource) -> i8 {
    match source {
        ConfigSource::Topic => 1,
        ConfigSource::Default => 5,
    }
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: CreateTopicsRequest,
) -> Option<CreateTopicsResponse> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for topic in &request.topics {
        *seen.entry(topic.name.0.to_string()).or_default() += 1;
    }
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.to_string();
        let result = if seen[&name] > 1 {
            Err(TopicError {
                error: ResponseError::InvalidRequest,
                message: format!("topic '{name}' appears more than once in the request"),
            })
        } else {
            create_one(&ctx.broker, topic, request.validate_only).await
        };
        results.push(answer(&ctx.broker, &name, result, ctx.api_version));
    }
    Some(CreateTopicsResponse::default().with_topics(results))
}

async fn create_one(
    broker: &BrokerContext,
    topic: CreatableTopic,
    validate_only: bool,
) -> Result<TopicMeta, TopicError> {
    let invalid = |error: ResponseError, message: String| TopicError { error, message };
    let mut configs = BTreeMap::new();
    for c in &topic.configs {
        let value = c.value.as_ref().ok_or_else(|| {
            invalid(
                ResponseError::InvalidConfig,
                format!("config '{}' has no value", &*c.name),
            )
        })?;
        configs.insert(c.name.to_string(), value.to_string());
    }
    let assignments = if topic.assignments.is_empty() {
        None
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(invalid(
                ResponseError::InvalidRequest,
                "give either replica assignments or partition count and replication factor".into(),
            ));
        }
        let mut chosen = topic.assignments.clone();
        chosen.sort_by_key(|a| a.partition_index);
        if chosen
            .iter()
            .enumerate()
            .any(|(i, a)| a.partition_index != i as i32)
        {
            return Err(invalid(
                ResponseError::InvalidReplicaAssignment,
                "replica assignments must cover partitions 0..n once each".into(),
            ));
        }
        Some(
            chosen
                .iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0.max(0) as u64).collect())
                .collect(),
        )
    };
    let new = NewTopic {
        name: topic.name.0.to_string(),
        partitions: (topic.num_partitions != -1).then_some(topic.num_partitions),
        replication_factor: (topic.replication_factor != -1).then_some(topic.replication_factor),
        assignments,
        configs,
    };
    topics::create(broker, new, validate_only).await
}

fn answer(
    broker: &BrokerContext,
    name: &str,
    result: Result<TopicMeta, TopicError>,
    version: i16,
) -> CreatableTopicResult {
    let base = CreatableTopicResult::default().with_name(kafka_protocol::messages::TopicName(
        StrBytes::from_string(name.to_string()),
    ));
    match result {
        Err(e) => {
            tracing::info!(topic = name, error = %e.message, "topic not created");
            base.with_error_code(e.error.code())
                .with_error_message(Some(StrBytes::from_string(e.message)))
        }
        Ok(meta) => {
            let mut created = base.with_error_message(None);
            if has_topic_id(version) {
                created.topic_id = meta.id;
            }
            if describes_result(version) {
                let configs =
                    topic_config::describe(&meta.configs, &broker.services.topic_defaults)
                        .into_iter()
                        .map(|c| {
                            CreatableTopicConfigs::default()
                                .with_name(StrBytes::from_static_str(c.name))
                                .with_value(Some(StrBytes::from_string(c.value)))
                                .with_config_source(source_code(c.source))
                        })
                        .collect();
                created = created
                    .with_num_partitions(meta.partitions.len() as i32)
                    .with_replication_factor(meta.partitions.first().map_or(0, |r| r.len() as i16))
                    .with_configs(Some(configs));
            }
            created
        }
    }
}
