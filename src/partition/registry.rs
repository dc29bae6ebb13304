//! The replicas this broker hosts, by topic and partition, and where their files live; and
//! those assigned here that would not open, with why, so that partition alone answers an error.
//! The broker starts and stops them as the metadata says.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dashmap::DashMap;
use tokio::sync::watch;
use tokio::time::Instant;
use uuid::Uuid;

use super::leftovers::incarnation_name;
use super::{Error, Replica, ReplicaSpec, Shared, StorageError};
use crate::raft::{NodeId, RaftNodeOptions};
use crate::storage::DiskSpace;
use crate::types::KafkaOffset;

/// Where a replica's files live: `<data dir>/<topic>-<partition>.<topic id>` for a topic's
/// partition (see `leftovers.rs`), `<data dir>/<name>-<partition>` for an internal log without
/// incarnations (the metadata log).
pub fn partition_dir(
    data_dir: &Path,
    topic: &str,
    partition: i32,
    topic_id: Option<Uuid>,
) -> PathBuf {
    data_dir.join(raft_name(topic, partition, topic_id))
}

/// The directory name, which is also the Raft instance's name on the transport: a message for an
/// earlier incarnation of the partition names a group no broker serves any more.
pub fn raft_name(topic: &str, partition: i32, topic_id: Option<Uuid>) -> String {
    match topic_id {
        Some(id) => incarnation_name(topic, partition, id),
        None => format!("{topic}-{partition}"),
    }
}

/// A replica assigned here that would not open.
#[derive(Debug, Clone)]
struct Failed {
    dir: PathBuf,
    error: Error,
}

#[derive(Debug)]
pub struct Partitions {
    data_dir: PathBuf,
    /// How the groups of this broker reach their peers.
    options: RaftNodeOptions,
    replicas: DashMap<(String, i32), Arc<Replica>>,
    /// Replicas whose last start failed, answered with their error until one succeeds.
    failed: DashMap<(String, i32), Failed>,
    /// Free space of the data directory's file system, shared by every replica.
    space: Arc<DiskSpace>,
    /// The metadata offset up to which the hosted replicas match the metadata (started,
    /// deleted, configured), for requests that answer only once their change took effect here.
    reconciled: watch::Sender<KafkaOffset>,
}

impl Partitions {
    pub fn new(data_dir: PathBuf, options: RaftNodeOptions, space: Arc<DiskSpace>) -> Self {
        Partitions {
            data_dir,
            options,
            space,
            replicas: DashMap::new(),
            failed: DashMap::new(),
            reconciled: watch::Sender::new(KafkaOffset(0)),
        }
    }

    /// Records that the replicas match the metadata applied up to (not including) `next_offset`.
    pub fn mark_reconciled(&self, next_offset: KafkaOffset) {
        self.reconciled.send_if_modified(|done| {
            let advanced = next_offset > *done;
            *done = (*done).max(next_offset);
            advanced
        });
    }

    /// Waits until the replicas match the metadata up to `next_offset`, or `deadline` passes.
    pub async fn wait_reconciled(&self, next_offset: KafkaOffset, deadline: Instant) -> bool {
        let mut done = self.reconciled.subscribe();
        matches!(
            tokio::time::timeout_at(deadline, done.wait_for(|d| *d >= next_offset)).await,
            Ok(Ok(_))
        )
    }

    /// Transport and timing every replica started here runs with.
    pub fn raft_options(&self) -> &RaftNodeOptions {
        &self.options
    }

    /// The other cluster nodes this broker has a live Raft connection to right now; `None`
    /// for a single node.
    pub fn reachable_peers(&self) -> Option<Vec<NodeId>> {
        self.options.transport.as_ref().map(|t| t.connected_peers())
    }

    /// Free space of the data directory's file system.
    pub fn space(&self) -> &Arc<DiskSpace> {
        &self.space
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The replica, cloned out at once (never hold a map reference across an await).
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<Replica>> {
        self.replicas
            .get(&(topic.to_string(), partition))
            .map(|r| Arc::clone(r.value()))
    }

    pub fn contains(&self, topic: &str, partition: i32) -> bool {
        self.replicas.contains_key(&(topic.to_string(), partition))
    }

    /// Why the replica assigned here is not running, if its last start failed: every request
    /// for it is answered with this until a start succeeds.
    pub fn failure(&self, topic: &str, partition: i32) -> Option<Error> {
        self.failed
            .get(&(topic.to_string(), partition))
            .map(|f| f.error.clone())
    }

    /// The replicas whose last start failed.
    pub fn failed_keys(&self) -> Vec<(String, i32)> {
        self.failed.iter().map(|e| e.key().clone()).collect()
    }

    /// Forgets the failure of a replica no longer assigned here (its files stay until the
    /// topic is deleted or the broker restarts).
    pub fn forget_failure(&self, topic: &str, partition: i32) {
        self.failed.remove(&(topic.to_string(), partition));
    }

    /// Starts the replica unless it runs already. A failure is kept (see
    /// [`Partitions::failure`]) and returned; it concerns this replica only.
    pub async fn start(&self, spec: ReplicaSpec) -> Result<Arc<Replica>, Error> {
        if let Some(running) = self.get(&spec.topic, spec.partition) {
            return Ok(running);
        }
        let key = (spec.topic.clone(), spec.partition);
        let dir = partition_dir(&self.data_dir, &spec.topic, spec.partition, spec.topic_id);
        let replica = match Replica::start(&dir, spec).await {
            Ok(replica) => Arc::new(replica.with_space(Arc::clone(&self.space))),
            Err(error) => {
                self.failed.insert(
                    key,
                    Failed {
                        dir,
                        error: error.clone(),
                    },
                );
                return Err(error);
            }
        };
        self.failed.remove(&key);
        let running = Arc::clone(self.replicas.entry(key).or_insert(replica).value());
        Ok(running)
    }

    /// Stops every replica of `topic` and deletes their files, those of replicas that would not
    /// open included.
    pub async fn delete_topic(&self, topic: &str) -> Result<(), Error> {
        let keys: Vec<_> = self
            .replicas
            .iter()
            .filter(|e| e.key().0 == topic)
            .map(|e| e.key().clone())
            .collect();
        for key in keys {
            if let Some((_, replica)) = self.replicas.remove(&key) {
                replica.shutdown().await;
                let dir = replica.dir().to_path_buf();
                drop(replica);
                remove_dir(&dir)?;
            }
        }
        let failed: Vec<_> = self
            .failed
            .iter()
            .filter(|e| e.key().0 == topic)
            .map(|e| e.key().clone())
            .collect();
        for key in failed {
            if let Some((_, failed)) = self.failed.remove(&key) {
                remove_dir(&failed.dir)?;
            }
        }
        Ok(())
    }

    pub fn all(&self) -> Vec<Arc<Replica>> {
        self.replicas
            .iter()
            .map(|e| Arc::clone(e.value()))
            .collect()
    }

    pub async fn shutdown_all(&self) {
        for replica in self.all() {
            replica.shutdown().await;
        }
    }
}

/// Removes a replica's directory (or whatever took its place, as a file can).
fn remove_dir(dir: &Path) -> Result<(), Error> {
    let removed = match std::fs::symlink_metadata(dir) {
        Ok(meta) if !meta.is_dir() => std::fs::remove_file(dir),
        _ => std::fs::remove_dir_all(dir),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::storage(StorageError::Remove {
            path: dir.to_path_buf(),
            source: Shared::new(source),
        })),
    }
}
