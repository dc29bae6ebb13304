//! Where Raft's log positions meet Kafka's offsets, and the only place that relates one to the
//! other. Every entry has a [`LogIndex`]; only record entries take [`KafkaOffset`]s, as many
//! as their batch holds, counted in log order. The log store counts them when it appends, the
//! state machine when it applies, and a snapshot pins the count at its last index.

use std::sync::{Arc, Mutex};

use crate::types::{KafkaOffset, LogIndex};

/// The running count of offsets along the log: the offset the next record entry takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetCounter(KafkaOffset);

impl OffsetCounter {
    /// Counts on from `next`: the log end offset where counting starts.
    pub fn starting_at(next: KafkaOffset) -> OffsetCounter {
        OffsetCounter(next)
    }

    /// Gives a record entry of `count` records its base offset and counts past them.
    pub fn assign(&mut self, count: u32) -> KafkaOffset {
        let base = self.0;
        self.0 = base.plus(count);
        base
    }

    /// The offset the next record entry takes.
    pub fn next(&self) -> KafkaOffset {
        self.0
    }
}

/// Where the latest snapshot ends: its last log index and the next offset after it. The state
/// machine sets it; the log store reads it when a purge empties the log, which is how a
/// follower that installed a snapshot continues numbering offsets where the leader's log did.
#[derive(Debug, Clone, Default)]
pub struct SnapshotPoint(Arc<Mutex<Option<(LogIndex, KafkaOffset)>>>);

impl SnapshotPoint {
    pub fn set(&self, last_index: LogIndex, next_offset: KafkaOffset) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((last_index, next_offset));
    }

    /// The next offset after the snapshot ending at log index `index`, if that is the latest.
    pub fn next_offset_after(&self, index: LogIndex) -> Option<KafkaOffset> {
        let point = *self.0.lock().unwrap_or_else(|e| e.into_inner());
        point.filter(|(at, _)| *at == index).map(|(_, next)| next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_entries_take_consecutive_offsets() {
        let mut counter = OffsetCounter::starting_at(KafkaOffset(10));
        assert_eq!(counter.assign(3), KafkaOffset(10));
        assert_eq!(counter.assign(1), KafkaOffset(13));
        assert_eq!(counter.next(), KafkaOffset(14));
    }

    #[test]
    fn a_snapshot_point_answers_only_for_its_own_index() {
        let point = SnapshotPoint::default();
        assert_eq!(point.next_offset_after(LogIndex(5)), None);
        point.set(LogIndex(5), KafkaOffset(40));
        assert_eq!(point.next_offset_after(LogIndex(5)), Some(KafkaOffset(40)));
        assert_eq!(point.next_offset_after(LogIndex(6)), None);
    }
}
