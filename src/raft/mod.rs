//! A partition's Raft instance on top of its segment log: the only module that imports openraft.
//! `storage/` holds the bytes; this module maps Raft entries, votes and snapshots onto them.
//!
//! ```text
//!  client_write(Request::Records(batch))
//!        │
//!  openraft core ──append──▶ LogStore (stamps offset + epoch) ──▶ storage::Log (segments)
//!        │                       └── flush ──▶ flusher pool thread ──▶ IOFlushed
//!        └──apply (entries read back through LogStoreReader)──▶ StateMachine
//!                                   high watermark (watch) ◀──┘  └──▶ Applied { base_offset }
//! ```
//!
//! One partition directory holds the segments plus `raft_vote`, `raft_committed`,
//! `raft_snapshot` and `raft_applied`; [`open`] opens them all and returns what `Raft::new` takes.
//!
//! Groups of one node use [`NoPeers`]; groups spanning nodes talk over the node's [`Transport`]
//! (`transport/`: one TCP connection per node pair carries every group's RPCs).

mod applied_view;
mod checkpoint;
mod codec;
mod compaction;
pub mod dump;
mod log_reader;
mod log_store;
mod network;
mod node;
mod node_error;
mod offsets;
mod progress;
mod snapshot;
mod state_machine;
mod timing;
pub mod transport;
mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

pub use applied_view::{DeletedBelow, SharedProducers};
pub use checkpoint::APPLIED_FILE;
pub use compaction::{Compacted, CompactionPolicy};
pub use log_reader::LogStoreReader;
pub use log_store::{COMMITTED_FILE, LogMaintenance, LogStore, VOTE_FILE};
pub use network::NoPeers;
pub use node::{Leadership, RaftNode, RaftNodeOptions, RaftNodeSpec, Submitted};
pub use node_error::{ForwardError, RaftFailure, RaftNodeError, StartError, WriteError};
pub use snapshot::{SNAPSHOT_FILE, Snapshot, SnapshotData};
pub use state_machine::StateMachine;
pub use timing::RaftTiming;
pub use transport::{Transport, TransportConfig};
pub use types::{Applied, Entry, LogId, NodeId, Raft, Request, TypeConfig, Vote};

use checkpoint::CheckpointFile;
use offsets::SnapshotPoint;
use snapshot::SnapshotStore;
use tokio::sync::watch;

use crate::storage::{self, LogConfig, StateFile};
use crate::types::KafkaOffset;

/// Why a partition's Raft storage would not open.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error(
        "vote file {path} is unreadable ({reason}); refusing to start: a node must never forget its vote"
    )]
    BadVote { path: PathBuf, reason: String },
    #[error("snapshot file {path} is unreadable ({reason}); refusing to start")]
    BadSnapshot { path: PathBuf, reason: String },
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        match err {
            Error::Storage(e) => e.into(),
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// Everything one partition replica needs to start its Raft instance.
pub struct PartitionStorage {
    pub log_store: LogStore,
    pub state_machine: StateMachine,
    /// Reads by log index and by offset; clone it freely.
    pub reader: LogStoreReader,
    /// The high watermark the state machine publishes.
    pub high_watermark: watch::Receiver<KafkaOffset>,
    /// Set on stop so an append waiting for disk space gives up.
    pub stopping: Arc<AtomicBool>,
    /// Time rolls and compaction of the log.
    pub maintenance: LogMaintenance,
}

/// Opens (creating if needed) the log, vote, committed hint and snapshot in `dir`. The state
/// files are checked before the log is opened, so a refused open changes nothing.
pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<PartitionStorage, Error> {
    let dir = dir.as_ref();
    let point = SnapshotPoint::default();
    let snapshots = SnapshotStore::open(StateFile::new(dir.join(SNAPSHOT_FILE)), point.clone())?;
    let log_store = LogStore::open(dir, config, point)?;
    let checkpoint = CheckpointFile::new(StateFile::new(dir.join(APPLIED_FILE)));
    let state_machine = StateMachine::new(
        log_store.reader().log().clone(),
        Arc::new(snapshots),
        checkpoint,
    );
    Ok(PartitionStorage {
        reader: log_store.reader(),
        high_watermark: state_machine.high_watermark(),
        stopping: log_store.stop_signal(),
        maintenance: log_store.maintenance(),
        log_store,
        state_machine,
    })
}

/// openraft settings for a partition group. The log is the partition's data, so openraft never
/// purges it after a snapshot on its own: retention does, through `raft.trigger().purge_log(..)`.
/// Snapshots stand at the retention boundary only (`state_machine.rs` says why), so openraft's
/// size-based policy is off; retention asks for each snapshot it needs.
pub fn partition_raft_config(cluster_name: &str) -> openraft::Config {
    openraft::Config {
        cluster_name: cluster_name.to_string(),
        max_in_snapshot_log_to_keep: u64::MAX,
        snapshot_policy: openraft::SnapshotPolicy::Never,
        ..Default::default()
    }
}
