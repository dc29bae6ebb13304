//! Creating and deleting topics and growing them by partitions, one topic at a time: each is
//! checked, proposed and waited for on its own, so one refusal never fails the others.
//! `configs.rs` beside this changes their settings.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use super::{Admin, AdminError, AssignmentError, ConfigValues, START_WAIT, effect_wait, repeated};
use crate::metadata::topic_config::{self, DescribedConfig};
use crate::metadata::{Command, METADATA_TOPIC, MetadataState, NodeId, TopicMeta, state};
use crate::partition::partition_dir;

/// A topic as CreateTopics asks for it.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// `None` = `num.partitions`.
    pub partitions: Option<i32>,
    /// `None` = `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Replicas chosen by the client, as `(partition, broker ids)`; empty = spread by the broker.
    pub assignments: Vec<(i32, Vec<i32>)>,
    /// Settings as given; one without a value is refused.
    pub configs: ConfigValues,
}

/// A created (or, with `validate_only`, creatable) topic and its settings.
#[derive(Debug, Clone)]
pub struct CreatedTopic {
    pub topic: TopicMeta,
    pub configs: Vec<DescribedConfig>,
}

/// How DeleteTopics names a topic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TopicRef {
    Name(String),
    Id(Uuid),
    /// Both a name and an id, or neither.
    Malformed,
}

/// One topic's answer to DeleteTopics: the name and id it had, as far as known.
#[derive(Debug)]
pub struct DeletedTopic {
    pub name: Option<String>,
    pub id: Uuid,
    pub outcome: Result<(), AdminError>,
}

/// Partitions CreatePartitions asks to add to a topic.
#[derive(Debug, Clone)]
pub struct NewPartitions {
    pub name: String,
    /// The total partition count wanted.
    pub count: i32,
    /// Replicas of each new partition chosen by the client; `None` = spread by the broker.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// A topic to create, checked and resolved.
#[derive(Debug, Clone)]
struct TopicSpec {
    name: String,
    partitions: Option<i32>,
    replication_factor: Option<i16>,
    assignments: Option<Vec<Vec<NodeId>>>,
    configs: BTreeMap<String, String>,
}

impl Admin {
    /// Creates each topic on its own (checks only, with `validate_only`), waiting until its
    /// replicas run here; answers in request order.
    pub async fn create_topics(
        &self,
        topics: Vec<NewTopic>,
        validate_only: bool,
    ) -> Vec<Result<CreatedTopic, AdminError>> {
        let repeated = repeated(topics.iter().map(|t| t.name.clone()));
        let mut results = Vec::with_capacity(topics.len());
        for topic in topics {
            let name = topic.name.clone();
            let result = if repeated.contains(&name) {
                Err(AdminError::DuplicateTopic(name.clone()))
            } else {
                match spec(topic) {
                    Ok(spec) => self.create(spec, validate_only).await,
                    Err(e) => Err(e),
                }
            };
            if let Err(e) = &result {
                tracing::info!(topic = %name, error = %e, "topic not created");
            }
            results.push(result.map(|topic| CreatedTopic {
                configs: topic_config::describe(&topic.configs, &self.defaults),
                topic,
            }));
        }
        results
    }

    /// Creates `name` with the broker defaults if auto-creation is on and the name is valid;
    /// `Ok(None)` when it is not created that way.
    pub async fn auto_create(&self, name: &str) -> Result<Option<TopicMeta>, AdminError> {
        if !self.settings.auto_create_topics || state::validate_topic_name(name).is_err() {
            return Ok(None);
        }
        let spec = TopicSpec {
            name: name.to_string(),
            partitions: None,
            replication_factor: None,
            assignments: None,
            configs: BTreeMap::new(),
        };
        match self.create(spec, false).await {
            Ok(topic) => Ok(Some(topic)),
            // Another request created it meanwhile.
            Err(e) if e.is_topic_exists() => Ok(self.state().topics.get(name).cloned()),
            Err(e) => Err(e),
        }
    }

    /// Creates an internal topic unless it exists: `partitions` partitions of at most
    /// `max_replication` replicas (fewer on a smaller cluster), with `configs`.
    pub async fn ensure_internal_topic(
        &self,
        name: &str,
        partitions: u32,
        max_replication: usize,
        configs: BTreeMap<String, String>,
    ) -> Result<(), AdminError> {
        let state = self.state();
        if state.topics.contains_key(name) {
            return Ok(());
        }
        let replication = max_replication.min(state.brokers.len().max(1));
        let spec = TopicSpec {
            name: name.to_string(),
            partitions: Some(partitions as i32),
            replication_factor: Some(replication as i16),
            assignments: None,
            configs,
        };
        match self.create(spec, false).await {
            Err(e) if !e.is_topic_exists() => Err(e),
            _ => Ok(()),
        }
    }

    /// Validates and (unless `validate_only`) creates a topic, waiting until its replicas run
    /// here. Returns the topic as the metadata then holds it.
    async fn create(&self, spec: TopicSpec, validate_only: bool) -> Result<TopicMeta, AdminError> {
        if spec.name == METADATA_TOPIC {
            return Err(AdminError::InternalTopic(spec.name));
        }
        let partitions = spec
            .partitions
            .unwrap_or(self.settings.num_partitions as i32);
        let rf = spec
            .replication_factor
            .unwrap_or(self.settings.default_replication_factor as i16);
        if partitions <= 0 {
            return Err(AdminError::NoPartitions(partitions));
        }
        let assignments = match spec.assignments {
            Some(chosen) => chosen,
            None => self
                .state()
                .assign(0, partitions as usize, rf.max(0) as usize)?,
        };
        let cmd = Command::CreateTopic {
            name: spec.name.clone(),
            id: Uuid::new_v4(),
            assignments,
            configs: spec.configs,
        };
        let started = Instant::now();
        let state = self.apply(&cmd, validate_only, START_WAIT).await?;
        let created = state
            .topics
            .get(&spec.name)
            .cloned()
            .ok_or(AdminError::Vanished)?;
        if !validate_only {
            self.wait_for_leaders(&created, started + START_WAIT).await;
        }
        Ok(created)
    }

    /// Deletes each topic on its own, answering once this broker's replicas of it are stopped
    /// and their directories gone; waits at most the client's `timeout_ms` for that.
    pub async fn delete_topics(&self, topics: Vec<TopicRef>, timeout_ms: i32) -> Vec<DeletedTopic> {
        let repeated = repeated(topics.iter().cloned());
        let wait = effect_wait(timeout_ms);
        let mut results = Vec::with_capacity(topics.len());
        for named in topics {
            let deleted = if repeated.contains(&named) {
                DeletedTopic {
                    name: known_name(&named),
                    id: known_id(&named),
                    outcome: Err(AdminError::DuplicateTopicRef),
                }
            } else {
                self.delete(&named, wait).await
            };
            if let Err(e) = &deleted.outcome {
                tracing::info!(topic = ?deleted.name, error = %e, "topic not deleted");
            }
            results.push(deleted);
        }
        results
    }

    async fn delete(&self, named: &TopicRef, wait: Duration) -> DeletedTopic {
        let state = self.state();
        let found = match named {
            TopicRef::Name(name) => state
                .topics
                .get(name)
                .ok_or_else(|| AdminError::UnknownTopic(name.clone())),
            TopicRef::Id(id) => state
                .topic_by_id(*id)
                .ok_or(AdminError::UnknownTopicId(*id)),
            TopicRef::Malformed => Err(AdminError::MalformedTopicRef),
        };
        let topic = match found {
            Ok(topic) => topic.clone(),
            Err(e) => {
                return DeletedTopic {
                    name: known_name(named),
                    id: known_id(named),
                    outcome: Err(e),
                };
            }
        };
        let cmd = Command::DeleteTopic {
            name: topic.name.clone(),
        };
        let mut outcome = self.apply(&cmd, false, wait).await.map(drop);
        if outcome.is_ok() {
            outcome = self.check_files_gone(&topic);
        }
        if outcome.is_ok() {
            tracing::info!(topic = %topic.name, id = %topic.id, "topic deleted");
        }
        DeletedTopic {
            name: Some(topic.name),
            id: topic.id,
            outcome,
        }
    }

    /// The reconciler logs a failed removal; the client hears of it here.
    fn check_files_gone(&self, topic: &TopicMeta) -> Result<(), AdminError> {
        let recreated = self
            .state()
            .topics
            .get(&topic.name)
            .is_some_and(|t| t.id != topic.id);
        if recreated {
            // Someone created the topic again meanwhile: its new files are not leftovers.
            return Ok(());
        }
        for p in 0..topic.partitions.len() as i32 {
            let dir = partition_dir(self.partitions.data_dir(), &topic.name, p);
            if self.partitions.contains(&topic.name, p) || dir.exists() {
                return Err(AdminError::FilesRemain(dir));
            }
        }
        Ok(())
    }

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
        let replication_factor = meta.partitions.first().map_or(1, Vec::len);
        let assignments = match &topic.assignments {
            Some(chosen) => check_assignments(&state, chosen, count - current, replication_factor)?,
            None => state.assign(current, count - current, replication_factor)?,
        };
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

fn known_name(n: &TopicRef) -> Option<String> {
    match n {
        TopicRef::Name(name) => Some(name.clone()),
        _ => None,
    }
}

fn known_id(n: &TopicRef) -> Uuid {
    match n {
        TopicRef::Id(id) => *id,
        _ => Uuid::nil(),
    }
}

/// A CreateTopics entry checked: every setting has a value, and chosen replicas (given instead
/// of counts) cover partitions `0..n` once each.
fn spec(topic: NewTopic) -> Result<TopicSpec, AdminError> {
    let mut configs = BTreeMap::new();
    for (name, value) in topic.configs {
        let value = value.ok_or_else(|| AdminError::ConfigWithoutValue(name.clone()))?;
        configs.insert(name, value);
    }
    let assignments = if topic.assignments.is_empty() {
        None
    } else {
        if topic.partitions.is_some() || topic.replication_factor.is_some() {
            return Err(AdminError::AssignmentsWithCounts);
        }
        let mut chosen = topic.assignments;
        chosen.sort_by_key(|(partition, _)| *partition);
        if chosen
            .iter()
            .enumerate()
            .any(|(i, (partition, _))| *partition != i as i32)
        {
            return Err(AssignmentError::Gaps.into());
        }
        Some(
            chosen
                .into_iter()
                .map(|(_, brokers)| brokers.into_iter().map(|b| b.max(0) as u64).collect())
                .collect(),
        )
    };
    Ok(TopicSpec {
        name: topic.name,
        partitions: topic.partitions,
        replication_factor: topic.replication_factor,
        assignments,
        configs,
    })
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

    #[test]
    fn create_topics_entries_are_checked_before_anything_is_proposed() {
        let new = |partitions: Option<i32>, assignments: Vec<(i32, Vec<i32>)>| NewTopic {
            name: "t".into(),
            partitions,
            replication_factor: None,
            assignments,
            configs: vec![("retention.ms".into(), Some("1000".into()))],
        };
        let resolved = spec(new(None, vec![(1, vec![2]), (0, vec![1])])).expect("valid");
        assert_eq!(resolved.assignments, Some(vec![vec![1], vec![2]]));
        assert_eq!(resolved.configs["retention.ms"], "1000");
        assert!(matches!(
            spec(new(Some(2), vec![(0, vec![1])])),
            Err(AdminError::AssignmentsWithCounts)
        ));
        assert!(matches!(
            spec(new(None, vec![(0, vec![1]), (2, vec![1])])),
            Err(AdminError::Assignment(AssignmentError::Gaps))
        ));
        let mut no_value = new(None, Vec::new());
        no_value.configs.push(("segment.bytes".into(), None));
        assert!(matches!(
            spec(no_value),
            Err(AdminError::ConfigWithoutValue(name)) if name == "segment.bytes"
        ));
    }
}
