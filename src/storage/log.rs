//! The single writer of one log: append, roll, group-commit flush.
//! `cut.rs` cuts it at either end; `recovery.rs` rebuilds its state on open; `reader.rs`
//! serves reads from what it publishes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::flush::{Flusher, Job};
use super::format::{ENTRY_HEADER_BYTES, EntryHeader, IndexRecord, TimeRecord};
use super::fs::{self, DirLock, Fs};
use super::reader::{LogReader, Shared};
use super::recovery;
use super::segment::Segment;
use super::state_file::{StateFile, sync_dir};
use super::{AppendEntry, EntryId, Error, Result};
use crate::types::{KafkaOffset, LogIndex};

/// Limits of one log; units last in every name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// Size at which a segment is rolled (Kafka `log.segment.bytes`).
    pub segment_bytes: u64,
    /// Disk reserved at a time ahead of the write position, so disk use follows data.
    pub preallocate_step_bytes: u64,
    /// Bytes between two sparse index records (Kafka `log.index.interval.bytes`).
    pub index_interval_bytes: u32,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig::DEFAULT
    }
}

impl LogConfig {
    pub const DEFAULT: LogConfig = LogConfig {
        segment_bytes: 1 << 30,
        preallocate_step_bytes: crate::config::DEFAULT_PREALLOCATE_STEP_BYTES,
        index_interval_bytes: 4096,
    };

    /// Segment positions are stored as u32, and an entry needs room for its header.
    pub const MAX_SEGMENT_BYTES: u64 = u32::MAX as u64;
    pub const MIN_SEGMENT_BYTES: u64 = 1024;
}

pub struct Log {
    pub(super) dir: PathBuf,
    pub(super) config: LogConfig,
    pub(super) shared: Arc<Shared>,
    pub(super) flusher: Flusher,
    /// Oldest first; the last one takes appends unless it is sealed.
    pub(super) segments: Vec<Arc<Segment>>,
    /// The last entry present in the log.
    pub(super) last: Option<EntryId>,
    pub(super) last_purged: Option<EntryId>,
    pub(super) next_offset: KafkaOffset,
    pub(super) log_start_offset: KafkaOffset,
    pub(super) purge_file: StateFile,
    pub(super) fs: Arc<dyn Fs>,
    write_buf: Vec<u8>,
    /// Set when a write failed half way: the in-memory view may be ahead of the files.
    pub(super) broken: Option<String>,
    /// Holds the lock on the directory for the life of the log.
    _lock: DirLock,
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
        Self::open_on(fs::real(), dir.as_ref(), config)
    }

    /// Opens the log in `dir` of the file system `fs`.
    pub(super) fn open_on(fs: Arc<dyn Fs>, dir: &Path, config: LogConfig) -> Result<Log> {
        assert!(
            (LogConfig::MIN_SEGMENT_BYTES..=LogConfig::MAX_SEGMENT_BYTES)
                .contains(&config.segment_bytes),
            "segment_bytes out of range"
        );
        let dir = dir.to_path_buf();
        fs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let lock = recovery::lock_dir(&*fs, &dir)?;
        let purge_file = StateFile::on(Arc::clone(&fs), dir.join(recovery::PURGE_FILE));
        let state = recovery::recover(&fs, &dir, &config, &purge_file)?;
        let flusher = Flusher::start().map_err(|e| Error::io(&dir, e))?;
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
            fs,
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

    pub fn next_offset(&self) -> KafkaOffset {
        self.next_offset
    }

    pub fn log_start_offset(&self) -> KafkaOffset {
        self.log_start_offset
    }

    pub(super) fn first_index(&self) -> LogIndex {
        match (self.last_purged, self.segments.first()) {
            (Some(p), _) => p.index.next(),
            (None, Some(seg)) => seg.base_index,
            (None, None) => self.last.map_or(LogIndex(0), |l| l.index),
        }
    }

    /// Makes the writer's view visible to readers.
    pub(super) fn publish(&self) {
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
        let end = self.last.map_or(first, |l| l.index.next());
        self.shared.first_index.store(first.0, Ordering::Release);
        self.shared.end_index.store(end.0, Ordering::Release);
        self.shared
            .log_start_offset
            .store(self.log_start_offset.0, Ordering::Release);
        self.shared
            .next_offset
            .store(self.next_offset.0, Ordering::Release);
    }

    pub(super) fn check_running(&self) -> Result<()> {
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
        // A refused entry, or a full disk met before its bytes were written, leaves the log
        // as it was before that entry: the caller may try the rest again.
        if let Err(e) = &result
            && !matches!(
                e,
                Error::NonContiguous { .. }
                    | Error::BadRecordEntry { .. }
                    | Error::EntryTooLarge { .. }
                    | Error::NoSpace { .. }
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
            next_offset = next_offset.plus(entry.records.map_or(0, |m| m.offset_count));
        }
        let mut pending_index: Vec<IndexRecord> = Vec::new();
        let mut batch_start = self.active_len();
        for entry in &entries {
            let frame_len = (ENTRY_HEADER_BYTES + entry.payload_len()) as u64;
            let position = batch_start + self.write_buf.len() as u64;
            let room = self.active().map_or(0, |s| s.capacity());
            // An empty segment takes only the entry its name says (an empty log may start over
            // at another index).
            let misnamed =
                position == 0 && self.active().is_some_and(|s| s.base_index != entry.index);
            if self.active().is_none() || position + frame_len > room || misnamed {
                self.write_pending(batch_start, &mut pending_index)?;
                self.roll(entry.index)?;
                batch_start = 0;
            }
            let position = batch_start + self.write_buf.len() as u64;
            // Disk is reserved before the entry counts as appended: a full disk fails here,
            // and the entries before it are written as they are.
            let reserved = self
                .active()
                .expect("rolled above")
                .reserve(position + frame_len);
            if let Err(e) = reserved {
                self.write_pending(batch_start, &mut pending_index)?;
                return Err(e);
            }
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
    fn validate(
        &self,
        entry: &AppendEntry,
        prev: Option<EntryId>,
        next_offset: KafkaOffset,
    ) -> Result<()> {
        if let Some(prev) = prev {
            if entry.index != prev.index.next() {
                return Err(Error::NonContiguous {
                    expected: prev.index.next(),
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
            seg.push_index(rec);
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
                });
            }
        }
        Ok(())
    }

    /// Seals the active segment and starts a new one whose first entry will be `base_index`.
    /// The seal (on the flusher, after the pending syncs) is durable before the new segment
    /// exists: a crash never leaves a later segment behind an unfinished one, so open can treat
    /// any damage before the last segment as damage.
    /// A new segment that finds no disk leaves the old one sealed and last: the next append
    /// rolls again.
    fn roll(&mut self, base_index: LogIndex) -> Result<()> {
        if let Some(old) = self.active().cloned() {
            if old.readable_len() == 0 {
                // Only an empty log starts anew elsewhere; an empty segment after another one
                // starts where that one ends, and every entry fits an empty segment.
                assert!(
                    self.segments.len() == 1,
                    "rolled away from an empty segment that follows another"
                );
                self.segments.pop();
                old.paths.remove_all(&*self.fs)?;
                sync_dir(&*self.fs, &self.dir)?;
            } else {
                self.flusher.submit(Job::Seal(old));
                self.flusher
                    .drain()
                    .map_err(|e| Error::Failed(e.to_string()))?;
            }
        }
        let seg = Segment::create(
            &*self.fs,
            &self.dir,
            base_index,
            self.next_offset,
            self.config.segment_bytes,
            self.config.preallocate_step_bytes,
        )?;
        sync_dir(&*self.fs, &self.dir)?;
        self.segments.push(Arc::new(seg));
        Ok(())
    }

    /// Seals the active segment once it has taken entries for `max_age_ms` (Kafka's
    /// `segment.ms`), so retention and compaction can reach what it holds; the next append
    /// starts a new one. Returns whether it sealed.
    pub fn roll_if_older(&mut self, max_age_ms: i64, now_ms: i64) -> Result<bool> {
        self.check_running()?;
        let Some(active) = self.active().cloned() else {
            return Ok(false);
        };
        if active.readable_len() == 0 || now_ms.saturating_sub(active.opened_ms()) < max_age_ms {
            return Ok(false);
        }
        self.flusher.submit(Job::Seal(active));
        self.flusher
            .drain()
            .map_err(|e| Error::Failed(e.to_string()))?;
        Ok(true)
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
}

/// Whether the entry at `position` gets an index record, counting records not yet pushed.
fn index_due(seg: &Segment, pending: &[IndexRecord], position: u64, interval: u32) -> bool {
    match pending.last() {
        Some(last) => position >= u64::from(last.position) + u64::from(interval),
        None => super::index::due(&seg.index_read(), position, interval),
    }
}
