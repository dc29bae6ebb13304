//! One segment: a log file written with `pwrite` and read through a read-only shared mapping,
//! plus its sparse offset and time indexes. All `unsafe` of the storage layer lives here.
//! `log.rs` decides when to create, roll, seal and delete segments.
//!
//! Disk follows data: the mapping covers the whole segment size from the start, but the file
//! is reserved (`posix_fallocate`) one step ahead of the write position, so an empty segment
//! holds one step of disk, and running out of disk is an error from the reserving call. Readers
//! never touch a byte past the published length, which is never past the file's end, so a
//! mapping longer than its file never faults.
//!
//! Memory model: bytes below the published length (`len`, stored with Release after the
//! `pwrite` returns, loaded with Acquire by readers) are written once and then only read. The
//! writer never touches the mapping; it writes through the file descriptor, so no `&mut`
//! slice ever exists next to a reader's `&[u8]`. The one exception is `truncate_after`, which
//! rewinds the length and zeroes uncommitted entries a follower received from a deposed leader;
//! readers serve only committed data (Fetch stops at the high watermark and only a leader
//! replicates from its log), so nobody holds those bytes.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

use super::files::{SegmentPaths, open_rw, read_records};
use super::format::{
    ENTRY_HEADER_BYTES, EntryHeader, INDEX_RECORD_BYTES, IndexRecord, TIME_RECORD_BYTES, TimeRecord,
};
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
    file: File,
    index_file: File,
    time_file: File,
    map: MmapRaw,
    /// Bytes the mapping covers; appends must stay below it.
    capacity: u64,
    /// Bytes of the file reserved on disk (its length); only the writer moves it.
    allocated: AtomicU64,
    /// Bytes reserved at a time ahead of the write position.
    step: u64,
    len: AtomicU64,
    sealed: AtomicBool,
    /// Largest entry timestamp in the segment (i64::MIN when none).
    max_timestamp: AtomicI64,
    index: RwLock<Vec<IndexRecord>>,
    times: RwLock<Vec<TimeRecord>>,
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
    /// Creates a new, empty segment of up to `capacity` bytes with its first `step` reserved.
    /// Running out of disk here is a clear error and leaves no file behind.
    pub fn create(
        dir: &Path,
        base_index: LogIndex,
        base_offset: KafkaOffset,
        capacity: u64,
        step: u64,
    ) -> Result<Segment> {
        let paths = SegmentPaths::new(dir, base_index);
        // A file left by a log that was cut back must not lend its stale bytes to this one.
        paths.remove_all()?;
        let result = open_rw(&paths.log, true)
            .and_then(|_| Self::open(dir, base_index, base_offset, capacity, step))
            .and_then(|seg| {
                seg.reserve(1)?;
                Ok(seg)
            });
        if result.is_err() {
            let _ = paths.remove_all();
        }
        result
    }

    /// Opens an existing segment. `capacity` is the mapped length: 0 (the file length) for a
    /// sealed segment, the segment size for one that will take appends (the file is extended a
    /// `step` at a time as they come). The caller validates the content and publishes the length.
    pub fn open(
        dir: &Path,
        base_index: LogIndex,
        base_offset: KafkaOffset,
        capacity: u64,
        step: u64,
    ) -> Result<Segment> {
        let paths = SegmentPaths::new(dir, base_index);
        let file = open_rw(&paths.log, false)?;
        let file_len = file.metadata().map_err(|e| Error::io(&paths.log, e))?.len();
        let index_file = open_rw(&paths.index, true)?;
        let time_file = open_rw(&paths.time_index, true)?;
        let capacity = capacity.max(file_len);
        if capacity == 0 {
            return Err(Error::Corrupt {
                path: paths.log.clone(),
                position: 0,
                reason: "empty segment file".into(),
            });
        }
        let map = MmapOptions::new()
            .len(capacity as usize)
            .map_raw_read_only(&file)
            .map_err(|e| Error::io(&paths.log, e))?;
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
            sealed: AtomicBool::new(false),
            max_timestamp: AtomicI64::new(i64::MIN),
            index: RwLock::new(Vec::new()),
            times: RwLock::new(Vec::new()),
        })
    }

    pub fn file_len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::io(&self.paths.log, e))?
            .len())
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
        reserve_disk(&self.file, &self.paths.log, allocated, target)?;
        self.allocated.store(target, Ordering::Release);
        Ok(())
    }

    /// Gives back disk reserved more than a step past `end` (the end of the valid data).
    pub fn release_beyond(&self, end: u64) -> Result<()> {
        let keep = end
            .div_ceil(self.step)
            .saturating_mul(self.step)
            .max(self.step)
            .min(self.capacity);
        if self.allocated() > keep && keep >= self.readable_len() {
            self.file
                .set_len(keep)
                .map_err(|e| Error::io(&self.paths.log, e))?;
            self.allocated.store(keep, Ordering::Release);
        }
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

    /// Overwrites `[from, to)` with zeroes so no stale entry can be mistaken for data later.
    pub fn zero_range(&self, from: u64, to: u64) -> Result<()> {
        const CHUNK: usize = 64 << 10;
        let zeroes = vec![0u8; CHUNK];
        let mut at = from;
        while at < to {
            let n = ((to - at) as usize).min(CHUNK);
            self.write_at(at, &zeroes[..n])?;
            at += n as u64;
        }
        Ok(())
    }

    pub fn sync_data(&self) -> std::io::Result<()> {
        self.file.sync_data()
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
            })
            .map_err(std::io::Error::from)?;
        }
        self.file.set_len(len)?;
        self.allocated.store(len, Ordering::Release);
        self.file.sync_all()?;
        self.index_file.sync_data()?;
        self.time_file.sync_data()?;
        self.sealed.store(true, Ordering::Release);
        Ok(())
    }

    pub fn mark_sealed(&self) {
        self.sealed.store(true, Ordering::Release);
    }

    /// Reads the frame at `position`, checking its CRC, within the first `limit` bytes.
    pub fn frame_at(&self, position: u64, limit: u64) -> Frame {
        if position >= limit {
            return Frame::End;
        }
        let avail = (limit - position) as usize;
        // SAFETY: `position < limit <= readable length <= capacity`, and the bytes below the
        // published length are immutable while read (see the module doc).
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

    /// A zero-copy view of `[start, end)`, which must be below the readable length.
    pub fn bytes(self: &Arc<Self>, start: u64, end: u64) -> Bytes {
        assert!(
            start <= end && end <= self.readable_len(),
            "read past readable length"
        );
        Bytes::from_owner(MappedRange {
            segment: Arc::clone(self),
            start: start as usize,
            len: (end - start) as usize,
        })
    }

    /// # Safety
    /// `[position, position + len)` must lie below the published length.
    unsafe fn slice(&self, position: u64, len: usize) -> &[u8] {
        debug_assert!(position + len as u64 <= self.capacity);
        // SAFETY: the mapping covers `capacity` bytes and lives as long as `self`; the caller
        // guarantees the range is published and therefore no longer written.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(position as usize), len) }
    }

    pub fn index_read(&self) -> RwLockReadGuard<'_, Vec<IndexRecord>> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn times_read(&self) -> RwLockReadGuard<'_, Vec<TimeRecord>> {
        self.times.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends an index record to memory and to the `.index` file (a hint, synced at seal).
    pub fn push_index(&self, rec: IndexRecord) -> Result<()> {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        let at = (index.len() * INDEX_RECORD_BYTES) as u64;
        self.index_file
            .write_all_at(&rec.encode(), at)
            .map_err(|e| Error::io(&self.paths.index, e))?;
        index.push(rec);
        Ok(())
    }

    pub fn push_time(&self, rec: TimeRecord) -> Result<()> {
        let mut times = self.times.write().unwrap_or_else(|e| e.into_inner());
        let at = (times.len() * TIME_RECORD_BYTES) as u64;
        self.time_file
            .write_all_at(&rec.encode(), at)
            .map_err(|e| Error::io(&self.paths.time_index, e))?;
        times.push(rec);
        Ok(())
    }

    /// Loads the index files, keeping the valid prefix of each (they are hints).
    pub fn load_indexes(&self) -> Result<()> {
        let index = read_records(&self.index_file, &self.paths.index, IndexRecord::decode)?;
        let times = read_records(&self.time_file, &self.paths.time_index, TimeRecord::decode)?;
        let ts = times.iter().map(|t| t.max_timestamp).max();
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = index;
        *self.times.write().unwrap_or_else(|e| e.into_inner()) = times;
        if let Some(ts) = ts {
            self.note_timestamp(ts);
        }
        Ok(())
    }

    /// Drops index records at or past `position` (and time records at or past `offset`),
    /// in memory and on disk.
    pub fn truncate_indexes(&self, position: u64, offset: KafkaOffset) -> Result<()> {
        let mut index = self.index.write().unwrap_or_else(|e| e.into_inner());
        index.retain(|r| u64::from(r.position) < position);
        self.index_file
            .set_len((index.len() * INDEX_RECORD_BYTES) as u64)
            .map_err(|e| Error::io(&self.paths.index, e))?;
        let mut times = self.times.write().unwrap_or_else(|e| e.into_inner());
        times.retain(|t| t.base_offset < offset);
        self.time_file
            .set_len((times.len() * TIME_RECORD_BYTES) as u64)
            .map_err(|e| Error::io(&self.paths.time_index, e))?;
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
        // SAFETY: `Segment::bytes` checked the range against the published length.
        unsafe { self.segment.slice(self.start as u64, self.len) }
    }
}

/// Reserves disk for `[from, to)` of the file (extending it), so that a full disk shows up as
/// this call's error and never as a fault on a mapped page.
fn reserve_disk(file: &File, path: &Path, from: u64, to: u64) -> Result<()> {
    let bytes = to - from;
    // SAFETY: plain syscall on an open descriptor; no memory is passed.
    let rc = unsafe {
        libc::posix_fallocate(file.as_raw_fd(), from as libc::off_t, bytes as libc::off_t)
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::from_raw_os_error(rc);
    Err(match rc {
        libc::ENOSPC | libc::EDQUOT | libc::EFBIG => Error::NoSpace {
            path: path.to_path_buf(),
            bytes,
            source: err,
        },
        _ => Error::io(path, err),
    })
}
