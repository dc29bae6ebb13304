//! The applied checkpoint (`raft_applied`): how far the state machine got, so a restart
//! re-applies only the entries after it. The snapshot cannot serve for that: it stands at the
//! retention boundary (`state_machine.rs` says why), which may be the whole retained log behind
//! last applied, and a log that never purges has no snapshot at all.
//!
//! It is a hint, like `raft_committed`: written without a sync at most once per
//! [`CHECKPOINT_INTERVAL`], and on open it is used only if the log still holds the entry it
//! names, with the same term and the same end offset. Otherwise the state machine starts from the
//! snapshot and openraft re-applies more of the log.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::types::{LogId, StoredMembership};
use crate::producer::ProducerTable;
use crate::storage::{LogReader, StateFile};
use crate::types::{KafkaOffset, LogIndex};

pub const APPLIED_FILE: &str = "raft_applied";

/// How often the checkpoint may be rewritten. A stale one only means a restart re-applies a
/// little more of the log.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);

/// What `raft_applied` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub last_applied: LogId,
    /// The offset the next record entry takes after `last_applied`.
    pub next_offset: KafkaOffset,
    /// The membership in effect at the snapshot current when this was written, then every
    /// membership entry applied after it up to `last_applied`.
    pub memberships: Vec<StoredMembership>,
    /// The idempotent producers' table at `last_applied`.
    #[serde(default)]
    pub producers: ProducerTable,
    /// The log start offset DeleteRecords set, at `last_applied`.
    #[serde(default)]
    pub deleted_below: KafkaOffset,
}

#[derive(Debug)]
pub struct CheckpointFile {
    file: Arc<StateFile>,
    stored_at: Option<Instant>,
}

impl CheckpointFile {
    pub fn new(file: StateFile) -> CheckpointFile {
        CheckpointFile {
            file: Arc::new(file),
            stored_at: None,
        }
    }

    /// The stored checkpoint if `log` agrees with it; `None` (with a warning for damage or
    /// disagreement) otherwise.
    pub fn load(&self, log: &LogReader) -> Option<Checkpoint> {
        let path = self.file.path().display();
        let checkpoint = match self.file.load() {
            Ok(None) => return None,
            Ok(Some(bytes)) => match serde_json::from_slice::<Checkpoint>(&bytes) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(%path, error = %e, "ignoring an undecodable applied checkpoint");
                    return None;
                }
            },
            Err(e) => {
                tracing::warn!(%path, error = %e, "ignoring an unreadable applied checkpoint");
                return None;
            }
        };
        let at = checkpoint.last_applied;
        let entry = match log.entry_at(LogIndex(at.index)) {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(%path, error = %e, "log unreadable at the applied checkpoint");
                None
            }
        };
        let agrees = entry.is_some_and(|e| {
            e.term.0 == at.leader_id.term && e.end_offset() == checkpoint.next_offset
        });
        if !agrees {
            tracing::info!(%path, last_applied = %at, "the log does not hold the applied checkpoint; starting from the snapshot");
            return None;
        }
        Some(checkpoint)
    }

    /// Whether a new checkpoint is due.
    pub fn due(&self) -> bool {
        self.stored_at
            .is_none_or(|at| at.elapsed() >= CHECKPOINT_INTERVAL)
    }

    /// Replaces the stored checkpoint (without a sync), on the blocking pool.
    pub async fn store(&mut self, checkpoint: &Checkpoint) -> io::Result<()> {
        let bytes = serde_json::to_vec(checkpoint).map_err(io::Error::other)?;
        let file = Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || Ok::<_, io::Error>(file.store_unsynced(&bytes)?))
            .await
            .map_err(|e| io::Error::other(format!("checkpoint task failed: {e}")))??;
        self.stored_at = Some(Instant::now());
        Ok(())
    }
}
