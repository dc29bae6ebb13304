//! Snapshots of a partition: metadata only (where the offsets stand), never record data, kept
//! in memory and in a durable `raft_snapshot` file so the current one survives a restart.
//! `state_machine.rs` decides where a snapshot stands (at the retention boundary: the last
//! purged entry) and when a snapshot becomes its state.

use std::io;
use std::sync::{Arc, Mutex};

use openraft::RaftSnapshotBuilder;
use serde::{Deserialize, Serialize};

use super::Error;
use super::offsets::SnapshotPoint;
use super::types::{SnapshotMeta, TypeConfig};
use crate::producer::ProducerTable;
use crate::storage::StateFile;
use crate::types::{KafkaOffset, LogIndex};

pub const SNAPSHOT_FILE: &str = "raft_snapshot";

/// The state a snapshot carries beyond openraft's metadata (its last log id and the membership
/// in effect there). New fields must get `#[serde(default)]` so older files still load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotData {
    /// The offset the first record after the snapshot takes: the high watermark it implies.
    pub next_offset: KafkaOffset,
    /// The log start offset a replica has once it installed the snapshot: `next_offset` for a
    /// snapshot at the retention boundary; a forced build records the builder's own.
    pub log_start_offset: KafkaOffset,
    /// The idempotent producers' table as of last applied when the snapshot was taken, which
    /// may be past its last entry (recording those entries again changes nothing).
    #[serde(default)]
    pub producers: ProducerTable,
    /// The log start offset DeleteRecords set, as of the same moment as `producers`.
    #[serde(default)]
    pub deleted_below: KafkaOffset,
}

pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;

/// What `raft_snapshot` holds.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    data: SnapshotData,
}

fn mark_point(point: &SnapshotPoint, snapshot: &Snapshot) {
    if let Some(last) = &snapshot.meta.last_log_id {
        point.set(LogIndex(last.index), snapshot.snapshot.next_offset);
    }
}

/// The current snapshot, in memory and on disk. Shared by the state machine and the builders
/// that openraft runs in tasks of their own.
#[derive(Debug)]
pub struct SnapshotStore {
    file: StateFile,
    current: Mutex<Option<Snapshot>>,
    /// Serializes file writes so an older snapshot never replaces a newer one on disk.
    writing: Mutex<()>,
    point: SnapshotPoint,
}

impl SnapshotStore {
    /// Loads the stored snapshot; a damaged file refuses the open (the log may already be
    /// purged up to it, so it cannot be rebuilt).
    pub fn open(file: StateFile, point: SnapshotPoint) -> Result<SnapshotStore, Error> {
        let bad = |reason: String| Error::BadSnapshot {
            path: file.path().to_path_buf(),
            reason,
        };
        let current = match file.load().map_err(|e| bad(e.to_string()))? {
            None => None,
            Some(bytes) => {
                let stored: SnapshotFile = serde_json::from_slice(&bytes)
                    .map_err(|e| bad(format!("does not decode: {e}")))?;
                let snapshot = Snapshot {
                    meta: stored.meta,
                    snapshot: stored.data,
                };
                mark_point(&point, &snapshot);
                Some(snapshot)
            }
        };
        Ok(SnapshotStore {
            file,
            current: Mutex::new(current),
            writing: Mutex::new(()),
            point,
        })
    }

    pub fn current(&self) -> Option<Snapshot> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Makes `snapshot` durable and current, unless a newer one already is. Blocking IO.
    fn save(&self, snapshot: &Snapshot) -> io::Result<()> {
        let _writing = self.writing.lock().unwrap_or_else(|e| e.into_inner());
        let newer_exists = self
            .current()
            .is_some_and(|c| c.meta.last_log_id > snapshot.meta.last_log_id);
        if newer_exists {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&SnapshotFile {
            meta: snapshot.meta.clone(),
            data: snapshot.snapshot.clone(),
        })
        .map_err(io::Error::other)?;
        self.file.store(&bytes)?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot.clone());
        mark_point(&self.point, snapshot);
        Ok(())
    }

    /// [`Self::save`] on the blocking pool.
    pub async fn save_async(self: &Arc<Self>, snapshot: Snapshot) -> io::Result<Snapshot> {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.save(&snapshot).map(|()| snapshot))
            .await
            .map_err(|e| io::Error::other(format!("snapshot task failed: {e}")))?
    }
}

/// A frozen view of the state machine, turned into a snapshot off the apply path.
pub struct SnapshotBuilder {
    pub(super) snapshot: Snapshot,
    pub(super) store: Arc<SnapshotStore>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        self.store.save_async(self.snapshot.clone()).await
    }
}
