//! Keeps the hosted replicas in line with the replicated metadata: starts those assigned here,
//! deletes those whose topic is gone (or was recreated under a new id), hands each running one
//! its topic's settings, and at start-up removes the directories of partitions deleted while
//! this broker was down. `broker.rs` builds one and runs it for as long as the broker serves.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use uuid::Uuid;

use crate::metadata::topic_config;
use crate::metadata::{METADATA_TOPIC, MetadataState, MetadataStore, NodeId, TopicDefaults};
use crate::partition::{self, Partitions, ReplicaSpec, leftovers};

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
        }
    }

    /// Reconciles after every metadata change until the metadata stops.
    pub(super) async fn run(mut self) {
        let mut changes = self.metadata.subscribe();
        while changes.changed().await.is_ok() {
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
        if let Err(e) = self.start_assigned(&state).await {
            tracing::error!(error = %e, "starting assigned replicas");
        }
        for (name, topic) in &state.topics {
            self.hosted.insert(name.clone(), topic.id);
        }
        self.partitions.mark_reconciled(view.next_offset);
    }

    /// Removes the directories of partitions deleted (or moved away) while this broker was
    /// down; run before any replica starts.
    pub(super) fn remove_leftovers(&self, data_dir: &Path) -> Result<(), partition::Error> {
        let state = self.metadata.current().state;
        let wanted: HashMap<(String, i32), Uuid> = state
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
            .collect();
        let removed = leftovers::remove_leftovers(data_dir, &wanted, METADATA_TOPIC)?;
        if !removed.is_empty() {
            tracing::info!(
                count = removed.len(),
                "removed directories of deleted partitions"
            );
        }
        Ok(())
    }

    /// Starts every replica of `state` assigned to this node that is not running yet, and
    /// hands each running one its current settings.
    async fn start_assigned(&self, state: &MetadataState) -> Result<(), partition::Error> {
        for (name, topic) in &state.topics {
            let config = topic_config::effective(&topic.configs, &self.defaults);
            for (p, replicas) in topic.partitions.iter().enumerate() {
                if !replicas.contains(&self.node_id) {
                    continue;
                }
                let p = p as i32;
                match self.partitions.get(name, p) {
                    Some(replica) => replica.set_config(config.clone()),
                    None => {
                        let replica = self
                            .partitions
                            .start(ReplicaSpec {
                                topic: name.clone(),
                                partition: p,
                                node_id: self.node_id,
                                members: self.voters(replicas),
                                preferred_leader: replicas.first().copied(),
                                config: config.clone(),
                                options: self.partitions.group_options().clone(),
                            })
                            .await?;
                        // Lets a restart tell this topic's files from those of a recreated one.
                        if let Err(e) = leftovers::write_topic_id(replica.dir(), topic.id) {
                            tracing::warn!(topic = %name, partition = p, error = %e, "recording the topic id");
                        }
                    }
                }
            }
        }
        Ok(())
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
