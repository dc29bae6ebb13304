//! A partition replica: one Raft group plus its Kafka view (offsets, high watermark, reads,
//! appends). Kafka words above this module, Raft words below it.
//! `registry.rs` keeps the replicas this broker hosts.

pub mod leftovers;
mod registry;
mod replica;

pub use registry::{Partitions, partition_dir};
pub use replica::{Appended, FetchData, Replica, ReplicaSpec, epoch_of_term};

use crate::raft::NodeId;

/// Why a partition could not do what was asked; `kafka/error_map.rs` picks the Kafka code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("this broker is not the leader of the partition (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("this broker hosts no such partition")]
    UnknownPartition,
    #[error("offset {offset} is outside [{log_start_offset}, {high_watermark}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        high_watermark: i64,
    },
    #[error("corrupt record batch: {0}")]
    CorruptBatch(String),
    #[error("record batch of {bytes} bytes exceeds max.message.bytes {max}")]
    BatchTooLarge { bytes: usize, max: usize },
    #[error("leader epoch {requested} is older than the current {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("leader epoch {requested} is newer than the current {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    #[error("the partition's storage failed: {0}")]
    Storage(String),
    #[error("the partition is stopping: {0}")]
    Stopped(String),
}
