//! One segment: a log file written with `pwrite` and read through a read-only shared mapping,
//! plus its sparse offset and time indexes. All `unsafe` of the storage layer lives here (and in
//! the real file system of `fs.rs`).
//! `log.rs` decides when to create, roll, seal and delete segments.
//!
//! Disk follows data: the mapping covers the whole segment size from the start, but the file
//! is reserved (`posix_fallocate`) one step ahead of the write position, so an empty segment
//! holds one step of disk, and running out of disk is an error from the reserving call. Readers
//! never touch a byte past the published length, which is never past the file's end, so a
//! mapping longer than its file never faults.
//!
//! Memory model: bytes below the published length (`len`, stored with Release after the
//! `pwrite` returns, loaded with Acquire by readers) are written once and then only read, for
//! as long as the segment lives: the writer never touches the mapping, it writes through the
//! file, and only past the published length. Cutting the log (`cut.rs`) lowers the published
//! length and moves on to a fresh segment; it never rewrites, zeroes or shrinks bytes a reader
//! may hold, so a zero-copy slice stays what it was even after its entry is cut away. Only
//! recovery cuts a file, before any reader exists. File access goes through `fs.rs`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};

use bytes::Bytes;

use super::files::{SegmentPaths, open, read_records, remove_if_present};
use super::format::{
    ENTRY_HEADER_BYTES, EntryHeader, INDEX_RECORD_BYTES, IndexRecord, TIME_RECORD_BYTES, TimeRecord,
};
use super::fs::{Fs, FsFile, Mapping, OpenMode};
use super::{Error, Result};
use crate::types::{KafkaOffset, LogIndex};

/// What lies at a position of a segment.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Frame {
    /// A whole entry whose checksum matches.
    Valid(EntryHeader),
    /// Nothing written here (zeroes) or the readable end.
    End,
    /// Bytes that are not a valid entry.
    Invalid(&'static str),
}

pub(super) struct Segment {
    pub base_index: LogIndex,
    /// Offset of the first entry (the log's next offset when the segment was created).
    pub base_offset: KafkaOffset,
    pub paths: SegmentPaths,
    file: Box<dyn FsFile>,
    index_file: Box<dyn FsFile>,
    time_file: Box<dyn FsFile>,
    map: Mapping,
    /// Bytes the mapping covers; appends must stay below it.
    capacity: u64,
    /// Bytes of the file reserved on disk (its length); only the writer moves it.
    allocated: AtomicU64,
    /// Bytes reserved at a time ahead of the write position.
    step: u64,
    len: AtomicU64,
    /// The largest length ever published: bytes below it stay as they are even after a cut
    /// lowers `len`, so a reader that looked before the cut may still slice them.
    high: AtomicU64,
    sealed: AtomicBool,
    /// Largest entry timestamp in the segment (i64::MIN when none).
    max_timestamp: AtomicI64,
    /// When the segment started taking entries (ms since the epoch), for `segment.ms`.
    opened_ms: AtomicI64,
    index: RwLock<Vec<IndexRecord>>,
    times: RwLock<Vec<TimeRecord>>,
    /// How many index and time records the files hold. A record reaches its file only once
    /// the entry it points at is durable, so one found on disk never points at lost data.
    on_disk: Mutex<(usize, usize)>,
}

impl std::fmt::Debug for Segment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segment")
            .field("path", &self.paths.log)
            .field("len", &self.readable_len())
            .field("sealed", &self.is_sealed())
            .finish()
    }
}

impl Segment {
    /// Creates a new, empty segment of up to `capacity` bytes with its first `step` reserved,
    /// replacing in one rename any file of the same name (a segment cut away whole). Running out
    /// of disk here is a clear error and leaves no file behind. The name is durable once the
    /// caller syncs the directory.
    pub fn create(
        fs: &dyn Fs,
        dir: &Path,
        base_index: LogIndex,
        base_offset: KafkaOffset,
        capacity: u64,
        step: u64,
    ) -> Result<Segment> {
        let paths = SegmentPaths::new(dir, base_index);
        // Hints of a segment this one replaces must not describe it.
        paths.remove_indexes(fs)?;
        let fresh = paths.new_log();
        let prepared = open(fs, &fresh, OpenMode::Truncate).and_then(|file| {
            reserve_disk(&*file, &paths.log, 0, step.max(1).min(capacity))?;
            fs.rename(&fresh, &paths.log)
                .map_err(|e| Error::io(&paths.log, e))
        });
        if let Err(e) = prepared {
            let _ = remove_if_present(fs, &fresh);
            return Err(e);
        }
        Self::open(fs, dir, base_index, base_offset, capacity, step)
    }

    /// Opens an existing segment. `capacity` is the mapped length: 0 (the file length) for a
    /// sealed segment, the segment size for one that will take appends (the file is extended a
    /// `step` at a time as they come). The caller validates the content and publishes the length.
    pub fn open(
        fs: &dyn Fs,
        dir: &Path,
        base_index: LogIndex,
        base_offset: KafkaOffset,
        capacity: u64,
        step: u64,
    ) -> Result<Segment> {
        let paths = SegmentPaths::new(dir, base_index);
        let file = open(fs, &paths.log, OpenMode::Existing)?;
        let file_len = file.len().map_err(|e| Error::io(&paths.log, e))?;
        let index_file = open(fs, &paths.index, OpenMode::Create)?;
        let time_file = open(fs, &paths.time_index, OpenMode::Create)?;
        let capacity = capacity.max(file_len);
        if capacity == 0 {
            return Err(Error::Corrupt {
                path: paths.log.clone(),
                position: 0,
                reason: "empty segment file".into(),
            });
        }
        let map = file.map(capacity).map_err(|e| Error::io(&paths.log, e))?;
        Ok(Segment {
            base_index,
            base_offset,
            paths,
            file,
            index_file,
            time_file,
            map,
            capacity,
            allocated: AtomicU64::new(file_len),
            step: step.max(1),
            len: AtomicU64::new(0),
            high: AtomicU64::new(0),
            sealed: AtomicBool::new(false),
            max_timestamp: AtomicI64::new(i64::MIN),
            opened_ms: AtomicI64::new(now_ms()),
            index: RwLock::new(Vec::new()),
            times: RwLock::new(Vec::new()),
            on_disk: Mutex::new((0, 0)),
        })
    }

    pub fn file_len(&self) -> Result<u64> {
        self.file.len().map_err(|e| Error::io(&self.paths.log, e))
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes readers may look at.
    pub fn readable_len(&self) -> u64 {
        self.len.load(Ordering::Acquire)
    }

    /// Makes everything below `len` visible to readers. The bytes must already be written.
    pub fn publish(&self, len: u64) {
        assert!(len <= self.capacity, "published length beyond the mapping");
        self.high.fetch_max(len, Ordering::AcqRel);
        self.len.store(len, Ordering::Release);
    }

    pub fn is_sealed(&self) -> bool {
        self.sealed.load(Ordering::Acquire)
    }

    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp.load(Ordering::Acquire)
    }

    pub fn note_timestamp(&self, ts: i64) {
        self.max_timestamp.fetch_max(ts, Ordering::AcqRel);
    }

    /// Bytes of disk the file holds.
    pub fn allocated(&self) -> u64 {
        self.allocated.load(Ordering::Acquire)
    }

    /// Makes sure the file reaches `end`, reserving whole steps (never past the capacity).
    pub fn reserve(&self, end: u64) -> Result<()> {
        let allocated = self.allocated();
        if end <= allocated {
            return Ok(());
        }
        let target = end.div_ceil(self.step).saturating_mul(self.step);
        let target = target.min(self.capacity).max(end);
        reserve_disk(&*self.file, &self.paths.log, allocated, target)?;
        self.allocated.store(target, Ordering::Release);
        Ok(())
    }

    /// Cuts the file to `len` and makes that durable. Only while nobody reads the segment (on
    /// open): a reader's view past the new end would fault.
    pub fn cut_file_unread(&self, len: u64) -> Result<()> {
        let io = |e| Error::io(&self.paths.log, e);
        self.file.set_len(len).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.allocated.store(len, Ordering::Release);
        self.len
            .store(len.min(self.readable_len()), Ordering::Release);
        self.high
            .store(len.min(self.readable_len()), Ordering::Release);
        Ok(())
    }

    /// Writes bytes at `position` through the file (never through the mapping), reserving disk
    /// for them first.
    pub fn write_at(&self, position: u64, bytes: &[u8]) -> Result<()> {
        assert!(
            position + bytes.len() as u64 <= self.capacity,
            "write beyond segment capacity"
        );
        self.reserve(position + bytes.len() as u64)?;
        self.file
            .write_all_at(bytes, position)
            .map_err(|e| Error::io(&self.paths.log, e))
    }

    /// Makes the published part durable, then hands the index records that point into it to
    /// their files. Runs on the flusher thread.
    pub fn sync(&self) -> std::io::Result<()> {
        let synced = self.readable_len();
        self.file.sync_data()?;
        self.persist_indexes(synced).map_err(std::io::Error::from)
    }

    /// Shrinks the file to its written length and makes it and its indexes durable. Runs on the
    /// flusher thread, in order with the syncs of the entries it holds.
    pub fn seal(&self) -> std::io::Result<()> {
        let len = self.readable_len();
        let ts = self.max_timestamp();
        let last_time = self.times_read().last().map(|t| t.max_timestamp);
        if ts != i64::MIN && last_time.is_none_or(|t| t < ts) {
            // Record the segment's final maximum so retention and time lookups need no scan.
            let last_offset = self
                .index_read()
                .last()
                .map_or(self.base_offset, |r| r.base_offset);
            self.push_time(TimeRecord {
                max_timestamp: ts,
                base_offset: last_offset,
            });
        }
        self.file.set_len(len)?;
        self.allocated.store(len, Ordering::Release);
        self.file.sync_all()?;
        self.persist_indexes(len)?;
        self.index_file.sync_data()?;
        self.time_file.sync_data()?;
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }

    /// When the segment started taking entries: its creation, or for a segment found on open,
    /// its first record's timestamp when it has one (Kafka rolls by that too).
    pub fn opened_ms(&self) -> i64 {
        self.opened_ms.load(Ordering::Acquire)
    }

    pub fn set_opened_ms(&self, ms: i64) {
        self.opened_ms.store(ms, Ordering::Release);
    }

    pub fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// Reads the frame at `position`, checking its CRC, within the first `limit` bytes.
    pub fn frame_at(&self, position: u64, limit: u64) -> Frame {
        if position >= limit {
            return Frame::End;
        }
        assert!(
            limit <= self.high.load(Ordering::Acquire),
            "frame read past published length"
        );
        let avail = (limit - position) as usize;
        // SAFETY: `position < limit <=` a length once published `<= capacity`, and bytes below
        // a published length are never written again (see the module doc).
        let head = unsafe { self.slice(position, avail.min(ENTRY_HEADER_BYTES)) };
        if head.first() == Some(&0) && head.iter().all(|&b| b == 0) {
            return Frame::End;
        }
        let Some(header) = EntryHeader::decode(head) else {
            return Frame::Invalid(if avail < ENTRY_HEADER_BYTES {
                "header cut short"
            } else {
                "bad magic byte"
            });
        };
        if header.frame_len() > avail as u64 {
            return Frame::Invalid("entry runs past the end of written data");
        }
        // SAFETY: as above; the whole frame lies below `limit`.
        let frame = unsafe { self.slice(position, header.frame_len() as usize) };
        if !header.crc_matches(frame) {
            return Frame::Invalid("checksum mismatch");
        }
        Frame::Valid(header)
    }

    /// A zero-copy view of `[start, end)`, which must lie below a length once published
    /// (a cut may have lowered the readable length since the caller looked: those bytes stay).
    pub fn bytes(self: &Arc<Self>, start: u64, end: u64) -> Bytes {
        assert!(
            start <= end && end <= self.high.load(Ordering::Acquire),
            "read past published length"
        );
        Bytes::from_owner(MappedRange {
            segment: Arc::clone(self),
            start: start as usize,
            len: (end - start) as usize,
        })
    }

    /// The bytes of `[start, end)`, which must lie below the readable length.
    pub fn published(&self, start: u64, end: u64) -> &[u8] {
        assert!(
            start <= end && end <= self.readable_len(),
            "read past readable length"
        );
        // SAFETY: the range is below the readable length, and published bytes are never
        // written again.
        unsafe { self.slice(start, (end - start) as usize) }
    }

    /// # Safety
    /// `[position, position + len)` must lie below a length once published.
    unsafe fn slice(&self, position: u64, len: usize) -> &[u8] {
        debug_assert!(position + len as u64 <= self.capacity);
        // SAFETY: the mapping covers `capacity` bytes and lives as long as `self`; the caller
        // guarantees the range lies below a length once published, and therefore is no longer
        // written.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(position as usize), len) }
    }

    pub fn index_read(&self) -> RwLockReadGuard<'_, Vec<IndexRecord>> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn times_read(&self) -> RwLockReadGuard<'_, Vec<TimeRecord>> {
        self.times.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an index record in memory; it reaches the `.index` file once its entry is synced.
    pub fn push_index(&self, rec: IndexRecord) {
        self.index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec);
    }

    pub fn push_time(&self, rec: TimeRecord) {
        self.times
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(rec);
    }

    /// Writes to their files the index records pointing below `synced` (durable data) and the
    /// time records up to the last of those entries. The files themselves are synced at seal:
    /// they are hints, and a record lost in a crash is rebuilt on open.
    fn persist_indexes(&self, synced: u64) -> Result<()> {
        let mut on_disk = self.on_disk.lock().unwrap_or_else(|e| e.into_inner());
        let (index_count, time_count) = *on_disk;
        let (index_bytes, last_offset, new_index_count) = {
            let index = self.index_read();
            let ready = index.partition_point(|r| u64::from(r.position) < synced);
            let mut bytes = Vec::new();
            for rec in index.get(index_count..ready).unwrap_or_default() {
                bytes.extend_from_slice(&rec.encode());
            }
            let last = ready.checked_sub(1).map(|i| index[i].base_offset);
            (bytes, last, ready.max(index_count))
        };
        if !index_bytes.is_empty() {
            self.index_file
                .write_all_at(&index_bytes, (index_count * INDEX_RECORD_BYTES) as u64)
                .map_err(|e| Error::io(&self.paths.index, e))?;
        }
        let (time_bytes, new_time_count) = {
            let times = self.times_read();
            let ready = match last_offset {
                Some(offset) => times.partition_point(|t| t.base_offset <= offset),
                None => 0,
            };
            let mut bytes = Vec::new();
            for rec in times.get(time_count..ready).unwrap_or_default() {
                bytes.extend_from_slice(&rec.encode());
            }
            (bytes, ready.max(time_count))
        };
        if !time_bytes.is_empty() {
            self.time_file
                .write_all_at(&time_bytes, (time_count * TIME_RECORD_BYTES) as u64)
                .map_err(|e| Error::io(&self.paths.time_index, e))?;
        }
        *on_disk = (new_index_count, new_time_count);
        Ok(())
    }

    /// Loads the index files, keeping the valid prefix of each (they are hints).
    pub fn load_indexes(&self) -> Result<()> {
        let index = read_records(&*self.index_file, &self.paths.index, IndexRecord::decode)?;
        let times = read_records(&*self.time_file, &self.paths.time_index, TimeRecord::decode)?;
        let ts = times.iter().map(|t| t.max_timestamp).max();
        *self.on_disk.lock().unwrap_or_else(|e| e.into_inner()) = (index.len(), times.len());
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
        *self.times.write().unwrap_or_else(|e| e.into_inner()) = times;
        if let Some(ts) = ts {
            self.note_timestamp(ts);
        }
        Ok(())
    }

    /// Drops index records at or past `position` (and time records at or past `offset`), in
    /// memory and in the files; with `durable`, the shorter files are synced, so that no dropped
    /// record can come back in a crash and vouch for data written later at its position.
    pub fn truncate_indexes(
        &self,
        position: u64,
        offset: KafkaOffset,
        durable: bool,
    ) -> Result<()> {
        let mut on_disk = self.on_disk.lock().unwrap_or_else(|e| e.into_inner());
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.retain(|r| u64::from(r.position) < position);
        let mut times = self.times.write().unwrap_or_else(|e| e.into_inner());
        times.retain(|t| t.base_offset < offset);
        *on_disk = (on_disk.0.min(index.len()), on_disk.1.min(times.len()));
        let files = [
            (
                &self.index_file,
                &self.paths.index,
                on_disk.0 * INDEX_RECORD_BYTES,
            ),
            (
                &self.time_file,
                &self.paths.time_index,
                on_disk.1 * TIME_RECORD_BYTES,
            ),
        ];
        for (file, path, len) in files {
            let io = |e| Error::io(path, e);
            // Only a file holding more than its kept records changes (a torn record and what
            // follows it go too); opening an intact log syncs nothing here.
            if file.len().map_err(io)? > len as u64 {
                file.set_len(len as u64).map_err(io)?;
                if durable {
                    file.sync_data().map_err(io)?;
                }
            }
        }
        let ts = times
            .iter()
            .map(|t| t.max_timestamp)
            .max()
            .unwrap_or(i64::MIN);
        self.max_timestamp.store(ts, Ordering::Release);
        Ok(())
    }
}

/// Owner of a `Bytes` that points into a segment mapping; keeps the mapping alive.
struct MappedRange {
    segment: Arc<Segment>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for MappedRange {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `Segment::bytes` checked the range against the largest published length.
        unsafe { self.segment.slice(self.start as u64, self.len) }
    }
}

/// Reserves disk for `[from, to)` of the file (extending it), so that a full disk shows up as
/// this call's error and never as a fault on a mapped page.
fn reserve_disk(file: &dyn FsFile, path: &Path, from: u64, to: u64) -> Result<()> {
    let bytes = to - from;
    file.allocate(from, to)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => Error::NoSpace {
                path: path.to_path_buf(),
                bytes,
                source: err,
            },
            _ => Error::io(path, err),
        })
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
