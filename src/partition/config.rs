//! The settings a running replica applies, already resolved: the topic's overrides on top of
//! the broker defaults. `metadata/topic_config.rs` builds them; the broker hands them down.

use crate::record::{Compression, CompressionLevels, TimestampType};

/// A topic's effective settings, in the units the replica uses.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveConfig {
    /// Age after which whole segments go; `None` keeps them forever. Applies only when
    /// [`CleanupPolicy::delete`] is set.
    pub retention_ms: Option<i64>,
    /// Size above which the oldest segments go; `None` keeps everything. Applies only when
    /// [`CleanupPolicy::delete`] is set.
    pub retention_bytes: Option<u64>,
    pub segment_bytes: u64,
    pub max_message_bytes: usize,
    pub index_interval_bytes: u32,
    /// Disk reserved at a time ahead of the data (broker-wide).
    pub preallocate_step_bytes: u64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `delete.retention.ms`: how long compaction keeps a tombstone.
    pub delete_retention_ms: i64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `min.cleanable.dirty.ratio`, in `[0, 1]`.
    pub min_cleanable_dirty_ratio: f64,
    /// `segment.ms`: age at which a segment is to be rolled even if not full.
    pub segment_ms: i64,
    /// `message.timestamp.type`: with LogAppendTime the leader stamps each batch.
    pub timestamp_type: TimestampType,
    /// `compression.type`: the codec the leader stores batches with; `None` (`producer`)
    /// keeps each batch as sent.
    pub compression: Option<Compression>,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level`.
    pub compression_levels: CompressionLevels,
    /// `message.timestamp.before.max.ms`: how far behind the leader's clock a CreateTime
    /// record may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far ahead of the leader's clock a CreateTime
    /// record may be.
    pub timestamp_after_max_ms: i64,
}

/// Which of Kafka's cleanups a topic gets (`cleanup.policy`, a list of `delete` and `compact`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Whole segments go by `retention.ms` / `retention.bytes`.
    pub delete: bool,
    /// The latest record of each key is kept; records need a key.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    /// Kafka's default: `delete`.
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}
