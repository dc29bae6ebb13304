//! Why a partition could not do what was asked; `kafka/error_map.rs` picks the Kafka code.
//! Failures from below keep their source: the log's, the Raft instance's, the file system's.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::producer::SequenceError;
use crate::raft::{self, NodeId};
use crate::record::{BatchError, PrepareError, RejectedRecords};
use crate::storage;
use crate::types::KafkaOffset;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("this broker is not the leader of the partition (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("this broker hosts no such partition")]
    UnknownPartition,
    /// Outside the log, `[log start, log end]`: what Kafka calls out of range. Between the high
    /// watermark and the log end (a new leader's watermark catching up) is not.
    #[error("offset {offset} is outside [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: KafkaOffset,
        log_start_offset: KafkaOffset,
        log_end_offset: KafkaOffset,
        high_watermark: KafkaOffset,
    },
    #[error("corrupt record batch: {0}")]
    CorruptBatch(#[from] BatchError),
    /// Records the topic's settings refuse (timestamps out of bounds, no key on a compacted
    /// topic), each listed.
    #[error("records refused: {0}")]
    Rejected(RejectedRecords),
    #[error("record batch of {bytes} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge { bytes: usize, max: usize },
    #[error("leader epoch {requested} is older than the current {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("leader epoch {requested} is newer than the current {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    /// Free space on the logs' file system is below `log.dir.min.free.bytes`.
    #[error(
        "{free_bytes} bytes free on the log directory's disk, below the {floor_bytes} kept free"
    )]
    DiskFull { free_bytes: u64, floor_bytes: u64 },
    /// An idempotent producer's batch out of sequence or from a fenced epoch.
    #[error(transparent)]
    Sequence(#[from] SequenceError),
    #[error("the partition's storage failed: {0}")]
    Storage(#[source] StorageError),
    #[error("the partition is stopping: {0}")]
    Stopped(#[source] StopReason),
}

impl From<PrepareError> for Error {
    fn from(err: PrepareError) -> Self {
        match err {
            PrepareError::Batch(e) => Error::CorruptBatch(e),
            PrepareError::Rejected(r) => Error::Rejected(r),
        }
    }
}

/// What failed underneath a replica.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Log(Shared<storage::Error>),
    #[error(transparent)]
    Start(Shared<raft::StartError>),
    #[error(transparent)]
    Retention(Shared<raft::RaftNodeError>),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: Shared<std::io::Error>,
    },
    #[error("removing {path}: {source}")]
    Remove {
        path: PathBuf,
        #[source]
        source: Shared<std::io::Error>,
    },
    /// The state machine applied a record entry but reported no offsets for it.
    #[error("record entry applied without offsets")]
    AppliedWithoutOffsets,
}

impl From<storage::Error> for StorageError {
    fn from(err: storage::Error) -> Self {
        StorageError::Log(Shared::new(err))
    }
}

impl From<raft::StartError> for StorageError {
    fn from(err: raft::StartError) -> Self {
        StorageError::Start(Shared::new(err))
    }
}

impl From<raft::RaftNodeError> for StorageError {
    fn from(err: raft::RaftNodeError) -> Self {
        StorageError::Retention(Shared::new(err))
    }
}

/// Why a replica (or the reader of an internal log on top of it) takes no more work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    #[error(transparent)]
    Raft(#[from] raft::RaftFailure),
    /// The task applying an internal log (`metadata`, `offsets`) has ended.
    #[error("{log} log applier stopped")]
    ApplierStopped { log: &'static str },
}

/// A failure from below, shared so a partition error can be cloned and handed to every caller
/// waiting on it; two are equal when they are the same failure.
#[derive(Debug)]
pub struct Shared<E>(Arc<E>);

impl<E> Shared<E> {
    pub fn new(err: E) -> Self {
        Shared(Arc::new(err))
    }
}

impl<E> Clone for Shared<E> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<E> PartialEq for Shared<E> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<E> Eq for Shared<E> {}

impl<E: fmt::Display> fmt::Display for Shared<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<E: std::error::Error> std::error::Error for Shared<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl Error {
    pub(crate) fn storage(err: impl Into<StorageError>) -> Self {
        Error::Storage(err.into())
    }

    /// The task applying the internal log `log` has ended.
    pub fn applier_stopped(log: &'static str) -> Self {
        Error::Stopped(StopReason::ApplierStopped { log })
    }
}
