//! Growing topics: CreatePartitions, each topic to a larger count on its own, with replicas
//! spread by the broker or chosen by the client (and checked here).

use std::time::Duration;

use tokio::time::Instant;

use super::{Admin, AdminError, AssignmentError, effect_wait, repeated};
use crate::metadata::{Command, MetadataState, NodeId};

/// Partitions CreatePartitions asks to add to a topic.
#[derive(Debug, Clone)]
pub struct NewPartitions {
    pub name: String,
    /// The total partition count wanted.
    pub count: i32,
    /// Replicas of each new partition chosen by the client; `None` = spread by the broker.
    pub assignments: Option<Vec<Vec<i32>>>,
}

impl Admin {
    /// Grows each topic on its own to a larger partition count (checks only, with
    /// `validate_only`), answering once the new replicas run here; waits at most the client's
    /// `timeout_ms` for that.
    pub async fn create_partitions(
        &self,
        topics: Vec<NewPartitions>,
        validate_only: bool,
        timeout_ms: i32,
    ) -> Vec<Result<(), AdminError>> {
        let repeated = repeated(topics.iter().map(|t| t.name.clone()));
        let wait = effect_wait(timeout_ms);
        let mut results = Vec::with_capacity(topics.len());
        for topic in &topics {
            let outcome = if repeated.contains(&topic.name) {
                Err(AdminError::DuplicateTopic(topic.name.clone()))
            } else if crate::metadata::is_internal_topic(&topic.name) {
                // Groups are found in `__consumer_offsets` by hash mod its partition count.
                Err(AdminError::InternalTopic(topic.name.clone()))
            } else {
                self.grow(topic, validate_only, wait).await
            };
            if let Err(e) = &outcome {
                tracing::info!(topic = %topic.name, error = %e, "partitions not created");
            }
            results.push(outcome);
        }
        results
    }

    async fn grow(
        &self,
        topic: &NewPartitions,
        validate_only: bool,
        wait: Duration,
    ) -> Result<(), AdminError> {
        let name = &topic.name;
        let state = self.state();
        let meta = state
            .topics
            .get(name)
            .ok_or_else(|| AdminError::UnknownTopic(name.clone()))?;
        let current = meta.partitions.len();
        let count = usize::try_from(topic.count).unwrap_or(0);
        if count <= current {
            return Err(AdminError::FewerPartitions {
                name: name.clone(),
                current,
                requested: topic.count,
            });
        }
        super::check_new_partitions((count - current) as i64)?;
        let replication_factor = meta.partitions.first().map_or(1, Vec::len);
        let assignments = match &topic.assignments {
            Some(chosen) => check_assignments(&state, chosen, count - current, replication_factor)?,
            None => state.assign(current, count - current, replication_factor)?,
        };
        self.ensure_space(&assignments)?;
        let cmd = Command::CreatePartitions {
            name: name.clone(),
            assignments: assignments.clone(),
        };
        let started = Instant::now();
        let after = self.apply(&cmd, validate_only, wait).await?;
        if validate_only {
            return Ok(());
        }
        let node_id = self.settings.node_id;
        for (i, replicas) in assignments.iter().enumerate() {
            let partition = (current + i) as i32;
            if replicas.contains(&node_id) && !self.partitions.contains(name, partition) {
                return Err(AdminError::ReplicaNotStarted {
                    topic: name.clone(),
                    partition,
                });
            }
        }
        if let Some(topic) = after.topics.get(name) {
            self.wait_for_leaders(topic, started + wait).await;
        }
        tracing::info!(topic = %name, from = current, to = count, "partitions created");
        Ok(())
    }
}

/// Replicas chosen by the client for `new` partitions: one list per new partition, each of
/// `replication_factor` distinct registered brokers (Kafka keeps a topic's factor uniform).
fn check_assignments(
    state: &MetadataState,
    chosen: &[Vec<i32>],
    new: usize,
    replication_factor: usize,
) -> Result<Vec<Vec<NodeId>>, AssignmentError> {
    if chosen.len() != new {
        return Err(AssignmentError::Count {
            new,
            got: chosen.len(),
        });
    }
    let mut out = Vec::with_capacity(chosen.len());
    for (i, brokers) in chosen.iter().enumerate() {
        if brokers.len() != replication_factor {
            return Err(AssignmentError::ReplicationFactor {
                partition: i,
                replicas: brokers.len(),
                replication_factor,
            });
        }
        let mut replicas = Vec::with_capacity(brokers.len());
        for b in brokers {
            let node = NodeId::try_from(*b)
                .ok()
                .filter(|n| state.brokers.contains_key(n))
                .ok_or(AssignmentError::Unregistered(*b))?;
            if replicas.contains(&node) {
                return Err(AssignmentError::Repeated {
                    partition: i,
                    broker: *b,
                });
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
        // (assignments, new partitions, replication factor, refusal)
        let bad: [(&[Vec<i32>], usize, usize, AssignmentError); 5] = [
            (
                &[vec![1, 2]],
                2,
                2,
                AssignmentError::Count { new: 2, got: 1 },
            ),
            (
                &[vec![1]],
                1,
                2,
                AssignmentError::ReplicationFactor {
                    partition: 0,
                    replicas: 1,
                    replication_factor: 2,
                },
            ),
            (
                &[vec![1, 1]],
                1,
                2,
                AssignmentError::Repeated {
                    partition: 0,
                    broker: 1,
                },
            ),
            (&[vec![1, 9]], 1, 2, AssignmentError::Unregistered(9)),
            (&[vec![-1, 2]], 1, 2, AssignmentError::Unregistered(-1)),
        ];
        for (chosen, new, rf, refusal) in bad {
            let err = check_assignments(&state, chosen, new, rf).expect_err("refused");
            assert_eq!(err, refusal, "{chosen:?}");
        }
    }
}
