//! The settings a running replica applies, already resolved: the topic's overrides on top of
//! the broker defaults. `metadata/topic_config.rs` builds them; the broker hands them down.

/// A topic's effective settings, in the units the replica uses.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}
