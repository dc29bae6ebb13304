//! Committed offsets: the commands of the `__consumer_offsets` partitions and the table they
//! build. Every commit is one record proposed through the partition's Raft leader (the
//! coordinator of the consumer group) and answered once applied, so what a coordinator
//! acknowledged is on a quorum and any replica that becomes leader replays it. Every replica
//! keeps its table current (a new coordinator has it ready): `crate::internal_log` runs the log,
//! `table.rs` is what each record does, `partition.rs` the table of one hosted partition.
//!
//! The log is compacted by snapshots (`group/compaction.rs` decides when): the leader writes its
//! whole table, as of an applied offset `as_of`, as `Snapshot` records; once all parts are in the
//! log, every replica may delete the segments wholly below `as_of`. A replica whose log starts
//! past 0 therefore replays in two passes: it skips records until it has read a whole snapshot
//! with `as_of` at or after its log start, installs it, and replays again from `as_of` (the parts
//! themselves come after `as_of`, so they are read again and then change nothing).

mod partition;
mod snapshot;
mod table;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::internal_log;
use crate::types::KafkaOffset;

pub use partition::{OffsetsPartition, OffsetsTables};
pub use table::CompactionState;

/// One committed offset, as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    /// The leader epoch of the record at `offset - 1` as the client saw it; -1 unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
    /// The id of the topic when the commit was made: a topic deleted and created again under
    /// the same name does not inherit the old one's offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<Uuid>,
}

/// A partition of some topic, as consumer groups name it.
pub type TopicPartition = (String, i32);

/// What the offsets log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OffsetsCommand {
    Commit {
        group: String,
        offsets: Vec<(TopicPartition, Committed)>,
    },
    /// OffsetDelete, and cleanup of partitions whose topic is gone.
    Forget {
        group: String,
        partitions: Vec<TopicPartition>,
    },
    /// DeleteGroups.
    DeleteGroup { group: String },
    /// Expiry (`offsets.retention.minutes`): deletes the group's offsets unless it committed
    /// after log offset `unchanged_since` (a commit racing the decision survives it).
    Expire {
        group: String,
        unchanged_since: KafkaOffset,
    },
    /// A deleted topic: every group of this partition forgets its offsets of `topic` recorded
    /// with `id` (`None`: recorded without an id), so commits to a new topic of that name stay.
    DropTopic { topic: String, id: Option<Uuid> },
    /// Part `part` of `parts` of the table as of log offset `as_of` (every record below it
    /// applied). Changes nothing for a replica that replayed from the start.
    Snapshot {
        as_of: KafkaOffset,
        part: u32,
        parts: u32,
        groups: Vec<SnapshotGroup>,
    },
}

/// A group (or part of its offsets) in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotGroup {
    pub group: String,
    pub last_commit_at: KafkaOffset,
    pub offsets: Vec<(TopicPartition, Committed)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OffsetsError {
    #[error(transparent)]
    Partition(#[from] crate::partition::Error),
    /// The table has not caught up with the log within the wait: the client retries.
    #[error("committed offsets are still loading")]
    Loading,
}

impl From<internal_log::Error> for OffsetsError {
    fn from(err: internal_log::Error) -> Self {
        match err {
            internal_log::Error::Partition(e) => OffsetsError::Partition(e),
            internal_log::Error::NotApplied { .. } => OffsetsError::Loading,
        }
    }
}

/// Committed offsets by group, then by topic partition.
pub type GroupOffsets = BTreeMap<TopicPartition, Committed>;

/// A group's committed offsets and where in the log it last committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredGroup {
    pub offsets: GroupOffsets,
    /// Log offset of the group's latest Commit.
    pub last_commit_at: KafkaOffset,
}

impl StoredGroup {
    /// When the group last committed anything (wall clock, ms).
    pub fn last_commit_ms(&self) -> i64 {
        self.offsets
            .values()
            .map(|c| c.commit_timestamp_ms)
            .max()
            .unwrap_or(0)
    }
}

/// Wall-clock milliseconds, the time base of commit timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
