//! Append-only log of opaque entries in mmap'd segment files, disk reserved a step ahead.
//! Knows nothing of Raft or Kafka: `raft/` maps its entries onto this log.
//!
//! Two numbering spaces live side by side in one log:
//! - the *log index*: every entry has one, contiguous, assigned by the caller (Raft);
//! - the *offset*: only record entries take offsets, `offset_count` of them each. The caller
//!   hands each record entry its first offset, which must continue the log's offsets without a
//!   gap; the log keeps it beside the entry to find entries by offset and by time.

mod cut;
mod files;
mod flush;
mod format;
mod fs;
#[cfg(test)]
mod fs_sim;
mod index;
mod log;
#[cfg(test)]
mod power_loss;
mod reader;
mod recovery;
mod retention;
mod rewrite;
mod scan;
mod segment;
mod space;
mod state_file;
mod validate;

pub use flush::configure_flush_threads;
pub use format::MAX_ENTRY_PAYLOAD_BYTES;
pub use log::{Log, LogConfig};
pub use reader::LogReader;
pub use retention::RetentionPolicy;
pub use rewrite::{PreparedRewrite, SealedSegment, SegmentRewriter};
pub use scan::{ScanSummary, TornTail, scan};
pub use space::DiskSpace;
pub use state_file::StateFile;

use std::path::PathBuf;

use bytes::Bytes;

use crate::types::{KafkaOffset, LogIndex, Term};

/// Where a record entry sits in the offset space, and the newest timestamp in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordsMeta {
    /// The entry's first offset: the log's next offset at the time of append.
    pub base_offset: KafkaOffset,
    /// How many offsets the entry takes. At least 1.
    pub offset_count: u32,
    /// Largest timestamp in the entry, for the time index (ms since the epoch).
    pub max_timestamp: i64,
}

/// One entry handed to [`Log::append`].
#[derive(Debug, Clone)]
pub struct AppendEntry {
    pub index: LogIndex,
    pub term: Term,
    /// Opaque tag owned by the caller (the Raft layer tells blank/membership/records apart with it).
    pub kind: u8,
    /// `Some` for record entries.
    pub records: Option<RecordsMeta>,
    /// The payload, written back to back from its parts, so a caller that rewrites a header
    /// passes it as a part of its own instead of copying the rest.
    pub payload: [Bytes; 2],
}

impl AppendEntry {
    pub fn payload_len(&self) -> usize {
        self.payload.iter().map(Bytes::len).sum()
    }
}

/// One entry read back: the payload is a zero-copy slice of the segment mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub index: LogIndex,
    pub term: Term,
    pub kind: u8,
    /// Offset assigned to the first record (for entries without records: the next offset at
    /// the time of append).
    pub base_offset: KafkaOffset,
    /// 0 for entries without records.
    pub offset_count: u32,
    pub max_timestamp: i64,
    pub payload: Bytes,
}

impl StoredEntry {
    /// The offset after this entry's records.
    pub fn end_offset(&self) -> KafkaOffset {
        self.base_offset.plus(self.offset_count)
    }

    pub fn id(&self) -> EntryId {
        EntryId::new(self.index, self.term)
    }
}

/// Log index and term of one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EntryId {
    pub index: LogIndex,
    pub term: Term,
}

impl EntryId {
    pub fn new(index: LogIndex, term: Term) -> EntryId {
        EntryId { index, term }
    }
}

/// Record payloads answering a read by offset.
#[derive(Debug, Clone, Default)]
pub struct RecordSlices {
    /// Whole record entries, in offset order, each a zero-copy slice of a mapping.
    pub batches: Vec<Bytes>,
    /// Sum of the batch lengths.
    pub bytes: usize,
}

/// What can go wrong in the storage layer. Every variant names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no space for a new segment {path} of {bytes} bytes: {source}")]
    NoSpace {
        path: PathBuf,
        bytes: u64,
        #[source]
        source: std::io::Error,
    },
    #[error("corrupt entry in {path} at byte {position}: {reason}")]
    Corrupt {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    #[error("corrupt state file {path}: {reason}")]
    CorruptState { path: PathBuf, reason: String },
    #[error("entry of {bytes} bytes does not fit a segment of {segment_bytes} bytes")]
    EntryTooLarge { bytes: u64, segment_bytes: u64 },
    #[error("log index {got} appended where {expected} was expected")]
    NonContiguous { expected: LogIndex, got: LogIndex },
    #[error("record entry at log index {index} is malformed: {reason}")]
    BadRecordEntry { index: LogIndex, reason: String },
    #[error("log directory {path} is already open in this process or another")]
    Locked { path: PathBuf },
    #[error("storage stopped after an earlier failure: {0}")]
    Failed(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<Error> for std::io::Error {
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Io { source, .. } => source.kind(),
            Error::NoSpace { .. } => std::io::ErrorKind::StorageFull,
            Error::Corrupt { .. } | Error::CorruptState { .. } => std::io::ErrorKind::InvalidData,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, err)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
