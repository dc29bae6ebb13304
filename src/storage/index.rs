//! Lookups in a segment's sparse indexes: where to start scanning for a log index, an offset
//! or a timestamp. The records only narrow the scan; the entries themselves decide.
//! `segment.rs` keeps the records; `reader.rs` scans from what these return.

use super::format::{IndexRecord, TimeRecord};
use crate::types::{KafkaOffset, LogIndex};

/// When the writer adds an index record for an entry at `position`.
pub(super) fn due(records: &[IndexRecord], position: u64, interval_bytes: u32) -> bool {
    records
        .last()
        .is_none_or(|last| position >= u64::from(last.position) + u64::from(interval_bytes))
}

/// Position of the last indexed entry whose log index is at most `index`, among records that
/// point below `limit` (the readable length).
pub(super) fn seek_index(records: &[IndexRecord], index: LogIndex, limit: u64) -> u64 {
    let usable = usable(records, limit);
    let n = usable.partition_point(|r| r.index <= index);
    n.checked_sub(1)
        .map_or(0, |i| u64::from(usable[i].position))
}

/// Position of the last indexed entry whose base offset is at most `offset`.
pub(super) fn seek_offset(records: &[IndexRecord], offset: KafkaOffset, limit: u64) -> u64 {
    let usable = usable(records, limit);
    let n = usable.partition_point(|r| r.base_offset <= offset);
    n.checked_sub(1)
        .map_or(0, |i| u64::from(usable[i].position))
}

/// The offset from which to scan for the first entry with a timestamp at or above `ts`: every
/// entry before the last time record whose running maximum is still below `ts` is too old.
pub(super) fn seek_time(times: &[TimeRecord], ts: i64) -> Option<KafkaOffset> {
    let n = times.partition_point(|t| t.max_timestamp < ts);
    n.checked_sub(1).map(|i| times[i].base_offset)
}

fn usable(records: &[IndexRecord], limit: u64) -> &[IndexRecord] {
    &records[..records.partition_point(|r| u64::from(r.position) < limit)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(index: u64, base_offset: i64, position: u32) -> IndexRecord {
        IndexRecord {
            index: LogIndex(index),
            base_offset: KafkaOffset(base_offset),
            position,
        }
    }

    #[test]
    fn seeks_pick_the_last_record_at_or_below() {
        let records = [rec(10, 0, 0), rec(20, 50, 4096), rec(30, 50, 8200)];
        assert_eq!(seek_index(&records, LogIndex(9), u64::MAX), 0);
        assert_eq!(seek_index(&records, LogIndex(25), u64::MAX), 4096);
        assert_eq!(seek_index(&records, LogIndex(99), u64::MAX), 8200);
        assert_eq!(
            seek_index(&records, LogIndex(99), 8200),
            4096,
            "records past the limit are ignored"
        );
        assert_eq!(seek_offset(&records, KafkaOffset(49), u64::MAX), 0);
        assert_eq!(seek_offset(&records, KafkaOffset(50), u64::MAX), 8200);
    }

    #[test]
    fn time_seek_skips_only_what_is_too_old() {
        let times = [
            TimeRecord {
                max_timestamp: 100,
                base_offset: KafkaOffset(0),
            },
            TimeRecord {
                max_timestamp: 200,
                base_offset: KafkaOffset(40),
            },
        ];
        assert_eq!(seek_time(&times, 50), None);
        assert_eq!(seek_time(&times, 150), Some(KafkaOffset(0)));
        assert_eq!(seek_time(&times, 201), Some(KafkaOffset(40)));
    }

    #[test]
    fn index_records_are_due_every_interval() {
        assert!(due(&[], 0, 4096));
        let records = [rec(1, 0, 100)];
        assert!(!due(&records, 4195, 4096));
        assert!(due(&records, 4196, 4096));
    }
}
