//! Opening a log: find the segments, validate only what a crash can have left unfinished, and
//! rebuild the writer's state. `log.rs` takes the result.
//!
//! | what is found                                   | what it means                    | action          |
//! |-------------------------------------------------|----------------------------------|-----------------|
//! | last segment: valid entries, then zeroes        | clean tail                       | keep            |
//! | last segment: valid entries, then a bad entry   | torn write (crash mid-append)    | cut, zero, warn |
//! | last segment: no valid entry at all             | crash right after a roll         | delete file     |
//! | older segment: valid entries up to its length   | sealed                           | keep            |
//! | older segment: valid entries, then zeroes       | crash before its seal ran        | seal now        |
//! | older segment: a bad entry before its end       | damage to data once synced       | refuse: error   |
//! | segment not following the previous one         | a file is missing or foreign     | refuse: error   |
//! | segment wholly at or below the purge point      | crash during purge               | delete file     |
//! | unreadable purge-point file                     | damage                           | refuse: error   |
//!
//! Only the bytes after the last index record that checks out are read in each segment, so
//! opening a large log costs its index files plus a few KiB per segment.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::Arc;

use super::files::SegmentPaths;
use super::format::{ENTRY_HEADER_BYTES, EntryHeader, IndexRecord};
use super::index;
use super::log::LogConfig;
use super::segment::{Frame, Segment};
use super::state_file::{StateFile, sync_dir};
use super::{EntryId, Error, Result};
use crate::types::{KafkaOffset, LogIndex, Term};

/// Where the log was last purged, stored durably before any segment is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PurgePoint {
    pub last: EntryId,
    /// Offset of the first record kept.
    pub log_start_offset: KafkaOffset,
}

impl PurgePoint {
    pub fn encode(&self) -> [u8; 24] {
        let mut out = [0; 24];
        out[0..8].copy_from_slice(&self.last.index.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.last.term.0.to_le_bytes());
        out[16..24].copy_from_slice(&self.log_start_offset.0.to_le_bytes());
        out
    }

    fn decode(bytes: &[u8]) -> Option<PurgePoint> {
        let b: &[u8; 24] = bytes.try_into().ok()?;
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&b[at..at + 8]);
            w
        };
        Some(PurgePoint {
            last: EntryId {
                index: LogIndex(u64::from_le_bytes(word(0))),
                term: Term(u64::from_le_bytes(word(8))),
            },
            log_start_offset: KafkaOffset(i64::from_le_bytes(word(16))),
        })
    }
}

/// The writer's state rebuilt from disk.
pub(super) struct Recovered {
    pub segments: Vec<Arc<Segment>>,
    pub last: Option<EntryId>,
    pub purged: Option<PurgePoint>,
    pub next_offset: KafkaOffset,
    pub log_start_offset: KafkaOffset,
}

/// Takes an exclusive advisory lock on the directory so two logs never write one directory.
pub(super) fn lock_dir(dir: &Path) -> Result<File> {
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    // SAFETY: plain syscall on an open descriptor.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(Error::Locked {
            path: dir.to_path_buf(),
        });
    }
    Ok(file)
}

/// File name of the purge point, beside the segments.
pub(super) const PURGE_FILE: &str = "log_start";

/// The stored purge point; `None` if the log was never purged.
pub(super) fn load_purge_point(purge_file: &StateFile) -> Result<Option<PurgePoint>> {
    match purge_file.load()? {
        None => Ok(None),
        Some(bytes) => PurgePoint::decode(&bytes)
            .map(Some)
            .ok_or_else(|| Error::CorruptState {
                path: purge_file.path().to_path_buf(),
                reason: format!("{} bytes where 24 were expected", bytes.len()),
            }),
    }
}

pub(super) fn recover(dir: &Path, config: &LogConfig, purge_file: &StateFile) -> Result<Recovered> {
    let purged = load_purge_point(purge_file)?;
    let mut bases = list_segments(dir)?;
    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut last: Option<EntryHeader> = None;
    let count = bases.len();
    for (i, base) in bases.drain(..).enumerate() {
        let is_last = i + 1 == count;
        let Some(seg) = open_segment(dir, base, is_last, config)? else {
            continue;
        };
        let tail = scan_tail(&seg, config, is_last)?;
        if let Some(expected) = last.map(|h| h.index.next())
            && expected != base
        {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: 0,
                reason: format!("segment starts at log index {base}, expected {expected}"),
            });
        }
        last = tail.or(last);
        segments.push(Arc::new(seg));
    }

    if let Some(p) = purged {
        drop_purged_segments(dir, &mut segments, p.last.index)?;
        if let Some(first) = segments.first()
            && first.base_index > p.last.index.next()
        {
            return Err(Error::Corrupt {
                path: first.paths.log.clone(),
                position: 0,
                reason: format!(
                    "log resumes at index {} after purge point {}",
                    first.base_index, p.last.index
                ),
            });
        }
        if last.is_some_and(|h| h.index <= p.last.index) {
            last = None;
        }
    }

    let next_offset = last
        .map(|h| h.end_offset())
        .or(purged.map(|p| p.log_start_offset))
        .unwrap_or(KafkaOffset(0));
    let log_start_offset = match purged {
        Some(p) => p.log_start_offset,
        None => segments.first().map_or(next_offset, |s| s.base_offset),
    };
    Ok(Recovered {
        segments,
        last: last.map(|h| h.id()),
        purged,
        next_offset,
        log_start_offset,
    })
}

/// Base log indexes of the segment files in `dir`, ascending.
pub(super) fn list_segments(dir: &Path) -> Result<Vec<LogIndex>> {
    let mut bases = Vec::new();
    for item in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let item = item.map_err(|e| Error::io(dir, e))?;
        if let Some(base) = item
            .file_name()
            .to_str()
            .and_then(SegmentPaths::parse_base_index)
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

/// Opens one segment file; `None` (after deleting it) for a last segment with no valid entry.
fn open_segment(
    dir: &Path,
    base: LogIndex,
    is_last: bool,
    config: &LogConfig,
) -> Result<Option<Segment>> {
    let paths = SegmentPaths::new(dir, base);
    let file = File::open(&paths.log).map_err(|e| Error::io(&paths.log, e))?;
    let mut head = [0u8; ENTRY_HEADER_BYTES];
    let first = std::os::unix::fs::FileExt::read_exact_at(&file, &mut head, 0)
        .ok()
        .and_then(|()| EntryHeader::decode(&head))
        .filter(|h| h.index == base);
    let Some(first) = first else {
        if is_last {
            tracing::warn!(path = %paths.log.display(), "removing a last segment without a valid entry");
            paths.remove_all()?;
            sync_dir(dir)?;
            return Ok(None);
        }
        return Err(Error::Corrupt {
            path: paths.log.clone(),
            position: 0,
            reason: "first entry unreadable".into(),
        });
    };
    drop(file);
    // The last segment may take appends: map it whole; older ones are mapped as long as they are.
    let capacity = if is_last { config.segment_bytes } else { 0 };
    let seg = Segment::open(
        dir,
        base,
        first.base_offset,
        capacity,
        config.preallocate_step_bytes,
    )?;
    seg.load_indexes()?;
    Ok(Some(seg))
}

/// Validates the segment from its last trustworthy index record to its end, cuts or refuses
/// as the table in the module doc says, rebuilds the index records of the scanned part, and
/// publishes the valid length. Returns the header of the last entry.
fn scan_tail(seg: &Segment, config: &LogConfig, is_last: bool) -> Result<Option<EntryHeader>> {
    let file_len = seg.file_len()?;
    // Nobody reads the segment yet: expose the whole file to the validating scan.
    seg.publish(file_len);
    let start = trusted_start(seg, file_len);
    let mut pos = start.map_or(0, |r| u64::from(r.position));
    let mut found: Vec<(u64, EntryHeader)> = Vec::new();
    let outcome = loop {
        match seg.frame_at(pos, file_len) {
            Frame::Valid(h) => {
                let expected = found
                    .last()
                    .map_or(start.map_or(seg.base_index, |r| r.index), |(_, l)| {
                        l.index.next()
                    });
                if h.index != expected {
                    break Frame::Invalid("log index out of sequence");
                }
                found.push((pos, h));
                pos += h.frame_len();
            }
            other => break other,
        }
    };
    match outcome {
        Frame::End if pos == file_len => seg.mark_sealed(),
        Frame::End if !is_last => {
            tracing::warn!(path = %seg.paths.log.display(), len = pos, "sealing a segment left unsealed by a crash");
        }
        Frame::End => {}
        Frame::Invalid(reason) if is_last => {
            tracing::warn!(path = %seg.paths.log.display(), position = pos, reason, "cutting a torn tail");
            zero_garbage(seg, pos, file_len)?;
        }
        Frame::Invalid(reason) => {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: pos,
                reason: reason.to_string(),
            });
        }
        Frame::Valid(_) => unreachable!("the scan loop consumes valid frames"),
    }
    seg.publish(pos);
    let Some(&(_, last)) = found.last() else {
        return Err(Error::Corrupt {
            path: seg.paths.log.clone(),
            position: pos,
            reason: "segment holds no valid entry".into(),
        });
    };

    // Rebuild the index records of the scanned part; drop any that point past the valid data.
    seg.truncate_indexes(
        start.map_or(0, |r| u64::from(r.position) + 1),
        last.end_offset(),
    )?;
    for &(at, h) in &found {
        if index::due(&seg.index_read(), at, config.index_interval_bytes) {
            seg.push_index(IndexRecord {
                index: h.index,
                base_offset: h.base_offset,
                position: at as u32,
            })?;
        }
        if h.offset_count > 0 {
            seg.note_timestamp(h.max_timestamp);
        }
    }
    if outcome == Frame::End && pos < file_len && !is_last {
        seg.seal().map_err(|e| Error::io(&seg.paths.log, e))?;
    }
    if is_last && !seg.is_sealed() {
        // A segment preallocated whole by an older version gives back what it does not use.
        seg.release_beyond(pos)?;
    }
    Ok(Some(last))
}

/// The last index record whose entry is really there: older records are trusted as they were
/// written before everything they point to was sealed or synced.
fn trusted_start(seg: &Segment, file_len: u64) -> Option<IndexRecord> {
    let records = seg.index_read().clone();
    records.into_iter().rev().find(|r| {
        matches!(seg.frame_at(u64::from(r.position), file_len),
            Frame::Valid(h) if h.index == r.index && h.base_offset == r.base_offset)
    })
}

/// Zeroes the garbage of a torn tail so it cannot later pass for entries. A torn write covers
/// at most what was not yet synced, so the garbage ends at the first all-zero block.
fn zero_garbage(seg: &Segment, from: u64, file_len: u64) -> Result<()> {
    const BLOCK: u64 = 4096;
    let mut end = from;
    while end < file_len {
        let block_end = ((end / BLOCK) + 1) * BLOCK;
        let block_end = block_end.min(file_len);
        if end > from && seg.frame_at(end, file_len) == Frame::End && is_zero(seg, end, block_end) {
            break;
        }
        end = block_end;
    }
    seg.zero_range(from, end)?;
    seg.sync_data().map_err(|e| Error::io(&seg.paths.log, e))
}

fn is_zero(seg: &Segment, from: u64, to: u64) -> bool {
    let mut pos = from;
    while pos < to {
        let n = (to - pos).min(ENTRY_HEADER_BYTES as u64);
        if seg.frame_at(pos, pos + n) != Frame::End {
            return false;
        }
        pos += n;
    }
    true
}

fn drop_purged_segments(
    dir: &Path,
    segments: &mut Vec<Arc<Segment>>,
    purged: LogIndex,
) -> Result<()> {
    let mut removed = false;
    while segments.len() > 1 && segments[1].base_index <= purged.next() {
        segments.remove(0).paths.remove_all()?;
        removed = true;
    }
    if removed {
        sync_dir(dir)?;
    }
    Ok(())
}
