//! The replicated metadata: commands are proposed as records of the internal
//! `__cluster_metadata` partition and every broker applies the committed ones in log order,
//! publishing each new state. The leader of that partition is the controller.
//! `state.rs` is the state machine; `crate::record` the record format.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::state::{Command, MetadataError, MetadataState};
use crate::partition::{self, Replica};
use crate::record::{decode_internal, encode_internal};

/// Name of the internal partition that holds the metadata log.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// How long a proposal may take to be committed and applied.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Outcomes of applied commands kept for their proposers, newest first.
const OUTCOMES_KEPT: usize = 4096;
/// How often the start-up replay looks again at a log end that a new leader may have cut.
const REPLAY_RECHECK: Duration = Duration::from_millis(100);
/// Bytes the applier reads per step.
const APPLY_READ_BYTES: usize = 1 << 20;

/// The metadata as applied up to (not including) `next_offset`.
#[derive(Debug, Clone, Default)]
pub struct MetadataView {
    pub state: Arc<MetadataState>,
    pub next_offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error(transparent)]
    Rejected(#[from] MetadataError),
    #[error("metadata log: {0}")]
    Partition(#[from] partition::Error),
    #[error("metadata change not applied within {0:?}")]
    Timeout(Duration),
}

pub struct MetadataStore {
    replica: Arc<Replica>,
    view: watch::Receiver<MetadataView>,
    outcomes: Arc<Mutex<BTreeMap<i64, Result<(), MetadataError>>>>,
    applier: JoinHandle<()>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore")
            .field("next_offset", &self.view.borrow().next_offset)
            .finish()
    }
}

impl MetadataStore {
    /// Replays the committed metadata log, then keeps applying what gets committed.
    pub async fn start(replica: Arc<Replica>) -> MetadataStore {
        let (tx, view) = watch::channel(MetadataView::default());
        let outcomes = Arc::new(Mutex::new(BTreeMap::new()));
        let applier = tokio::spawn(apply_loop(Arc::clone(&replica), tx, Arc::clone(&outcomes)));
        let store = MetadataStore {
            replica,
            view,
            outcomes,
            applier,
        };
        // Nothing may act on a partial state: the broker would take the files of a topic it has
        // not replayed yet for those of a deleted one. Everything in the local log up to its end
        // at start will be committed (a single node) or be cut by the leader (then the shorter
        // end is the goal), so wait for whichever comes first.
        let end_at_start = store.replica.log_end_offset();
        let mut view = store.view.clone();
        loop {
            let goal = end_at_start.min(store.replica.log_end_offset());
            if view.borrow().next_offset >= goal {
                break;
            }
            let _ = tokio::time::timeout(REPLAY_RECHECK, view.changed()).await;
        }
        store
    }

    pub fn current(&self) -> MetadataView {
        self.view.borrow().clone()
    }

    pub fn subscribe(&self) -> watch::Receiver<MetadataView> {
        self.view.clone()
    }

    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// Appends `cmd` to the metadata log (through the controller when this broker is not it)
    /// and waits until it is applied here; its outcome is the same on every broker.
    pub async fn propose(&self, cmd: &Command) -> Result<(), ProposeError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let appended = self
            .replica
            .append_via_leader(encode_internal(cmd, now), PROPOSE_TIMEOUT)
            .await?;
        let offset = appended.base_offset;
        let mut view = self.view.clone();
        tokio::time::timeout(PROPOSE_TIMEOUT, view.wait_for(|v| v.next_offset > offset))
            .await
            .map_err(|_| ProposeError::Timeout(PROPOSE_TIMEOUT))?
            .map_err(|_| partition::Error::Stopped("metadata applier stopped".into()))?;
        let outcome = self
            .outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&offset)
            .cloned()
            .unwrap_or(Ok(()));
        Ok(outcome?)
    }

    pub async fn shutdown(&self) {
        self.applier.abort();
        self.replica.shutdown().await;
    }
}

async fn apply_loop(
    replica: Arc<Replica>,
    tx: watch::Sender<MetadataView>,
    outcomes: Arc<Mutex<BTreeMap<i64, Result<(), MetadataError>>>>,
) {
    let mut state = MetadataState::default();
    let mut next = 0i64;
    loop {
        let read = match replica.read_committed(next, APPLY_READ_BYTES) {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(error = %e, offset = next, "metadata log unreadable; applier stops");
                return;
            }
        };
        if read.batches.is_empty() {
            let far = tokio::time::Instant::now() + Duration::from_secs(3600);
            replica.wait_for_data(next, far).await;
            continue;
        }
        for batch in &read.batches {
            let record = match decode_internal(batch) {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!(offset = next, error = %e, "metadata log holds a non-batch; applier stops");
                    return;
                }
            };
            let base = record.offset;
            let outcome = match record.command {
                Ok(cmd) => state.apply(&cmd),
                Err(e) => {
                    // Written by this code base only; a record we cannot read is skipped
                    // identically on every broker, and loudly.
                    tracing::error!(offset = base, error = %e, "skipping unreadable metadata record");
                    Ok(())
                }
            };
            if let Err(e) = &outcome {
                tracing::debug!(offset = base, error = %e, "metadata command refused");
            }
            let mut kept = outcomes.lock().unwrap_or_else(|e| e.into_inner());
            kept.insert(base, outcome);
            while kept.len() > OUTCOMES_KEPT {
                kept.pop_first();
            }
            next = base + 1;
        }
        tx.send_replace(MetadataView {
            state: Arc::new(state.clone()),
            next_offset: next,
        });
    }
}
