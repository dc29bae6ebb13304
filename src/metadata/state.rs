//! The cluster's metadata as a pure state machine: brokers, topics with their ids, partition
//! replica assignments and config overrides. Commands are replicated through the metadata Raft
//! group and applied here in log order on every broker; the same log gives the same state.
//! `topic_config.rs` validates settings; the controller decides what commands to propose.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::topic_config::{self, ConfigError};
use crate::types::LeaderEpoch;

pub use crate::types::NodeId;

/// Longest topic name Kafka allows (its file names must stay within limits).
pub const MAX_TOPIC_NAME_CHARS: usize = 249;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerInfo {
    pub node_id: NodeId,
    /// Address clients use (the advertised listener).
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub name: String,
    pub id: Uuid,
    /// Replicas of each partition, by partition number; the first is the preferred leader.
    pub partitions: Vec<Vec<NodeId>>,
    /// Overrides of the broker defaults, validated.
    pub configs: BTreeMap<String, String>,
    /// What each partition's leader last recorded, by partition number (absent until then).
    /// Brokers that do not lead a partition answer Metadata with it.
    #[serde(default)]
    pub leaders: BTreeMap<i32, LeaderRecord>,
}

/// A partition's leader as recorded by itself: who, in which epoch (Raft term), with which
/// replicas in sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    pub leader: NodeId,
    pub epoch: LeaderEpoch,
    /// The in-sync replicas, leader first.
    pub isr: Vec<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    RegisterBroker(BrokerInfo),
    CreateTopic {
        name: String,
        id: Uuid,
        assignments: Vec<Vec<NodeId>>,
        configs: BTreeMap<String, String>,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        /// Replicas of each new partition, appended after the existing ones.
        assignments: Vec<Vec<NodeId>>,
    },
    AlterTopicConfigs {
        name: String,
        set: BTreeMap<String, String>,
        remove: Vec<String>,
    },
    /// Replaces every override of a topic (AlterConfigs): keys left out revert to the defaults.
    ReplaceTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// A partition leader reports itself; a record from an older epoch than the one held is
    /// ignored, so a deposed leader cannot overwrite its successor.
    RecordLeader {
        name: String,
        partition: i32,
        record: LeaderRecord,
    },
    /// Hands `broker` the next `count` producer ids (Kafka's AllocateProducerIds): the log
    /// orders every allocation, so no id is ever handed out twice cluster-wide.
    AllocateProducerIds {
        broker: NodeId,
        count: u32,
    },
}

/// Producer ids a broker may hand to idempotent producers: `first..first + count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerIdBlock {
    pub first: i64,
    pub count: u32,
}

/// Why a command was refused. Every broker refuses it identically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("topic '{0}' already exists")]
    TopicExists(String),
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    #[error("unknown topic '{topic}-{partition}'")]
    UnknownPartition { topic: String, partition: i32 },
    #[error("invalid topic name '{name}': {reason}")]
    InvalidTopicName { name: String, reason: &'static str },
    #[error("invalid partition count: a topic needs at least one partition")]
    NoPartitions,
    #[error("invalid partition count: topic '{topic}' already has {current} partitions")]
    NoNewPartitions { topic: String, current: usize },
    #[error("invalid replication factor: a partition needs at least one replica")]
    NoReplicas,
    #[error("invalid replication factor: replicas {0:?} repeat a broker")]
    RepeatedReplica(Vec<NodeId>),
    #[error("invalid replication factor: broker {0} is not registered")]
    UnregisteredBroker(NodeId),
    #[error(
        "invalid replication factor: replication factor {requested} with {brokers} live brokers"
    )]
    TooFewBrokers { requested: usize, brokers: usize },
    #[error("invalid replication factor: broker {broker} is not a replica of {topic}-{partition}")]
    NotAReplica {
        broker: NodeId,
        topic: String,
        partition: i32,
    },
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    #[error("no producer ids are left")]
    ProducerIdsExhausted,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataState {
    pub brokers: BTreeMap<NodeId, BrokerInfo>,
    pub topics: BTreeMap<String, TopicMeta>,
    /// Ids of every topic deleted so far: committed offsets recorded with one of them are
    /// dropped (a broker whose metadata lags never mistakes a new topic for a deleted one).
    #[serde(default)]
    pub deleted_topic_ids: BTreeSet<Uuid>,
    /// The first producer id not yet handed out.
    #[serde(default)]
    pub next_producer_id: i64,
    /// The block each broker was handed last.
    #[serde(default)]
    pub producer_id_blocks: BTreeMap<NodeId, ProducerIdBlock>,
}

impl MetadataState {
    /// Whether the topic `name`, as recorded with `id`, has been deleted: its id is among the
    /// deleted ones, or (recorded without an id) no topic has the name. Ids are only looked up
    /// among deletions, so a topic this state does not know yet is never taken for deleted.
    pub fn topic_deleted(&self, name: &str, id: Option<Uuid>) -> bool {
        match id {
            Some(id) => self.deleted_topic_ids.contains(&id),
            None => !self.topics.contains_key(name),
        }
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<&TopicMeta> {
        self.topics.values().find(|t| t.id == id)
    }

    /// Applies one replicated command. A refused command changes nothing.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), MetadataError> {
        match cmd {
            Command::RegisterBroker(info) => {
                self.brokers.insert(info.node_id, info.clone());
            }
            Command::CreateTopic {
                name,
                id,
                assignments,
                configs,
            } => {
                validate_topic_name(name)?;
                if self.topics.contains_key(name) {
                    return Err(MetadataError::TopicExists(name.clone()));
                }
                if assignments.is_empty() {
                    return Err(MetadataError::NoPartitions);
                }
                self.check_assignments(assignments)?;
                let configs = topic_config::validate_all(configs)?;
                self.topics.insert(
                    name.clone(),
                    TopicMeta {
                        name: name.clone(),
                        id: *id,
                        partitions: assignments.clone(),
                        configs,
                        leaders: BTreeMap::new(),
                    },
                );
            }
            Command::DeleteTopic { name } => {
                let deleted = self
                    .topics
                    .remove(name)
                    .ok_or_else(|| MetadataError::UnknownTopic(name.clone()))?;
                self.deleted_topic_ids.insert(deleted.id);
            }
            Command::CreatePartitions { name, assignments } => {
                self.check_assignments(assignments)?;
                let topic = self
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| MetadataError::UnknownTopic(name.clone()))?;
                if assignments.is_empty() {
                    return Err(MetadataError::NoNewPartitions {
                        topic: name.clone(),
                        current: topic.partitions.len(),
                    });
                }
                topic.partitions.extend(assignments.iter().cloned());
            }
            Command::AlterTopicConfigs { name, set, remove } => {
                let set = topic_config::validate_all(set)?;
                for key in remove {
                    if topic_config::lookup(key).is_none() {
                        return Err(ConfigError::Unknown(key.clone()).into());
                    }
                }
                let topic = self
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| MetadataError::UnknownTopic(name.clone()))?;
                for key in remove {
                    topic.configs.remove(key);
                }
                topic.configs.extend(set);
            }
            Command::ReplaceTopicConfigs { name, configs } => {
                let configs = topic_config::validate_all(configs)?;
                let topic = self
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| MetadataError::UnknownTopic(name.clone()))?;
                topic.configs = configs;
            }
            Command::RecordLeader {
                name,
                partition,
                record,
            } => {
                let topic = self
                    .topics
                    .get_mut(name)
                    .ok_or_else(|| MetadataError::UnknownTopic(name.clone()))?;
                let replicas = usize::try_from(*partition)
                    .ok()
                    .and_then(|p| topic.partitions.get(p))
                    .ok_or_else(|| MetadataError::UnknownPartition {
                        topic: name.clone(),
                        partition: *partition,
                    })?;
                if !replicas.contains(&record.leader) {
                    return Err(MetadataError::NotAReplica {
                        broker: record.leader,
                        topic: name.clone(),
                        partition: *partition,
                    });
                }
                let held = topic
                    .leaders
                    .get(partition)
                    .map_or(LeaderEpoch(0), |r| r.epoch);
                if record.epoch >= held {
                    topic.leaders.insert(*partition, record.clone());
                }
            }
            Command::AllocateProducerIds { broker, count } => {
                let first = self.next_producer_id;
                self.next_producer_id = first
                    .checked_add(i64::from(*count))
                    .ok_or(MetadataError::ProducerIdsExhausted)?;
                self.producer_id_blocks.insert(
                    *broker,
                    ProducerIdBlock {
                        first,
                        count: *count,
                    },
                );
            }
        }
        Ok(())
    }

    fn check_assignments(&self, assignments: &[Vec<NodeId>]) -> Result<(), MetadataError> {
        for replicas in assignments {
            if replicas.is_empty() {
                return Err(MetadataError::NoReplicas);
            }
            let mut sorted = replicas.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != replicas.len() {
                return Err(MetadataError::RepeatedReplica(replicas.clone()));
            }
            if let Some(unknown) = replicas.iter().find(|n| !self.brokers.contains_key(n)) {
                return Err(MetadataError::UnregisteredBroker(*unknown));
            }
        }
        Ok(())
    }

    /// Replicas for `count` new partitions starting at partition number `first`, spread
    /// round-robin so replicas and preferred leaders fall evenly on the brokers.
    pub fn assign(
        &self,
        first: usize,
        count: usize,
        replication_factor: usize,
    ) -> Result<Vec<Vec<NodeId>>, MetadataError> {
        let brokers: Vec<NodeId> = self.brokers.keys().copied().collect();
        if replication_factor == 0 || replication_factor > brokers.len() {
            return Err(MetadataError::TooFewBrokers {
                requested: replication_factor,
                brokers: brokers.len(),
            });
        }
        Ok((first..first + count)
            .map(|p| {
                (0..replication_factor)
                    .map(|i| brokers[(p + i) % brokers.len()])
                    .collect()
            })
            .collect())
    }
}

/// Kafka's rule: 1-249 characters of `[a-zA-Z0-9._-]`, and not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), MetadataError> {
    let invalid = |reason: &'static str| MetadataError::InvalidTopicName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are reserved"));
    }
    if name.chars().count() > MAX_TOPIC_NAME_CHARS {
        return Err(invalid("longer than 249 characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(invalid(
            "only ASCII letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
