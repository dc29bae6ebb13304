//! The single writer of one log: append, roll, truncate, purge, group-commit flush.
//! `recovery.rs` rebuilds its state on open; `reader.rs` serves reads from what it publishes.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::flush::{Flusher, Job};
use super::format::{ENTRY_HEADER_BYTES, EntryHeader, IndexRecord, TimeRecord};
use super::reader::{LogReader, Shared};
use super::recovery::{self, PurgePoint};
use super::segment::{Frame, Segment};
use super::state_file::{StateFile, sync_dir};
use super::{AppendEntry, EntryId, Error, Result};

/// Limits of one log; units last in every name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Size each new segment file is preallocated to (Kafka `log.segment.bytes`).
    pub segment_bytes: u64,
    /// Bytes between two sparse index records (Kafka `log.index.interval.bytes`).
    pub index_interval_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: 1 << 30,
            index_interval_bytes: 4096,
        }
    }
}

impl LogConfig {
    /// Segment positions are stored as u32, and an entry needs room for its header.
    pub const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;
    pub const MIN_SEGMENT_BYTES: u64 = 1024;
}

pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    shared: Arc<Shared>,
    flusher: Flusher,
    /// Oldest first; the last one takes appends unless it is sealed.
    segments: Vec<Arc<Segment>>,
    /// The last entry present in the log.
    last: Option<EntryId>,
    last_purged: Option<EntryId>,
    next_offset: i64,
    log_start_offset: i64,
    purge_file: StateFile,
    write_buf: Vec<u8>,
    /// Set when a write failed half way: the in-memory view may be ahead of the files.
    broken: Option<String>,
    /// Holds the advisory lock on the directory for the life of the log.
    _lock: File,
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("dir", &self.dir)
            .field("last", &self.last)
            .field("last_purged", &self.last_purged)
            .field("next_offset", &self.next_offset)
            .finish()
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`, validating only the tail of its last segment.
    pub fn open(dir: impl AsRef<Path>, config: LogConfig) -> Result<Log> {
        assert!(
            (LogConfig::MIN_SEGMENT_BYTES..=LogConfig::MAX_SEGMENT_BYTES)
                .contains(&config.segment_bytes),
            "segment_bytes out of range"
        );
        let dir = dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = recovery::lock_dir(&dir)?;
        let purge_file = StateFile::new(dir.join(recovery::PURGE_FILE));
        let state = recovery::recover(&dir, &config, &purge_file)?;
        let flusher = Flusher::start(format!("flush-{}", short_name(&dir)))
            .map_err(|e| Error::io(&dir, e))?;
        let log = Log {
            shared: Arc::new(Shared::default()),
            dir,
            config,
            flusher,
            segments: state.segments,
            last: state.last,
            last_purged: state.purged.map(|p| p.last),
            next_offset: state.next_offset,
            log_start_offset: state.log_start_offset,
            purge_file,
            write_buf: Vec::new(),
            broken: None,
            _lock: lock,
        };
        log.publish();
        Ok(log)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn reader(&self) -> LogReader {
        LogReader {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The last entry present, else the last purged one.
    pub fn last_entry(&self) -> Option<EntryId> {
        self.last.or(self.last_purged)
    }

    pub fn last_purged(&self) -> Option<EntryId> {
        self.last_purged
    }

    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    fn first_index(&self) -> u64 {
        match (self.last_purged, self.segments.first()) {
            (Some(p), _) => p.index + 1,
            (None, Some(seg)) => seg.base_index,
            (None, None) => self.last.map_or(0, |l| l.index),
        }
    }

    /// Makes the writer's view visible to readers.
    fn publish(&self) {
        // The list changes on roll, truncation and purge only; appends leave it as it is.
        let published = self.shared.segments();
        let same = published.len() == self.segments.len()
            && published
                .iter()
                .zip(&self.segments)
                .all(|(a, b)| Arc::ptr_eq(a, b));
        if !same {
            self.shared.set_segments(self.segments.clone());
        }
        let first = self.first_index();
        let end = self.last.map_or(first, |l| l.index + 1);
        self.shared.first_index.store(first, Ordering::Release);
        self.shared.end_index.store(end, Ordering::Release);
        self.shared
            .log_start_offset
            .store(self.log_start_offset, Ordering::Release);
        self.shared
            .next_offset
            .store(self.next_offset, Ordering::Release);
    }

    fn check_running(&self) -> Result<()> {
        match self.broken.clone().or_else(|| self.flusher.failure()) {
            Some(reason) => Err(Error::Failed(reason)),
            None => Ok(()),
        }
    }

    /// Appends entries with contiguous indexes. They are readable when this returns and
    /// durable once a later [`Log::flush`] reports so.
    pub fn append(&mut self, entries: impl IntoIterator<Item = AppendEntry>) -> Result<()> {
        self.check_running()?;
        let result = self.append_entries(entries);
        if let Err(e) = &result
            && !matches!(
                e,
                Error::NonContiguous { .. }
                    | Error::BadRecordEntry { .. }
                    | Error::EntryTooLarge { .. }
            )
        {
            self.broken = Some(e.to_string());
        }
        self.write_buf.clear();
        self.publish();
        result
    }

    fn append_entries(&mut self, entries: impl IntoIterator<Item = AppendEntry>) -> Result<()> {
        let entries: Vec<AppendEntry> = entries.into_iter().collect();
        let mut prev = self.last.or(self.last_purged);
        let mut next_offset = self.next_offset;
        for entry in &entries {
            self.validate(entry, prev, next_offset)?;
            prev = Some(EntryId {
                index: entry.index,
                term: entry.term,
            });
            next_offset += entry.records.map_or(0, |m| i64::from(m.offset_count));
        }
        let mut pending_index: Vec<IndexRecord> = Vec::new();
        let mut batch_start = self.active_len();
        for entry in &entries {
            let frame_len = (ENTRY_HEADER_BYTES + entry.payload_len()) as u64;
            let position = batch_start + self.write_buf.len() as u64;
            let room = self.active().map_or(0, |s| s.capacity());
            if self.active().is_none() || position + frame_len > room {
                self.write_pending(batch_start, &mut pending_index)?;
                self.roll(entry.index)?;
                batch_start = 0;
            }
            let position = batch_start + self.write_buf.len() as u64;
            let header = self.encode(entry);
            let seg = self.active().expect("rolled above");
            if index_due(
                seg,
                &pending_index,
                position,
                self.config.index_interval_bytes,
            ) {
                pending_index.push(IndexRecord {
                    index: entry.index,
                    base_offset: header.base_offset,
                    position: position as u32,
                });
            }
            if entry.records.is_some() {
                seg.note_timestamp(header.max_timestamp);
            }
            self.last = Some(EntryId {
                index: entry.index,
                term: entry.term,
            });
            self.next_offset = header.end_offset();
        }
        self.write_pending(batch_start, &mut pending_index)
    }

    fn active(&self) -> Option<&Arc<Segment>> {
        self.segments.last().filter(|s| !s.is_sealed())
    }

    fn active_len(&self) -> u64 {
        self.active().map_or(0, |s| s.readable_len())
    }

    /// Rejects an entry that does not follow `prev` or cannot be stored, before anything is
    /// written.
    fn validate(&self, entry: &AppendEntry, prev: Option<EntryId>, next_offset: i64) -> Result<()> {
        if let Some(prev) = prev {
            if entry.index != prev.index + 1 {
                return Err(Error::NonContiguous {
                    expected: prev.index + 1,
                    got: entry.index,
                });
            }
            assert!(entry.term >= prev.term, "term went down in the log");
        }
        let frame_len = (ENTRY_HEADER_BYTES + entry.payload_len()) as u64;
        if entry.payload_len() > super::MAX_ENTRY_PAYLOAD_BYTES
            || frame_len > self.config.segment_bytes
        {
            return Err(Error::EntryTooLarge {
                bytes: frame_len,
                segment_bytes: self.config.segment_bytes,
            });
        }
        if let Some(meta) = entry.records {
            let reason = if meta.offset_count == 0 {
                Some("record entry without offsets".to_string())
            } else if meta.base_offset != next_offset {
                Some(format!(
                    "first offset {} where {next_offset} was expected",
                    meta.base_offset
                ))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Error::BadRecordEntry {
                    index: entry.index,
                    reason,
                });
            }
        }
        Ok(())
    }

    /// Frames `entry` into the write buffer at the log's next offset.
    fn encode(&mut self, entry: &AppendEntry) -> EntryHeader {
        let (offset_count, max_timestamp) = entry
            .records
            .map_or((0, i64::MIN), |m| (m.offset_count, m.max_timestamp));
        let header = EntryHeader {
            kind: entry.kind,
            payload_len: entry.payload_len() as u32,
            crc: 0,
            index: entry.index,
            term: entry.term,
            base_offset: self.next_offset,
            offset_count,
            max_timestamp,
        };
        let parts = [&entry.payload[0][..], &entry.payload[1][..]];
        header.encode(&parts, &mut self.write_buf);
        for part in parts {
            self.write_buf.extend_from_slice(part);
        }
        header
    }

    /// Writes the buffered frames to the active segment, then publishes their index records.
    fn write_pending(&mut self, at: u64, index: &mut Vec<IndexRecord>) -> Result<()> {
        if self.write_buf.is_empty() {
            return Ok(());
        }
        let seg = Arc::clone(self.active().expect("frames buffered without a segment"));
        seg.write_at(at, &self.write_buf)?;
        seg.publish(at + self.write_buf.len() as u64);
        self.write_buf.clear();
        for rec in index.drain(..) {
            seg.push_index(rec)?;
            let max = seg.max_timestamp();
            if max != i64::MIN
                && seg
                    .times_read()
                    .last()
                    .is_none_or(|t| t.max_timestamp < max)
            {
                seg.push_time(TimeRecord {
                    max_timestamp: max,
                    base_offset: rec.base_offset,
                })?;
            }
        }
        Ok(())
    }

    /// Seals the active segment (on the flusher, after its pending syncs) and starts a new one
    /// whose first entry will be `base_index`.
    fn roll(&mut self, base_index: u64) -> Result<()> {
        if let Some(old) = self.active() {
            self.flusher.submit(Job::Seal(Arc::clone(old)));
        }
        let seg = Segment::create(
            &self.dir,
            base_index,
            self.next_offset,
            self.config.segment_bytes,
        )?;
        sync_dir(&self.dir)?;
        self.segments.push(Arc::new(seg));
        Ok(())
    }

    /// Calls `done` on the flusher thread once everything appended so far is durable.
    pub fn flush(&self, done: impl FnOnce(std::io::Result<()>) + Send + 'static) {
        if let Some(seg) = self.active() {
            self.flusher.submit(Job::Sync(Arc::clone(seg)));
        }
        self.flusher.submit(Job::Notify(Box::new(done)));
    }

    /// Waits for everything appended so far to be durable (blocking).
    pub fn sync(&self) -> Result<()> {
        if let Some(seg) = self.active() {
            self.flusher.submit(Job::Sync(Arc::clone(seg)));
        }
        self.flusher
            .drain()
            .map_err(|e| Error::Failed(e.to_string()))
    }

    /// Removes every entry after `last_kept` (all of them for `None`), durably, before
    /// returning. Only uncommitted entries are ever cut, so no reader holds them.
    pub fn truncate_after(&mut self, last_kept: Option<u64>) -> Result<()> {
        self.check_running()?;
        let Some(last) = self.last else {
            return Ok(());
        };
        let cut_from = last_kept.map_or(0, |k| k + 1).max(self.first_index());
        if cut_from > last.index {
            return Ok(());
        }
        self.flusher
            .drain()
            .map_err(|e| Error::Failed(e.to_string()))?;
        // Readers stop short of the cut before any byte changes.
        self.last = None;
        self.next_offset = self.log_start_offset;
        self.shared
            .end_index
            .store(cut_from.max(self.first_index()), Ordering::Release);
        while let Some(seg) = self.segments.last() {
            if seg.base_index < cut_from {
                break;
            }
            seg.paths.remove_all()?;
            self.segments.pop();
        }
        if let Some(seg) = self.segments.pop() {
            let seg = self.cut_segment(seg, cut_from)?;
            self.segments.push(seg);
        }
        sync_dir(&self.dir)?;
        self.publish();
        Ok(())
    }

    /// Cuts `seg` before entry `cut_from`, reopening it for appends if it was sealed.
    fn cut_segment(&mut self, seg: Arc<Segment>, cut_from: u64) -> Result<Arc<Segment>> {
        let limit = seg.readable_len();
        let mut pos = super::index::seek_index(&seg.index_read(), cut_from - 1, limit);
        let mut kept = None;
        loop {
            match seg.frame_at(pos, limit) {
                Frame::Valid(h) if h.index < cut_from => {
                    kept = Some(h);
                    pos += h.frame_len();
                }
                Frame::Valid(_) | Frame::End => break,
                Frame::Invalid(reason) => {
                    return Err(Error::Corrupt {
                        path: seg.paths.log.clone(),
                        position: pos,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        let kept = kept.ok_or_else(|| Error::Corrupt {
            path: seg.paths.log.clone(),
            position: pos,
            reason: format!("entry {} not found", cut_from - 1),
        })?;
        let seg = if seg.is_sealed() {
            let reopened = Segment::open(
                &self.dir,
                seg.base_index,
                seg.base_offset,
                self.config.segment_bytes.max(limit),
            )?;
            reopened.load_indexes()?;
            reopened.publish(limit);
            Arc::new(reopened)
        } else {
            seg
        };
        seg.publish(pos);
        seg.zero_range(pos, limit)?;
        seg.truncate_indexes(pos, kept.end_offset())?;
        seg.sync_data().map_err(|e| Error::io(&seg.paths.log, e))?;
        self.last = Some(EntryId {
            index: kept.index,
            term: kept.term,
        });
        self.next_offset = kept.end_offset();
        Ok(seg)
    }

    /// Forgets every entry up to `upto` at once (durably) and deletes the segments that hold
    /// nothing newer. If that empties the log, it continues at `upto.index + 1` and its next
    /// offset becomes `next_offset_if_emptied` when given.
    pub fn purge(&mut self, upto: EntryId, next_offset_if_emptied: Option<i64>) -> Result<()> {
        self.check_running()?;
        if self.last_purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        let emptied = self.last.is_none_or(|l| l.index <= upto.index);
        let log_start_offset = if emptied {
            next_offset_if_emptied.unwrap_or(self.next_offset)
        } else {
            self.reader()
                .entries(upto.index + 1..=upto.index + 1)?
                .first()
                .map_or(self.next_offset, |e| e.base_offset)
        };
        let point = PurgePoint {
            last: upto,
            log_start_offset,
        };
        self.purge_file.store(&point.encode())?;
        self.last_purged = Some(upto);
        self.log_start_offset = log_start_offset;
        if emptied {
            self.last = None;
            self.next_offset = log_start_offset;
        }
        self.publish();

        let keep_from = self.segments.iter().enumerate().position(|(i, _)| {
            let last_in_seg = self.segments.get(i + 1).map(|next| next.base_index - 1);
            match last_in_seg {
                Some(last) => last > upto.index,
                None => !emptied,
            }
        });
        let removed: Vec<_> = self
            .segments
            .drain(..keep_from.unwrap_or(self.segments.len()))
            .collect();
        for seg in &removed {
            seg.paths.remove_all()?;
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        self.publish();
        Ok(())
    }
}

/// Whether the entry at `position` gets an index record, counting records not yet pushed.
fn index_due(seg: &Segment, pending: &[IndexRecord], position: u64, interval: u32) -> bool {
    match pending.last() {
        Some(last) => position >= u64::from(last.position) + u64::from(interval),
        None => super::index::due(&seg.index_read(), position, interval),
    }
}

fn short_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().chars().take(9).collect())
        .unwrap_or_default()
}
