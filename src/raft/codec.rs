//! Raft entries to storage entries and back: the kind tag, the membership payload, and record
//! entries that carry one RecordBatch as their payload, byte for byte.
//! `log_store.rs` calls this on append and `log_reader.rs` on every read.

use std::io;

use bytes::Bytes;
use openraft::EntryPayload;
use openraft::entry::RaftEntry;

use super::types::{Entry, LogId, Request};
use crate::record::RecordBatch;
use crate::storage::{AppendEntry, EntryId, RecordsMeta, StoredEntry};
use crate::types::{LeaderEpoch, Term};

/// Storage `kind` tags of Raft entries. Never renumber: they are on disk.
pub const KIND_BLANK: u8 = 1;
pub const KIND_MEMBERSHIP: u8 = 2;
pub const KIND_RECORDS: u8 = 3;

pub fn log_id(id: EntryId) -> LogId {
    LogId::new_term_index(id.term, id.index)
}

pub fn entry_id(log_id: &LogId) -> EntryId {
    EntryId {
        index: log_id.index,
        term: log_id.leader_id.term,
    }
}

/// Frames one Raft entry for the log, `next_offset` being the log's next Kafka offset. A record
/// entry's payload is the batch itself, stamped with its base offset and with the entry's term
/// as its leader epoch, so every replica stores identical bytes.
pub fn to_storage(entry: Entry, next_offset: i64) -> io::Result<AppendEntry> {
    let term = entry.log_id.leader_id.term;
    let (kind, records, payload) = match entry.payload {
        EntryPayload::Blank => (KIND_BLANK, None, Default::default()),
        EntryPayload::Membership(membership) => {
            let json = serde_json::to_vec(&membership).map_err(io::Error::other)?;
            (KIND_MEMBERSHIP, None, [Bytes::from(json), Bytes::new()])
        }
        EntryPayload::Normal(Request::Records(batch)) => {
            let meta = RecordsMeta {
                base_offset: next_offset,
                offset_count: batch.offset_count(),
                max_timestamp: batch.max_timestamp(),
            };
            let stamped = batch.stamped(next_offset, LeaderEpoch::from(Term(term)));
            (KIND_RECORDS, Some(meta), stamped)
        }
    };
    Ok(AppendEntry {
        index: entry.log_id.index,
        term: entry.log_id.leader_id.term,
        kind,
        records,
        payload,
    })
}

/// Rebuilds the Raft entry a stored entry holds. Anything that does not check out is
/// `InvalidData` naming the log index, never a panic.
pub fn from_storage(stored: StoredEntry) -> io::Result<Entry> {
    let id = LogId::new_term_index(stored.term, stored.index);
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
        let framed = to_storage(entry, 0).unwrap();
        assert_eq!(
            (framed.index, framed.term, framed.kind),
            (9, 4, KIND_MEMBERSHIP)
        );
        let stored = StoredEntry {
            index: 9,
            term: 4,
            kind: framed.kind,
            base_offset: 0,
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
            index: 3,
            term: 1,
            kind: 200,
            base_offset: 0,
            offset_count: 0,
            max_timestamp: i64::MIN,
            payload: Bytes::new(),
        };
        let err = from_storage(stored).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("log entry 3"), "{err}");
    }
}
