//! DeleteTopics v1-v6: each topic is deleted through the metadata log on its own, and answered
//! once this broker's replicas of it are stopped and their directories gone (`metadata/admin/`
//! does it). From v6 a topic may be named by id.

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::kafka::configs;
use crate::metadata::admin::{DeletedTopic, TopicRef};

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

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DeleteTopicsRequest,
) -> Option<DeleteTopicsResponse> {
    let version = ctx.api_version;
    let named: Vec<TopicRef> = if topics_as_states(version) {
        request
            .topics
            .iter()
            .map(|t| match (&t.name, t.topic_id.is_nil()) {
                (Some(name), true) => TopicRef::Name(name.0.to_string()),
                (None, false) => TopicRef::Id(t.topic_id),
                _ => TopicRef::Malformed,
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| TopicRef::Name(n.0.to_string()))
            .collect()
    };
    let deleted = ctx
        .broker
        .services
        .admin
        .delete_topics(named, request.timeout_ms)
        .await;
    let results = deleted.into_iter().map(|d| answer(d, version)).collect();
    Some(DeleteTopicsResponse::default().with_responses(results))
}

fn answer(deleted: DeletedTopic, version: i16) -> DeletableTopicResult {
    let (code, message) = configs::outcome_fields(&deleted.outcome);
    let mut result = DeletableTopicResult::default()
        .with_name(deleted.name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_error_code(code)
        .with_error_message(None);
    if has_topic_id(version) {
        result.topic_id = deleted.id;
    }
    if has_error_message(version) {
        result.error_message = message;
    }
    result
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::metadata::admin::AdminError;

    #[test]
    fn versions_without_a_field_keep_its_default() {
        for version in 1..=6 {
            let deleted = DeletedTopic {
                name: Some("t".into()),
                id: Uuid::new_v4(),
                outcome: Err(AdminError::UnknownTopic("t".into())),
            };
            let response =
                DeleteTopicsResponse::default().with_responses(vec![answer(deleted, version)]);
            let mut buf = bytes::BytesMut::new();
            kafka_protocol::protocol::Encodable::encode(&response, &mut buf, version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
