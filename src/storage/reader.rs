//! Reads by log index (Raft replication) and by offset or timestamp (Fetch, ListOffsets), as
//! zero-copy slices of the segment mappings. Every entry returned has had its CRC checked.
//! `log.rs` is the single writer that publishes what readers may see.

use std::ops::{Bound, RangeBounds};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering, fence};
use std::sync::{Arc, RwLock};

use super::format::{ENTRY_HEADER_BYTES, EntryHeader};
use super::index;
use super::retention::{self, RetentionPolicy};
use super::segment::{Frame, Segment};
use super::{Error, RecordSlices, Result, StoredEntry};
use crate::types::{KafkaOffset, LogIndex, Term};

/// What the writer publishes to readers.
#[derive(Debug, Default)]
pub(super) struct Shared {
    segments: RwLock<Arc<Vec<Arc<Segment>>>>,
    /// Lowest readable log index (entries below were purged).
    pub first_index: AtomicU64,
    /// One past the last readable log index; equal to `first_index` when the log is empty.
    pub end_index: AtomicU64,
    pub log_start_offset: AtomicI64,
    pub next_offset: AtomicI64,
    /// Odd while `truncate_after` cuts the log, bumped once as it starts and once as it ends.
    pub cuts: AtomicU64,
}

impl Shared {
    pub fn segments(&self) -> Arc<Vec<Arc<Segment>>> {
        Arc::clone(&self.segments.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn set_segments(&self, segments: Vec<Arc<Segment>>) {
        *self.segments.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(segments);
    }
}

/// A cheap, cloneable read handle on a [`super::Log`].
#[derive(Debug, Clone)]
pub struct LogReader {
    pub(super) shared: Arc<Shared>,
}

impl LogReader {
    pub fn log_start_offset(&self) -> KafkaOffset {
        KafkaOffset(self.shared.log_start_offset.load(Ordering::Acquire))
    }

    /// The offset the next record entry will get (the log end offset).
    pub fn next_offset(&self) -> KafkaOffset {
        KafkaOffset(self.shared.next_offset.load(Ordering::Acquire))
    }

    /// The present entries within `range`, in order.
    ///
    /// A read that overlaps a cut of the log (`truncate_after`) may look at the segment list,
    /// lengths and end from before and after it: what it then finds out of place is read again
    /// once the cut is done, never reported as damage. The bytes it returns never change.
    pub fn entries(&self, range: impl RangeBounds<LogIndex>) -> Result<Vec<StoredEntry>> {
        let raw = |b: Bound<&LogIndex>| b.map(|i| i.0);
        let range = (raw(range.start_bound()), raw(range.end_bound()));
        loop {
            let cuts = self.shared.cuts.load(Ordering::SeqCst);
            let result = self.entries_once(range);
            fence(Ordering::Acquire);
            match result {
                Err(Error::Corrupt { .. })
                    if cuts % 2 == 1 || self.shared.cuts.load(Ordering::SeqCst) != cuts =>
                {
                    std::thread::yield_now();
                }
                other => return other,
            }
        }
    }

    fn entries_once(&self, range: (Bound<u64>, Bound<u64>)) -> Result<Vec<StoredEntry>> {
        let (LogIndex(first), LogIndex(end)) = self.index_bounds();
        let lo = match range.0 {
            Bound::Included(i) => i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(first);
        let hi = match range.1 {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => i,
            Bound::Unbounded => u64::MAX,
        }
        .min(end);
        let mut out = Vec::new();
        if lo >= hi {
            return Ok(out);
        }
        let segments = self.shared.segments();
        let start = segments
            .partition_point(|s| s.base_index.0 <= lo)
            .saturating_sub(1);
        let mut want = lo;
        for seg in &segments[start..] {
            let limit = seg.readable_len();
            let mut pos = index::seek_index(&seg.index_read(), LogIndex(want), limit);
            let mut found: Vec<(u64, EntryHeader)> = Vec::new();
            while want < hi {
                let header = match checked_frame(seg, pos, limit)? {
                    Some(h) => h,
                    None => break,
                };
                if header.index.0 >= want {
                    if header.index.0 != want {
                        return Err(corrupt(seg, pos, "log index out of sequence"));
                    }
                    found.push((pos, header));
                    want += 1;
                }
                pos += header.frame_len();
            }
            extend_with_payloads(seg, &found, &mut out, stored);
            if want >= hi {
                break;
            }
        }
        Ok(out)
    }

    /// Record entries from the one holding `offset` on, ending before `limit_offset` (the
    /// high watermark), up to `max_bytes` except that the first entry is returned whole
    /// whatever its size. Empty when `offset` is outside `[log start, min(limit, end))`.
    pub fn read_records(
        &self,
        offset: KafkaOffset,
        max_bytes: usize,
        limit_offset: KafkaOffset,
    ) -> Result<RecordSlices> {
        let mut out = RecordSlices::default();
        let limit_offset = limit_offset.min(self.next_offset());
        if offset < self.log_start_offset() || offset >= limit_offset {
            return Ok(out);
        }
        let (first_index, _) = self.index_bounds();
        let segments = self.shared.segments();
        let start = segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        let mut payloads = Vec::new();
        'segments: for seg in &segments[start..] {
            let limit = seg.readable_len();
            let mut pos = index::seek_offset(&seg.index_read(), offset, limit);
            let mut found: Vec<(u64, EntryHeader)> = Vec::new();
            while let Some(header) = checked_frame(seg, pos, limit)? {
                pos += header.frame_len();
                if header.offset_count == 0
                    || header.end_offset() <= offset
                    || header.index < first_index
                {
                    continue;
                }
                let len = header.payload_len as usize;
                let full = header.end_offset() > limit_offset
                    || (out.bytes > 0 && out.bytes + len > max_bytes);
                if full {
                    extend_with_payloads(seg, &found, &mut payloads, |_, p| p);
                    break 'segments;
                }
                out.bytes += len;
                found.push((pos - header.frame_len(), header));
            }
            extend_with_payloads(seg, &found, &mut payloads, |_, p| p);
        }
        out.batches = payloads;
        Ok(out)
    }

    /// The last entry of the newest segment that `policy` lets go at `now_ms`: the point to
    /// purge up to (Raft's purge deletes whole segments at such a point). `None` when nothing
    /// is due.
    pub fn retention_point(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<Option<StoredEntry>> {
        let segments = self.shared.segments();
        let count = retention::deletable_segments(&segments, policy, now_ms);
        let Some(last_index) = segments
            .get(count)
            .filter(|_| count > 0)
            .and_then(|next| next.base_index.prev())
        else {
            return Ok(None);
        };
        self.entry_at(last_index)
    }

    /// The entry at log index `index`, if present.
    pub fn entry_at(&self, index: LogIndex) -> Result<Option<StoredEntry>> {
        Ok(self.entries(index..=index)?.pop())
    }

    /// The first present entry whose term is above `term`. Terms never decrease along the
    /// log, so a binary search finds it reading a logarithmic number of entries.
    pub fn first_entry_above_term(&self, term: Term) -> Result<Option<StoredEntry>> {
        let (LogIndex(mut lo), LogIndex(end)) = self.index_bounds();
        let mut hi = end;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.entry_at(LogIndex(mid))? {
                Some(entry) if entry.term > term => hi = mid,
                Some(_) => lo = mid + 1,
                // Purged under us: everything left of the new start is gone anyway.
                None => lo = mid + 1,
            }
        }
        if lo >= end {
            return Ok(None);
        }
        self.entry_at(LogIndex(lo))
    }

    /// The first present log index and one past the last.
    pub fn index_bounds(&self) -> (LogIndex, LogIndex) {
        let first = self.shared.first_index.load(Ordering::Acquire);
        let end = self.shared.end_index.load(Ordering::Acquire);
        (LogIndex(first), LogIndex(end.max(first)))
    }

    /// The largest timestamp of any record entry present (`None` without records).
    pub fn max_timestamp(&self) -> Option<i64> {
        self.shared
            .segments()
            .iter()
            .map(|s| s.max_timestamp())
            .max()
            .filter(|ts| *ts != i64::MIN)
    }

    /// The first record entry holding a timestamp at or above `ts`: its base offset and its
    /// largest timestamp.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(KafkaOffset, i64)>> {
        let (first_index, _) = self.index_bounds();
        for seg in self.shared.segments().iter() {
            if seg.max_timestamp() < ts {
                continue;
            }
            let limit = seg.readable_len();
            let mut pos = match index::seek_time(&seg.times_read(), ts) {
                Some(offset) => index::seek_offset(&seg.index_read(), offset, limit),
                None => 0,
            };
            while let Some(header) = checked_frame(seg, pos, limit)? {
                pos += header.frame_len();
                if header.offset_count > 0
                    && header.index >= first_index
                    && header.max_timestamp >= ts
                {
                    return Ok(Some((header.base_offset, header.max_timestamp)));
                }
            }
        }
        Ok(None)
    }
}

/// The valid entry at `pos`, `None` at the end of written data, an error for damage.
fn checked_frame(seg: &Segment, pos: u64, limit: u64) -> Result<Option<EntryHeader>> {
    match seg.frame_at(pos, limit) {
        Frame::Valid(h) => Ok(Some(h)),
        Frame::End if pos >= limit => Ok(None),
        Frame::End => Err(corrupt(seg, pos, "zeroes inside written data")),
        Frame::Invalid(reason) => Err(corrupt(seg, pos, reason)),
    }
}

fn corrupt(seg: &Segment, position: u64, reason: &str) -> Error {
    Error::Corrupt {
        path: seg.paths.log.clone(),
        position,
        reason: reason.to_string(),
    }
}

/// Slices the payloads of `found` (consecutive frames) out of one shared view of the segment.
fn extend_with_payloads<T>(
    seg: &Arc<Segment>,
    found: &[(u64, EntryHeader)],
    out: &mut Vec<T>,
    make: impl Fn(&EntryHeader, bytes::Bytes) -> T,
) {
    let (Some((first, _)), Some((last, last_h))) = (found.first(), found.last()) else {
        return;
    };
    let view = seg.bytes(*first, last + last_h.frame_len());
    for (pos, h) in found {
        let start = (pos - first) as usize + ENTRY_HEADER_BYTES;
        out.push(make(h, view.slice(start..start + h.payload_len as usize)));
    }
}

pub(super) fn stored(h: &EntryHeader, payload: bytes::Bytes) -> StoredEntry {
    StoredEntry {
        index: h.index,
        term: h.term,
        kind: h.kind,
        base_offset: h.base_offset,
        offset_count: h.offset_count,
        max_timestamp: h.max_timestamp,
        payload,
    }
}
