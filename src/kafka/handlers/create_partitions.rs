//! CreatePartitions v0-v3: each topic grows on its own through the metadata log, to a count
//! larger than its current one, with replicas spread by the broker or chosen by the client;
//! `validate_only` runs the same checks without writing. Answered once the new replicas run here.

use std::collections::HashMap;
use std::time::Duration;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::kafka::context::BrokerContext;
use crate::kafka::error_map::{self, Refusal};
use crate::kafka::topics::{self, TopicError};
use crate::metadata::{Command, MetadataState, NodeId};

pub(crate) async fn handle(
    ctx: RequestContext,
    request: CreatePartitionsRequest,
) -> Option<CreatePartitionsResponse> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for topic in &request.topics {
        *seen.entry(&topic.name.0).or_default() += 1;
    }
    let wait = topics::effect_wait(request.timeout_ms);
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let outcome = if seen[&*topic.name.0] > 1 {
            Err(TopicError::new(
                error_map::refusal(Refusal::InvalidRequest),
                format!(
                    "topic '{}' appears more than once in the request",
                    &*topic.name.0
                ),
            ))
        } else {
            grow(&ctx.broker, topic, request.validate_only, wait).await
        };
        let mut result = CreatePartitionsTopicResult::default()
            .with_name(topic.name.clone())
            .with_error_message(None);
        match outcome {
            Ok(()) => {}
            Err(e) => {
                tracing::info!(topic = %&*topic.name.0, error = %e.message, "partitions not created");
                result.error_code = e.error.code();
                result.error_message = Some(StrBytes::from_string(e.message));
            }
        }
        results.push(result);
    }
    Some(CreatePartitionsResponse::default().with_results(results))
}

async fn grow(
    broker: &BrokerContext,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
    wait: Duration,
) -> Result<(), TopicError> {
    let name = topic.name.0.to_string();
    let state = broker.services.metadata.current().state;
    let meta = state.topics.get(&name).ok_or_else(|| {
        TopicError::new(
            error_map::refusal(Refusal::UnknownTopicOrPartition),
            format!("unknown topic '{name}'"),
        )
    })?;
    let current = meta.partitions.len();
    let count = usize::try_from(topic.count).unwrap_or(0);
    if count <= current {
        return Err(TopicError::new(
            error_map::refusal(Refusal::InvalidPartitions),
            format!(
                "topic '{name}' has {current} partitions; the new count ({}) must be larger",
                topic.count
            ),
        ));
    }
    let replication_factor = meta.partitions.first().map_or(1, Vec::len);
    let assignments = match &topic.assignments {
        Some(chosen) => {
            let chosen: Vec<Vec<i32>> = chosen
                .iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
                .collect();
            check_assignments(&state, &chosen, count - current, replication_factor)?
        }
        None => state
            .assign(current, count - current, replication_factor)
            .map_err(|e| TopicError::new(error_map::metadata_error(&e), e.to_string()))?,
    };
    let cmd = Command::CreatePartitions {
        name: name.clone(),
        assignments: assignments.clone(),
    };
    let started = tokio::time::Instant::now();
    let after = topics::apply(broker, &cmd, validate_only, wait).await?;
    if validate_only {
        return Ok(());
    }
    let node_id = broker.node_id();
    for (i, replicas) in assignments.iter().enumerate() {
        let partition = (current + i) as i32;
        if replicas.contains(&node_id) && !broker.services.partitions.contains(&name, partition) {
            return Err(TopicError::new(
                error_map::refusal(Refusal::StorageFailed),
                format!(
                    "the replica of {name}-{partition} did not start here (see the broker log)"
                ),
            ));
        }
    }
    if let Some(topic) = after.topics.get(&name) {
        topics::wait_for_leaders(broker, topic, started + wait).await;
    }
    tracing::info!(topic = %name, from = current, to = count, "partitions created");
    Ok(())
}

/// Replicas chosen by the client for `new` partitions: one list per new partition, each of
/// `replication_factor` distinct registered brokers (Kafka keeps a topic's factor uniform).
fn check_assignments(
    state: &MetadataState,
    chosen: &[Vec<i32>],
    new: usize,
    replication_factor: usize,
) -> Result<Vec<Vec<NodeId>>, TopicError> {
    let invalid = |message: String| {
        TopicError::new(
            error_map::refusal(Refusal::InvalidReplicaAssignment),
            message,
        )
    };
    if chosen.len() != new {
        return Err(invalid(format!(
            "{new} new partitions need {new} replica assignments, got {}",
            chosen.len()
        )));
    }
    let mut out = Vec::with_capacity(chosen.len());
    for (i, brokers) in chosen.iter().enumerate() {
        if brokers.len() != replication_factor {
            return Err(invalid(format!(
                "new partition {i} has {} replicas; the topic's replication factor is {replication_factor}",
                brokers.len()
            )));
        }
        let mut replicas = Vec::with_capacity(brokers.len());
        for b in brokers {
            let node = NodeId::try_from(*b)
                .ok()
                .filter(|n| state.brokers.contains_key(n))
                .ok_or_else(|| invalid(format!("broker {b} is not registered")))?;
            if replicas.contains(&node) {
                return Err(invalid(format!("new partition {i} names broker {b} twice")));
            }
            replicas.push(node);
        }
        out.push(replicas);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::BrokerInfo;

    #[test]
    fn chosen_assignments_are_checked() {
        let mut state = MetadataState::default();
        for node_id in 1..=3 {
            state
                .apply(&Command::RegisterBroker(BrokerInfo {
                    node_id,
                    host: "127.0.0.1".into(),
                    port: 9092,
                }))
                .expect("register");
        }
        assert_eq!(
            check_assignments(&state, &[vec![1, 2], vec![3, 1]], 2, 2).expect("valid"),
            vec![vec![1, 2], vec![3, 1]]
        );
        // (assignments, new partitions, replication factor)
        let bad: [(&[Vec<i32>], usize, usize); 5] = [
            (&[vec![1, 2]], 2, 2),  // too few lists
            (&[vec![1]], 1, 2),     // wrong replication factor
            (&[vec![1, 1]], 1, 2),  // a broker twice
            (&[vec![1, 9]], 1, 2),  // unknown broker
            (&[vec![-1, 2]], 1, 2), // negative id
        ];
        for (chosen, new, rf) in bad {
            let err = check_assignments(&state, chosen, new, rf).expect_err("refused");
            assert_eq!(
                err.error,
                error_map::refusal(Refusal::InvalidReplicaAssignment),
                "{chosen:?}"
            );
        }
    }
}
