//! Creating topics: CreateTopics (each topic checked, proposed and waited for on its own, so one
//! refusal never fails the others), auto-creation on Metadata and Produce, and internal topics.
//! `delete.rs` and `partitions.rs` beside this delete and grow them.

use std::collections::BTreeMap;

use tokio::time::Instant;
use uuid::Uuid;

use super::{Admin, AdminError, AssignmentError, ConfigValues, START_WAIT, repeated};
use crate::metadata::topic_config::{self, DescribedConfig};
use crate::metadata::{Command, METADATA_TOPIC, NodeId, TopicMeta, state};

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
            } else if crate::metadata::is_internal_topic(&name) {
                // The broker creates its internal topics itself, with its own settings.
                Err(AdminError::InternalTopic(name.clone()))
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
        if !self.settings.auto_create_topics
            || state::validate_topic_name(name).is_err()
            || crate::metadata::is_internal_topic(name)
        {
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
        super::check_new_partitions(i64::from(partitions))?;
        let assignments = match spec.assignments {
            Some(chosen) => {
                super::check_new_partitions(chosen.len() as i64)?;
                chosen
            }
            None => self
                .state()
                .assign(0, partitions as usize, rf.max(0) as usize)?,
        };
        // Internal topics are created all the same: the space kept free is theirs.
        if !spec.name.starts_with("__") {
            self.ensure_space(&assignments)?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
