//! DeleteTopics v1-v6: each topic is deleted through the metadata log on its own, and answered
//! once this broker's replicas of it are stopped and their directories gone (the reconciler in
//! `broker.rs` does the stopping). From v6 a topic may be named by id.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::kafka::topics::{self, TopicError};
use crate::metadata::Command;
use crate::partition::partition_dir;

/// From v6 topics come as name-or-id structs; before, as a list of names.
fn topics_as_states(version: i16) -> bool {
    version >= 6
}
fn has_error_message(version: i16) -> bool {
    version >= 5
}
fn has_topic_id(version: i16) -> bool {
    version >= 6
}

/// How the request names one topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Named {
    Name(String),
    Id(Uuid),
    /// Both or neither given.
    Malformed,
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DeleteTopicsRequest,
) -> Option<DeleteTopicsResponse> {
    let version = ctx.api_version;
    let named: Vec<Named> = if topics_as_states(version) {
        request
            .topics
            .iter()
            .map(|t| match (&t.name, t.topic_id.is_nil()) {
                (Some(name), true) => Named::Name(name.0.to_string()),
                (None, false) => Named::Id(t.topic_id),
                _ => Named::Malformed,
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| Named::Name(n.0.to_string()))
            .collect()
    };
    let mut seen: HashMap<&Named, usize> = HashMap::new();
    for n in &named {
        *seen.entry(n).or_default() += 1;
    }
    let wait = topics::effect_wait(request.timeout_ms);
    let mut results = Vec::with_capacity(named.len());
    for n in &named {
        let (name, id, outcome) = if seen[n] > 1 {
            let refused = TopicError::new(
                error_map::refusal(Refusal::InvalidRequest),
                "topic named more than once in the request",
            );
            (known_name(n), known_id(n), Err(refused))
        } else {
            delete_one(&ctx.broker, n, wait).await
        };
        results.push(answer(name, id, outcome, version));
    }
    Some(DeleteTopicsResponse::default().with_responses(results))
}

fn known_name(n: &Named) -> Option<String> {
    match n {
        Named::Name(name) => Some(name.clone()),
        _ => None,
    }
}

fn known_id(n: &Named) -> Uuid {
    match n {
        Named::Id(id) => *id,
        _ => Uuid::nil(),
    }
}

/// Deletes one topic; returns the name and id it had, with the outcome.
async fn delete_one(
    broker: &BrokerContext,
    named: &Named,
    wait: Duration,
) -> (Option<String>, Uuid, Result<(), TopicError>) {
    let state = broker.services.metadata.current().state;
    let topic = match named {
        Named::Name(name) => state.topics.get(name).ok_or_else(|| {
            TopicError::new(
                error_map::refusal(Refusal::UnknownTopicOrPartition),
                format!("unknown topic '{name}'"),
            )
        }),
        Named::Id(id) => state.topic_by_id(*id).ok_or_else(|| {
            TopicError::new(
                error_map::refusal(Refusal::UnknownTopicId),
                format!("no topic has id {id}"),
            )
        }),
        Named::Malformed => Err(TopicError::new(
            error_map::refusal(Refusal::InvalidRequest),
            "give either a topic name or a topic id",
        )),
    };
    let topic = match topic {
        Ok(topic) => topic.clone(),
        Err(e) => return (known_name(named), known_id(named), Err(e)),
    };
    let cmd = Command::DeleteTopic {
        name: topic.name.clone(),
    };
    let mut outcome = topics::apply(broker, &cmd, false, wait).await.map(drop);
    if outcome.is_ok() {
        outcome = check_files_gone(broker, &topic.name, topic.id, topic.partitions.len());
    }
    if outcome.is_ok() {
        tracing::info!(topic = %topic.name, id = %topic.id, "topic deleted");
    }
    (Some(topic.name), topic.id, outcome)
}

/// The reconciler logs a failed removal; the client hears of it here.
fn check_files_gone(
    broker: &BrokerContext,
    name: &str,
    id: Uuid,
    partitions: usize,
) -> Result<(), TopicError> {
    let recreated = broker
        .services
        .metadata
        .current()
        .state
        .topics
        .get(name)
        .is_some_and(|t| t.id != id);
    if recreated {
        // Someone created the topic again meanwhile: its new files are not leftovers.
        return Ok(());
    }
    let registry = &broker.services.partitions;
    for p in 0..partitions as i32 {
        let dir = partition_dir(registry.data_dir(), name, p);
        if registry.contains(name, p) || dir.exists() {
            return Err(TopicError::new(
                error_map::refusal(Refusal::StorageFailed),
                format!("{} could not be removed", dir.display()),
            ));
        }
    }
    Ok(())
}

fn answer(
    name: Option<String>,
    id: Uuid,
    outcome: Result<(), TopicError>,
    version: i16,
) -> DeletableTopicResult {
    let mut result = DeletableTopicResult::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_error_message(None);
    if has_topic_id(version) {
        result.topic_id = id;
    }
    if let Err(e) = outcome {
        tracing::info!(topic = ?result.name, error = %e.message, "topic not deleted");
        result.error_code = e.error.code();
        if has_error_message(version) {
            result.error_message = Some(StrBytes::from_string(e.message));
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_without_a_field_keep_its_default() {
        let refused = TopicError::new(
            error_map::refusal(Refusal::UnknownTopicOrPartition),
            "unknown",
        );
        for version in 1..=6 {
            let result = answer(
                Some("t".into()),
                Uuid::new_v4(),
                Err(refused.clone()),
                version,
            );
            let response = DeleteTopicsResponse::default().with_responses(vec![result]);
            let mut buf = bytes::BytesMut::new();
            kafka_protocol::protocol::Encodable::encode(&response, &mut buf, version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
