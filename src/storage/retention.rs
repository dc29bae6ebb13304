//! Which whole segments retention lets go: by age (`retention.ms`), by total size
//! (`retention.bytes`), or because everything in them lies below an offset the partition's
//! owner no longer needs (a compacted internal log). Only sealed segments, oldest first; the
//! active one always stays.
//! `log.rs` turns the answer into a purge point for Raft.

use std::sync::Arc;

use super::segment::Segment;
use crate::types::KafkaOffset;

/// Kafka's `retention.ms` and `retention.bytes`; `None` keeps forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<u64>,
    /// Segments whose every offset lies below this one may go.
    pub below_offset: Option<KafkaOffset>,
}

/// How many of the oldest segments may be deleted at `now_ms`.
pub(super) fn deletable_segments(
    segments: &[Arc<Segment>],
    policy: &RetentionPolicy,
    now_ms: i64,
) -> usize {
    let sealed = segments.iter().take_while(|s| s.is_sealed()).count();
    // The newest segment stays even when sealed: it holds the log's end.
    let candidates = sealed.min(segments.len().saturating_sub(1));
    let mut total: u64 = segments.iter().map(|s| s.readable_len()).sum();
    let mut count = 0;
    for (i, seg) in segments[..candidates].iter().enumerate() {
        // The next segment starts at or below the floor: this one lies wholly beneath it.
        let below_floor = policy
            .below_offset
            .is_some_and(|floor| segments[i + 1].base_offset <= floor);
        let too_old = policy.retention_ms.is_some_and(|ms| {
            let newest = seg.max_timestamp();
            newest != i64::MIN && newest < now_ms.saturating_sub(ms)
        });
        let too_big = policy
            .retention_bytes
            .is_some_and(|limit| total.saturating_sub(seg.readable_len()) >= limit);
        if !(too_old || too_big || below_floor) {
            break;
        }
        total -= seg.readable_len();
        count += 1;
    }
    count
}
