//! Keeps the hosted replicas in line with the replicated metadata: starts those assigned here,
//! deletes those whose topic is gone (or was recreated under a new id), hands each running one
//! its topic's settings, and at start-up tidies the data directory (partitions deleted while
//! this broker was down, directories of the earlier layout). A replica that will not open is
//! logged once and tried again after a bounded backoff, or at once when its assignment changes,
//! while every other one serves. `broker.rs` builds one and runs it for as long as the broker
//! serves.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use uuid::Uuid;

use crate::metadata::topic_config;
use crate::metadata::{METADATA_TOPIC, MetadataState, MetadataStore, NodeId, TopicDefaults};
use crate::partition::{self, Partitions, ReplicaSpec, leftovers};

/// First and longest pause before opening a failed replica again.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A replica assigned here whose start failed, and when to try again.
#[derive(Debug)]
struct Retry {
    /// What it was started as: a change of either is retried at once.
    topic_id: Uuid,
    replicas: Vec<NodeId>,
    attempts: u32,
    at: Instant,
    /// The last failure as logged, so a retry failing the same way logs nothing new.
    error: String,
}

#[derive(Debug)]
pub(super) struct Reconciler {
    metadata: Arc<MetadataStore>,
    partitions: Arc<Partitions>,
    node_id: NodeId,
    /// Every cluster member with its Raft address: the voters a partition group may have.
    members: BTreeMap<NodeId, String>,
    defaults: TopicDefaults,
    /// Topic ids this broker has replicas of.
    hosted: HashMap<String, Uuid>,
    retries: HashMap<(String, i32), Retry>,
}

impl Reconciler {
    pub(super) fn new(
        metadata: Arc<MetadataStore>,
        partitions: Arc<Partitions>,
        node_id: NodeId,
        members: BTreeMap<NodeId, String>,
        defaults: TopicDefaults,
    ) -> Self {
        Reconciler {
            metadata,
            partitions,
            node_id,
            members,
            defaults,
            hosted: HashMap::new(),
            retries: HashMap::new(),
        }
    }

    /// Reconciles after every metadata change, and when a failed replica is due to be tried
    /// again, until the metadata stops.
    pub(super) async fn run(mut self) {
        let mut changes = self.metadata.subscribe();
        loop {
            let retry_at = self.retries.values().map(|r| r.at).min();
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                () = sleep_until(retry_at) => {}
            }
            self.run_once().await;
        }
    }

    pub(super) async fn run_once(&mut self) {
        let view = self.metadata.current();
        let state = view.state;
        let gone: Vec<String> = self
            .hosted
            .iter()
            .filter(|(name, id)| state.topics.get(*name).is_none_or(|t| t.id != **id))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Err(e) = self.partitions.delete_topic(&name).await {
                tracing::error!(topic = %name, error = %e, "deleting a topic's replicas");
            }
            self.hosted.remove(&name);
        }
        self.start_assigned(&state).await;
        for (name, topic) in &state.topics {
            self.hosted.insert(name.clone(), topic.id);
        }
        self.partitions.mark_reconciled(view.next_offset);
    }

    /// The partitions assigned to this node, with their topic's id.
    fn wanted(&self, state: &MetadataState) -> HashMap<(String, i32), Uuid> {
        state
            .topics
            .values()
            .flat_map(|topic| {
                topic
                    .partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, replicas)| replicas.contains(&self.node_id))
                    .map(|(p, _)| ((topic.name.clone(), p as i32), topic.id))
            })
            .collect()
    }

    /// Removes the directories of partitions deleted (or moved away) while this broker was
    /// down and renames those of the earlier layout; run before any replica starts.
    pub(super) fn tidy_data_dir(&self, data_dir: &Path) -> Result<(), partition::Error> {
        let wanted = self.wanted(&self.metadata.current().state);
        let done = leftovers::tidy(data_dir, &wanted, METADATA_TOPIC)?;
        if !done.removed.is_empty() || !done.renamed.is_empty() {
            tracing::info!(
                removed = done.removed.len(),
                renamed = done.renamed.len(),
                "tidied the data directory"
            );
        }
        Ok(())
    }

    /// Starts every replica of `state` assigned to this node that is not running yet (unless
    /// it failed and is not due again), and hands each running one its current settings.
    async fn start_assigned(&mut self, state: &MetadataState) {
        let mut assigned = HashSet::new();
        for (name, topic) in &state.topics {
            let config = topic_config::effective(&topic.configs, &self.defaults);
            for (p, replicas) in topic.partitions.iter().enumerate() {
                if !replicas.contains(&self.node_id) {
                    continue;
                }
                let p = p as i32;
                let key = (name.clone(), p);
                assigned.insert(key.clone());
                if let Some(replica) = self.partitions.get(name, p) {
                    replica.set_config(config.clone());
                    continue;
                }
                let waiting = self.retries.get(&key).is_some_and(|r| {
                    r.topic_id == topic.id && r.replicas == *replicas && Instant::now() < r.at
                });
                if waiting {
                    continue;
                }
                let spec = ReplicaSpec {
                    topic: name.clone(),
                    partition: p,
                    topic_id: Some(topic.id),
                    node_id: self.node_id,
                    members: self.voters(replicas),
                    preferred_leader: replicas.first().copied(),
                    config: config.clone(),
                    options: self.partitions.raft_options().clone(),
                };
                match self.partitions.start(spec).await {
                    Ok(replica) => {
                        if let Some(retry) = self.retries.remove(&key) {
                            tracing::info!(topic = %name, partition = p, attempts = retry.attempts + 1, "partition replica opened");
                        }
                        // Kafka's record of the topic id beside the partition's files.
                        if let Err(e) = leftovers::write_topic_id(replica.dir(), topic.id) {
                            tracing::warn!(topic = %name, partition = p, error = %e, "recording the topic id");
                        }
                    }
                    Err(e) => self.failed(key, topic.id, replicas, &e),
                }
            }
        }
        self.retries.retain(|key, _| assigned.contains(key));
        for (topic, partition) in self.partitions.failed_keys() {
            if !assigned.contains(&(topic.clone(), partition)) {
                self.partitions.forget_failure(&topic, partition);
            }
        }
    }

    /// Schedules the next attempt to open a replica that failed; logs the failure unless the
    /// previous attempt failed the same way.
    fn failed(
        &mut self,
        key: (String, i32),
        topic_id: Uuid,
        replicas: &[NodeId],
        e: &partition::Error,
    ) {
        let error = e.to_string();
        let (topic, partition) = (&key.0, key.1);
        let attempts = match self.retries.get(&key) {
            Some(r) if r.topic_id == topic_id => r.attempts + 1,
            _ => 1,
        };
        let pause = retry_pause(attempts);
        let repeated = self.retries.get(&key).is_some_and(|r| r.error == error);
        if repeated {
            tracing::debug!(topic = %topic, partition, attempts, error = %error, "partition replica still does not open");
        } else {
            tracing::error!(
                topic = %topic,
                partition,
                error = %error,
                retry_in_ms = pause.as_millis() as u64,
                "partition replica does not open; its requests are refused, the other partitions serve"
            );
        }
        self.retries.insert(
            key,
            Retry {
                topic_id,
                replicas: replicas.to_vec(),
                attempts,
                at: Instant::now() + pause,
                error,
            },
        );
    }

    /// Voters of a partition group: its replicas with their Raft addresses. A replica id that
    /// is not a cluster member has no address and is left out (and logged).
    fn voters(&self, replicas: &[NodeId]) -> BTreeMap<NodeId, String> {
        replicas
            .iter()
            .filter_map(|id| match self.members.get(id) {
                Some(addr) => Some((*id, addr.clone())),
                None => {
                    tracing::error!(node = id, "replica assigned to a node outside the cluster");
                    None
                }
            })
            .collect()
    }
}

/// The pause after the `attempts`-th failed start: doubling from [`RETRY_MIN`] up to
/// [`RETRY_MAX`].
fn retry_pause(attempts: u32) -> Duration {
    RETRY_MIN
        .saturating_mul(1 << attempts.saturating_sub(1).min(16))
        .min(RETRY_MAX)
}

/// Sleeps until `at`; forever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_bound() {
        let pauses: Vec<u64> = (1..=8).map(|a| retry_pause(a).as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(retry_pause(u32::MAX), RETRY_MAX);
    }
}
