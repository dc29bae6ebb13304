//! IncrementalAlterConfigs v0-v1: SET and DELETE single settings of a topic through the metadata
//! log, leaving the others as they are; `validate_only` checks without writing. APPEND and
//! SUBTRACT apply to list settings, of which raftka has none. Broker settings are static.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::RequestContext;
use crate::kafka::configs;
use crate::kafka::context::BrokerContext;
use crate::kafka::topics::TopicError;
use crate::metadata::Command;

/// Kafka's `AlterConfigOp.OpType` codes.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// One entry of a resource: key, operation, value.
type Op<'a> = (&'a str, i8, Option<&'a str>);

pub(crate) async fn handle(
    ctx: RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> Option<IncrementalAlterConfigsResponse> {
    let repeated = configs::repeated(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, &*r.resource_name)),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for r in &request.resources {
        let outcome = if repeated.contains(&(r.resource_type, &*r.resource_name)) {
            Err(configs::duplicate(r.resource_type, &r.resource_name))
        } else {
            alter(&ctx.broker, r, request.validate_only).await
        };
        let (code, message) = configs::outcome_fields(&r.resource_name, outcome);
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    Some(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

async fn alter(
    broker: &BrokerContext,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), TopicError> {
    let resource = configs::resource(broker, r.resource_type, &r.resource_name)?;
    let name = configs::alterable_topic(resource)?;
    let ops: Vec<Op> = r
        .configs
        .iter()
        .map(|c| (&*c.name, c.config_operation, c.value.as_deref()))
        .collect();
    let (set, remove) = changes(&ops)?;
    let cmd = Command::AlterTopicConfigs {
        name: name.clone(),
        set,
        remove,
    };
    configs::alter_topic(broker, &cmd, validate_only).await?;
    if !validate_only {
        tracing::info!(topic = %name, "topic configs altered");
    }
    Ok(())
}

/// `(key, operation, value)` entries -> keys to set and keys to drop. The metadata state checks
/// the keys and values themselves.
fn changes(ops: &[Op]) -> Result<(BTreeMap<String, String>, Vec<String>), TopicError> {
    let mut seen = HashSet::new();
    let mut set = BTreeMap::new();
    let mut remove = Vec::new();
    for &(name, op, value) in ops {
        if !seen.insert(name) {
            return Err(configs::invalid_request(format!(
                "config '{name}' appears more than once"
            )));
        }
        match op {
            SET => {
                let value = value.ok_or_else(|| {
                    configs::invalid_request(format!("SET of config '{name}' has a null value"))
                })?;
                set.insert(name.to_string(), value.to_string());
            }
            DELETE => remove.push(name.to_string()),
            APPEND | SUBTRACT => {
                return Err(configs::invalid_config(format!(
                    "config '{name}' is not a list: APPEND and SUBTRACT do not apply"
                )));
            }
            other => {
                return Err(configs::invalid_request(format!(
                    "unknown operation {other} on config '{name}'"
                )));
            }
        }
    }
    Ok((set, remove))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::error_map::{Refusal, refusal};

    #[test]
    fn operations_become_sets_and_removals() {
        let (set, remove) = changes(&[
            ("retention.ms", SET, Some("100")),
            ("segment.bytes", DELETE, None),
        ])
        .expect("valid");
        assert_eq!(set, BTreeMap::from([("retention.ms".into(), "100".into())]));
        assert_eq!(remove, vec!["segment.bytes".to_string()]);
        // (entries, expected refusal)
        let cases: [(&[Op], Refusal); 5] = [
            (
                &[("cleanup.policy", APPEND, Some("delete"))],
                Refusal::InvalidConfig,
            ),
            (
                &[("cleanup.policy", SUBTRACT, Some("delete"))],
                Refusal::InvalidConfig,
            ),
            (&[("retention.ms", SET, None)], Refusal::InvalidRequest),
            (&[("retention.ms", 7, Some("1"))], Refusal::InvalidRequest),
            (
                &[
                    ("retention.ms", SET, Some("1")),
                    ("retention.ms", DELETE, None),
                ],
                Refusal::InvalidRequest,
            ),
        ];
        for (ops, expected) in cases {
            let err = changes(ops).expect_err("refused");
            assert_eq!(err.error, refusal(expected), "{ops:?}");
            assert!(err.message.contains(ops[0].0), "{}", err.message);
        }
    }
}
