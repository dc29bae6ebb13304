//! Raft entries to storage entries and back: the kind tag, the membership payload, and record
//! entries that carry one RecordBatch as their payload, byte for byte.
//! `log_store.rs` calls this on append and `log_reader.rs` on every read.

use std::io;

use bytes::Bytes;
use openraft::EntryPayload;
use openraft::entry::RaftEntry;

use super::offsets::OffsetCounter;
use super::types::{Entry, LogId, Request};
use crate::record::RecordBatch;
use crate::storage::{AppendEntry, EntryId, RecordsMeta, StoredEntry};
use crate::types::{KafkaOffset, LeaderEpoch, LogIndex, Term};

/// Storage `kind` tags of Raft entries. Never renumber: they are on disk.
pub const KIND_BLANK: u8 = 1;
pub const KIND_MEMBERSHIP: u8 = 2;
pub const KIND_RECORDS: u8 = 3;
pub const KIND_LOG_START: u8 = 4;

/// The payload of a [`KIND_LOG_START`] entry: the new log start offset, 8 bytes big-endian.
pub fn log_start_payload(offset: KafkaOffset) -> Bytes {
    Bytes::copy_from_slice(&offset.0.to_be_bytes())
}

/// The offset a [`KIND_LOG_START`] payload holds; `None` unless it is 8 bytes of a
/// non-negative offset.
pub fn parse_log_start(payload: &[u8]) -> Option<KafkaOffset> {
    let bytes: [u8; 8] = payload.try_into().ok()?;
    Some(KafkaOffset(i64::from_be_bytes(bytes))).filter(|o| o.0 >= 0)
}

pub fn log_id(id: EntryId) -> LogId {
    LogId::new_term_index(id.term.0, id.index.0)
}

pub fn entry_id(log_id: &LogId) -> EntryId {
    EntryId {
        index: LogIndex(log_id.index),
        term: Term(log_id.leader_id.term),
    }
}

/// Frames one Raft entry for the log, taking a record entry's offsets from `offsets` (the log's
/// running count). A record entry's payload is the batch itself, stamped with its base offset
/// and with the entry's term as its leader epoch, so every replica stores identical bytes.
pub fn to_storage(entry: Entry, offsets: &mut OffsetCounter) -> io::Result<AppendEntry> {
    let EntryId { index, term } = entry_id(&entry.log_id);
    let (kind, records, payload) = match entry.payload {
        EntryPayload::Blank => (KIND_BLANK, None, Default::default()),
        EntryPayload::Membership(membership) => {
            let json = serde_json::to_vec(&membership).map_err(io::Error::other)?;
            (KIND_MEMBERSHIP, None, [Bytes::from(json), Bytes::new()])
        }
        EntryPayload::Normal(Request::Records(batch)) => {
            let base_offset = offsets.assign(batch.offset_count());
            let meta = RecordsMeta {
                base_offset,
                offset_count: batch.offset_count(),
                max_timestamp: batch.max_timestamp(),
            };
            let stamped = batch.stamped(base_offset, LeaderEpoch::from(term));
            (KIND_RECORDS, Some(meta), stamped)
        }
        EntryPayload::Normal(Request::MoveLogStart(offset)) => (
            KIND_LOG_START,
            None,
            [log_start_payload(offset), Bytes::new()],
        ),
    };
    Ok(AppendEntry {
        index,
        term,
        kind,
        records,
        payload,
    })
}

/// Rebuilds the Raft entry a stored entry holds. Anything that does not check out is
/// `InvalidData` naming the log index, never a panic.
pub fn from_storage(stored: StoredEntry) -> io::Result<Entry> {
    let id = log_id(EntryId {
        index: stored.index,
        term: stored.term,
    });
    let bad = |reason: String| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("log entry {}: {reason}", stored.index),
        )
    };
    let payload = match stored.kind {
        KIND_BLANK => EntryPayload::Blank,
        KIND_MEMBERSHIP => {
            let membership = serde_json::from_slice(&stored.payload)
                .map_err(|e| bad(format!("membership does not decode: {e}")))?;
            EntryPayload::Membership(membership)
        }
        KIND_RECORDS => {
            let batch = RecordBatch::new(stored.payload.clone()).map_err(|e| bad(e.to_string()))?;
            if batch.base_offset() != stored.base_offset
                || batch.offset_count() != stored.offset_count
            {
                return Err(bad(format!(
                    "batch spans offsets {}+{} but the log recorded {}+{}",
                    batch.base_offset(),
                    batch.offset_count(),
                    stored.base_offset,
                    stored.offset_count
                )));
            }
            EntryPayload::Normal(Request::Records(batch))
        }
        KIND_LOG_START => {
            let offset = parse_log_start(&stored.payload)
                .ok_or_else(|| bad("log start entry without an offset".into()))?;
            EntryPayload::Normal(Request::MoveLogStart(offset))
        }
        other => return Err(bad(format!("unknown entry kind {other}"))),
    };
    Ok(Entry::new(id, payload))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use openraft::Membership;

    use super::*;

    #[test]
    fn membership_round_trips() {
        let members = Membership::new_with_defaults(vec![BTreeSet::from([1, 2, 3])], []);
        let entry = Entry::new_membership(LogId::new_term_index(4, 9), members.clone());
        let framed = to_storage(entry, &mut OffsetCounter::starting_at(KafkaOffset(0))).unwrap();
        assert_eq!(
            (framed.index, framed.term, framed.kind),
            (LogIndex(9), Term(4), KIND_MEMBERSHIP)
        );
        let stored = StoredEntry {
            index: LogIndex(9),
            term: Term(4),
            kind: framed.kind,
            base_offset: KafkaOffset(0),
            offset_count: 0,
            max_timestamp: i64::MIN,
            payload: framed.payload[0].clone(),
        };
        let back = from_storage(stored).unwrap();
        assert_eq!(back.get_membership(), Some(members));
        assert_eq!(back.log_id, LogId::new_term_index(4, 9));
    }

    #[test]
    fn unknown_kind_is_invalid_data() {
        let stored = StoredEntry {
            index: LogIndex(3),
            term: Term(1),
            kind: 200,
            base_offset: KafkaOffset(0),
            offset_count: 0,
            max_timestamp: i64::MIN,
            payload: Bytes::new(),
        };
        let err = from_storage(stored).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("log entry 3"), "{err}");
    }
}
