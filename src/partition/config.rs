//! The settings a running replica applies, already resolved: the topic's overrides on top of
//! the broker defaults. `metadata/topic_config.rs` builds them; the broker hands them down.

/// A topic's effective settings, in the units the replica uses.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveConfig {
    /// Age after which whole segments go; `None` keeps them forever.
    pub retention_ms: Option<i64>,
    /// Size above which the oldest segments go; `None` keeps everything.
    pub retention_bytes: Option<u64>,
    pub segment_bytes: u64,
    pub max_message_bytes: usize,
    pub index_interval_bytes: u32,
    /// Disk reserved at a time ahead of the data (broker-wide).
    pub preallocate_step_bytes: u64,
    pub cleanup_policy: CleanupPolicy,
    /// How long a tombstone stays after compaction reached it (`delete.retention.ms`).
    pub delete_retention_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub min_cleanable_dirty_ratio: f64,
    /// Age at which the active segment is rolled (`segment.ms`).
    pub segment_ms: i64,
}

/// Kafka's `cleanup.policy`: `delete`, `compact`, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanupPolicy {
    /// Retention by time and size deletes whole segments.
    pub delete: bool,
    /// The log keeps the newest record of each key.
    pub compact: bool,
}

impl Default for CleanupPolicy {
    fn default() -> Self {
        CleanupPolicy {
            delete: true,
            compact: false,
        }
    }
}
