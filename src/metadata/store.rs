//! The replicated metadata: commands are records of the internal `__cluster_metadata`
//! partition, applied in log order by every broker (`crate::internal_log` runs the log), each new
//! state published as a [`MetadataView`]. The leader of that partition is the controller.
//! `state.rs` is the state machine.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::state::{Command, MetadataError, MetadataState};
use crate::internal_log::{self, AppliedState, InternalLog, LogOptions, Route, Step};
use crate::partition::{self, Replica};
use crate::types::KafkaOffset;

/// Name of the internal partition that holds the metadata log.
pub const METADATA_TOPIC: &str = "__cluster_metadata";

/// How long a proposal may take to reach the controller, and then to be applied here.
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The metadata as applied up to (not including) `next_offset`.
#[derive(Debug, Clone, Default)]
pub struct MetadataView {
    pub state: Arc<MetadataState>,
    pub next_offset: KafkaOffset,
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

impl From<internal_log::Error> for ProposeError {
    fn from(err: internal_log::Error) -> Self {
        match err {
            internal_log::Error::Partition(e) => ProposeError::Partition(e),
            internal_log::Error::NotApplied { within, .. } => ProposeError::Timeout(within),
        }
    }
}

/// The metadata log's state: the metadata, built from the log's very first record.
#[derive(Debug)]
struct Metadata {
    state: MetadataState,
    /// The log starts at 0. It is kept whole (no retention, no compaction); were its start ever
    /// gone, nothing could be rebuilt, and the state would stay unloaded.
    whole: bool,
}

impl AppliedState for Metadata {
    type Command = Command;
    type Outcome = Result<(), MetadataError>;
    type View = MetadataView;

    fn starting_at(log_start: KafkaOffset) -> Metadata {
        if log_start > KafkaOffset(0) {
            tracing::error!(
                %log_start,
                "the metadata log lost its first records; the metadata cannot be rebuilt"
            );
        }
        Metadata {
            state: MetadataState::default(),
            whole: log_start == KafkaOffset(0),
        }
    }

    fn is_loaded(&self) -> bool {
        self.whole
    }

    fn apply(&mut self, offset: KafkaOffset, _bytes: u64, cmd: Command) -> Step<Self::Outcome> {
        if !self.whole {
            return Step::Applied(Ok(()));
        }
        let outcome = self.state.apply(&cmd);
        if let Err(e) = &outcome {
            tracing::debug!(%offset, error = %e, "metadata command refused");
        }
        Step::Applied(outcome)
    }

    fn view(&self, next_offset: KafkaOffset) -> MetadataView {
        MetadataView {
            state: Arc::new(self.state.clone()),
            next_offset,
        }
    }
}

pub struct MetadataStore {
    log: InternalLog<Metadata>,
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataStore")
            .field("next_offset", &self.log.view().next_offset)
            .finish()
    }
}

impl MetadataStore {
    /// Replays the committed metadata log, then keeps applying what gets committed.
    pub async fn start(replica: Arc<Replica>) -> MetadataStore {
        let log = InternalLog::start(
            replica,
            LogOptions {
                name: "metadata",
                route: Route::ViaLeader,
                wait: PROPOSE_TIMEOUT,
            },
        );
        // Nothing may act on a partial state: the broker would take the files of a topic it has
        // not replayed yet for those of a deleted one.
        log.wait_replayed().await;
        MetadataStore { log }
    }

    pub fn current(&self) -> MetadataView {
        self.log.view()
    }

    pub fn subscribe(&self) -> watch::Receiver<MetadataView> {
        self.log.subscribe()
    }

    pub fn replica(&self) -> &Arc<Replica> {
        self.log.replica()
    }

    /// Appends `cmd` to the metadata log (through the controller when this broker is not it)
    /// and waits until it is applied here; its outcome is the same on every broker.
    pub async fn propose(&self, cmd: &Command) -> Result<(), ProposeError> {
        // No outcome: skipped as unreadable, or applied long ago; neither is a refusal.
        let outcome = self.log.propose(cmd).await?.unwrap_or(Ok(()));
        Ok(outcome?)
    }

    pub async fn shutdown(&self) {
        self.log.stop();
        self.log.replica().shutdown().await;
    }
}
