//! Topic administration behind the Kafka admin APIs: create and delete topics, add partitions,
//! describe and alter topic settings. Every change goes through the metadata log and is
//! answered once this broker's replicas reflect it; `validate_only` runs the same checks on a
//! copy of the state. `kafka/handlers/` decode the requests and encode these answers.

mod configs;
mod create;
mod delete;
mod describe;
mod error;
mod partitions;

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use configs::{ConfigOp, ConfigOps, ConfigResource, ConfigValues, ResourceKind};
pub use create::{CreatedTopic, NewTopic};
pub use delete::{DeletedTopic, TopicRef};
pub use describe::{ConfigEntry, Synonym};
pub use error::{AdminError, AssignmentError};
pub use partitions::NewPartitions;

use super::{
    Command, MetadataError, MetadataState, MetadataStore, NodeId, TopicDefaults, TopicMeta,
    topic_config,
};
use crate::config::BrokerSetting;
use crate::partition::{Partitions, Replica};

/// How long a change may take to take effect here (replicas started, stopped, reconfigured).
const START_WAIT: Duration = Duration::from_secs(30);

/// How often [`Admin::wait_for_leaders`] looks at the replicas.
const LEADER_POLL: Duration = Duration::from_millis(20);

/// The broker settings topic administration follows.
#[derive(Debug, Clone)]
pub struct AdminSettings {
    pub node_id: NodeId,
    /// `num.partitions`.
    pub num_partitions: u32,
    /// `default.replication.factor`.
    pub default_replication_factor: u16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics: bool,
}

#[derive(Debug)]
pub struct Admin {
    metadata: Arc<MetadataStore>,
    partitions: Arc<Partitions>,
    defaults: TopicDefaults,
    settings: AdminSettings,
    /// This broker's static settings, as DescribeConfigs reports them.
    broker_settings: Vec<BrokerSetting>,
}

impl Admin {
    pub fn new(
        metadata: Arc<MetadataStore>,
        partitions: Arc<Partitions>,
        defaults: TopicDefaults,
        settings: AdminSettings,
        broker_settings: Vec<BrokerSetting>,
    ) -> Self {
        Admin {
            metadata,
            partitions,
            defaults,
            settings,
            broker_settings,
        }
    }

    /// The broker-wide defaults every topic inherits.
    pub fn topic_defaults(&self) -> &TopicDefaults {
        &self.defaults
    }

    fn state(&self) -> Arc<MetadataState> {
        self.metadata.current().state
    }

    /// Refuses new partitions (`assignments`) whose replicas here would take free disk space
    /// below the floor: each reserves one preallocation step at once. The free space is read
    /// afresh, as it may have gone since the last look.
    fn ensure_space(&self, assignments: &[Vec<NodeId>]) -> Result<(), AdminError> {
        let hosted = assignments
            .iter()
            .filter(|replicas| replicas.contains(&self.settings.node_id))
            .count() as u64;
        let needed = hosted.saturating_mul(self.defaults.preallocate_step_bytes);
        let space = self.partitions.space();
        if let Err(e) = space.refresh() {
            tracing::warn!(error = %e, "cannot read the free disk space");
        }
        if space.is_low() || space.free_bytes() < space.floor_bytes().saturating_add(needed) {
            return Err(AdminError::DiskFull {
                free_bytes: space.free_bytes(),
                floor_bytes: space.floor_bytes(),
            });
        }
        Ok(())
    }

    /// With `validate_only`, runs `cmd` through the checks the metadata log would make, on a
    /// copy; otherwise proposes it and waits (up to `wait`) until this broker's replicas reflect
    /// it. Returns the metadata with the change.
    async fn apply(
        &self,
        cmd: &Command,
        validate_only: bool,
        wait: Duration,
    ) -> Result<Arc<MetadataState>, AdminError> {
        self.check_replicable(cmd)?;
        if validate_only {
            let mut scratch = (*self.state()).clone();
            scratch.apply(cmd)?;
            return Ok(Arc::new(scratch));
        }
        self.metadata.propose(cmd).await?;
        let after = self.metadata.current();
        let deadline = Instant::now() + wait;
        if !self
            .partitions
            .wait_reconciled(after.next_offset, deadline)
            .await
        {
            return Err(AdminError::NotInEffect(wait));
        }
        Ok(after.state)
    }

    /// Refuses a command that would leave a topic with settings its replicas cannot carry.
    fn check_replicable(&self, cmd: &Command) -> Result<(), AdminError> {
        let overrides = match cmd {
            Command::CreateTopic { configs, .. } | Command::ReplaceTopicConfigs { configs, .. } => {
                configs.clone()
            }
            Command::AlterTopicConfigs { name, set, remove } => {
                let mut configs = self
                    .state()
                    .topics
                    .get(name)
                    .map(|t| t.configs.clone())
                    .unwrap_or_default();
                for key in remove {
                    configs.remove(key);
                }
                configs.extend(set.iter().map(|(k, v)| (k.clone(), v.clone())));
                configs
            }
            _ => return Ok(()),
        };
        topic_config::check_replicable(&overrides, &self.defaults)
            .map_err(|e| AdminError::Refused(MetadataError::InvalidConfig(e)))
    }

    /// Waits (until `deadline` at most) for every replica of `topic` hosted here to know a
    /// leader, so a client that asks for Metadata right after the change finds them led. A
    /// group of several nodes elects within an election timeout once its members run.
    async fn wait_for_leaders(&self, topic: &TopicMeta, deadline: Instant) {
        let hosted: Vec<Arc<Replica>> = (0..topic.partitions.len() as i32)
            .filter_map(|p| self.partitions.get(&topic.name, p))
            .collect();
        while hosted.iter().any(|r| r.leader().leader.is_none()) {
            if Instant::now() + LEADER_POLL > deadline {
                tracing::info!(topic = %topic.name, "some partitions have no leader yet");
                return;
            }
            tokio::time::sleep(LEADER_POLL).await;
        }
    }
}

/// New partitions one CreateTopics or CreatePartitions entry may add: a count is checked
/// against this before anything is allocated for it, and the metadata record that assigns them
/// stays far below the metadata log's batch limit.
pub const MAX_NEW_PARTITIONS: usize = 10_000;

fn check_new_partitions(requested: i64) -> Result<(), AdminError> {
    if requested > MAX_NEW_PARTITIONS as i64 {
        return Err(AdminError::TooManyPartitions {
            requested,
            max: MAX_NEW_PARTITIONS,
        });
    }
    Ok(())
}

/// How long a request waits for its change to take effect here: the client's timeout when it
/// gives one, at most [`START_WAIT`].
fn effect_wait(timeout_ms: i32) -> Duration {
    match u64::try_from(timeout_ms) {
        Ok(ms) if ms > 0 => Duration::from_millis(ms).min(START_WAIT),
        _ => START_WAIT,
    }
}

/// The keys given more than once: Kafka refuses each such entry and serves the others.
fn repeated<K: Hash + Eq + Clone>(keys: impl IntoIterator<Item = K>) -> HashSet<K> {
    let mut seen: HashMap<K, usize> = HashMap::new();
    for key in keys {
        *seen.entry(key).or_default() += 1;
    }
    seen.into_iter()
        .filter(|(_, count)| *count > 1)
        .map(|(key, _)| key)
        .collect()
}
