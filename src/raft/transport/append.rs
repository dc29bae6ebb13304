//! The AppendEntries body, laid out by hand so a record entry's RecordBatch goes out as the very
//! `Bytes` the log handed to openraft (a slice of the segment mapping on a leader): no copy, no
//! re-encoding. `frame.rs` owns the frame around it; `network.rs` sends the pieces.
//!
//! ```text
//! | meta_len u32 | meta (JSON: vote, prev_log_id, leader_commit) | entry_count u32 | entry ... |
//! entry: | term u64 | index u64 | kind u8 | payload_len u32 | payload (payload_len bytes) |
//! ```
//! `kind` is the storage kind (`codec::KIND_*`): blank (no payload), membership (JSON), records
//! (exactly one RecordBatch v2). A request too big for one frame is cut into several pieces that
//! go out back to back; each is a valid AppendEntries of its own (`prev_log_id` chains them).

use bytes::{BufMut, Bytes, BytesMut};
use openraft::EntryPayload;
use openraft::entry::RaftEntry;
use openraft::raft::AppendEntriesRequest;
use serde::{Deserialize, Serialize};

use super::frame::{FrameError, Reader};
use crate::raft::codec::{
    KIND_BLANK, KIND_LOG_START, KIND_MEMBERSHIP, KIND_RECORDS, log_start_payload, parse_log_start,
};
use crate::raft::types::{Entry, LogId, Request, TypeConfig, Vote};
use crate::record::RecordBatch;

pub type AppendRequest = AppendEntriesRequest<TypeConfig>;

/// Bytes of one entry before its payload.
pub const ENTRY_HEADER_BYTES: usize = 8 + 8 + 1 + 4;
/// Budget for the JSON header of a piece; a vote and two log ids take about 150 bytes.
const META_MAX_BYTES: usize = 1024;
/// Bytes of a body besides its entries: the two counts and the meta budget.
pub const BODY_OVERHEAD_BYTES: usize = 4 + META_MAX_BYTES + 4;

#[derive(Serialize, Deserialize)]
struct Meta {
    vote: Vote,
    prev_log_id: Option<LogId>,
    leader_commit: Option<LogId>,
}

/// One frame's worth of an AppendEntries request.
#[derive(Debug)]
pub struct Piece {
    /// The body as chunks to write back to back (record payloads are their own chunks).
    pub body: Vec<Bytes>,
    pub prev_log_id: Option<LogId>,
    /// The last entry's id, or `prev_log_id` when the piece carries no entries (a heartbeat).
    pub last_log_id: Option<LogId>,
}

#[cfg(test)]
impl Piece {
    pub fn body_len(&self) -> usize {
        self.body.iter().map(Bytes::len).sum()
    }
}

/// One entry, encoded: its header (and small inline payload) plus a record payload by reference.
struct Encoded {
    log_id: LogId,
    head: Bytes,
    records: Option<Bytes>,
}

impl Encoded {
    fn len(&self) -> usize {
        self.head.len() + self.records.as_ref().map_or(0, Bytes::len)
    }
}

fn encode_entry(entry: Entry, heads: &mut BytesMut) -> Result<Encoded, FrameError> {
    let log_id = entry.log_id;
    let (kind, inline, records) = match entry.payload {
        EntryPayload::Blank => (KIND_BLANK, Vec::new(), None),
        EntryPayload::Membership(m) => {
            let json = serde_json::to_vec(&m).map_err(|e| FrameError::Invalid(e.to_string()))?;
            (KIND_MEMBERSHIP, json, None)
        }
        EntryPayload::Normal(Request::Records(batch)) => {
            (KIND_RECORDS, Vec::new(), Some(batch.into_bytes()))
        }
        EntryPayload::Normal(Request::MoveLogStart(offset)) => {
            (KIND_LOG_START, log_start_payload(offset).to_vec(), None)
        }
    };
    let payload_len = records.as_ref().map_or(inline.len(), Bytes::len);
    let payload_len = u32::try_from(payload_len)
        .map_err(|_| FrameError::Invalid(format!("entry {log_id} payload over 4 GiB")))?;
    heads.put_u64(log_id.leader_id.term);
    heads.put_u64(log_id.index);
    heads.put_u8(kind);
    heads.put_u32(payload_len);
    heads.put_slice(&inline);
    Ok(Encoded {
        log_id,
        head: heads.split().freeze(),
        records,
    })
}

/// Lays `req` out as one or more pieces whose bodies each fit `max_body_bytes`, in log order.
/// A single entry that cannot fit is an error: `max_body_bytes` must exceed the largest batch.
pub fn encode(req: AppendRequest, max_body_bytes: usize) -> Result<Vec<Piece>, FrameError> {
    let budget = max_body_bytes.saturating_sub(BODY_OVERHEAD_BYTES);
    let mut heads = BytesMut::new();
    let mut groups: Vec<Vec<Encoded>> = vec![Vec::new()];
    let mut used = 0;
    for entry in req.entries {
        let enc = encode_entry(entry, &mut heads)?;
        if enc.len() > budget {
            return Err(FrameError::Invalid(format!(
                "entry {} of {} bytes exceeds the {budget}-byte frame budget",
                enc.log_id,
                enc.len()
            )));
        }
        let current_is_empty = groups.last().is_none_or(Vec::is_empty);
        if used + enc.len() > budget && !current_is_empty {
            groups.push(Vec::new());
            used = 0;
        }
        used += enc.len();
        if let Some(group) = groups.last_mut() {
            group.push(enc);
        }
    }
    let count = groups.len();
    let mut prev = req.prev_log_id;
    let mut pieces = Vec::with_capacity(count);
    for (i, group) in groups.into_iter().enumerate() {
        let last = group.last().map(|e| e.log_id).or(prev);
        // A piece before the last must not announce a commit beyond what it carries.
        let leader_commit = if i + 1 == count {
            req.leader_commit
        } else {
            req.leader_commit.min(last)
        };
        let meta = serde_json::to_vec(&Meta {
            vote: req.vote,
            prev_log_id: prev,
            leader_commit,
        })
        .map_err(|e| FrameError::Invalid(e.to_string()))?;
        if meta.len() > META_MAX_BYTES {
            return Err(FrameError::Invalid(format!(
                "append meta of {} bytes",
                meta.len()
            )));
        }
        let mut start = BytesMut::with_capacity(8 + meta.len());
        start.put_u32(meta.len() as u32);
        start.put_slice(&meta);
        start.put_u32(group.len() as u32);
        let mut body = Vec::with_capacity(1 + 2 * group.len());
        body.push(start.freeze());
        for enc in group {
            body.push(enc.head);
            body.extend(enc.records);
        }
        pieces.push(Piece {
            body,
            prev_log_id: prev,
            last_log_id: last,
        });
        prev = last;
    }
    Ok(pieces)
}

/// Rebuilds a request from a received body. Record payloads are slices of `body`. Counts are
/// checked against the bytes left before anything is allocated, and the entries must follow
/// `prev_log_id` with consecutive indexes and terms that never go down.
pub fn decode(body: &Bytes) -> Result<AppendRequest, FrameError> {
    let mut r = Reader::new(body);
    let meta_len = r.u32("append meta length")? as usize;
    let meta: Meta = serde_json::from_slice(r.take("append meta", meta_len)?)
        .map_err(|e| FrameError::Invalid(format!("append meta: {e}")))?;
    let count = r.u32("entry count")? as usize;
    if count > r.left() / ENTRY_HEADER_BYTES {
        return Err(FrameError::Invalid(format!(
            "{count} entries cannot fit in the {} bytes left",
            r.left()
        )));
    }
    let mut entries = Vec::with_capacity(count);
    let mut prev = meta.prev_log_id;
    for _ in 0..count {
        let term = r.u64("entry term")?;
        let index = r.u64("entry index")?;
        let kind = r.u8("entry kind")?;
        let len = r.u32("entry payload length")? as usize;
        let at = r.position();
        r.take("entry payload", len)?;
        let payload = body.slice(at..at + len);
        let log_id = LogId::new_term_index(term, index);
        let follows = match prev {
            None => index == 0,
            Some(p) => index == p.index + 1 && term >= p.leader_id.term,
        };
        if !follows {
            return Err(FrameError::Invalid(format!(
                "entry {log_id} does not follow {prev:?}"
            )));
        }
        let payload = match kind {
            KIND_BLANK if payload.is_empty() => EntryPayload::Blank,
            KIND_MEMBERSHIP => EntryPayload::Membership(
                serde_json::from_slice(&payload)
                    .map_err(|e| FrameError::Invalid(format!("entry {log_id} membership: {e}")))?,
            ),
            KIND_RECORDS => EntryPayload::Normal(Request::Records(
                RecordBatch::new(payload)
                    .map_err(|e| FrameError::Invalid(format!("entry {log_id}: {e}")))?,
            )),
            KIND_LOG_START => EntryPayload::Normal(Request::MoveLogStart(
                parse_log_start(&payload).ok_or_else(|| {
                    FrameError::Invalid(format!("entry {log_id}: log start without an offset"))
                })?,
            )),
            other => {
                return Err(FrameError::Invalid(format!(
                    "entry {log_id}: kind {other} with {len} payload bytes"
                )));
            }
        };
        entries.push(Entry::new(log_id, payload));
        prev = Some(log_id);
    }
    if r.left() != 0 {
        return Err(FrameError::Invalid(format!(
            "{} bytes after the last entry",
            r.left()
        )));
    }
    Ok(AppendRequest {
        vote: meta.vote,
        prev_log_id: meta.prev_log_id,
        entries,
        leader_commit: meta.leader_commit,
    })
}
