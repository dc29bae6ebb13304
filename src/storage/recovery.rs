//! Opening a log: find the segments, validate only what a crash can have left unfinished, and
//! rebuild the writer's state. `log.rs` takes the result.
//!
//! What a crash can leave follows from the order the writer keeps: a segment is sealed (synced
//! whole) before the next one is created; entries are acknowledged only once synced; an index
//! record reaches its file only once its entry is synced; a cut (`cut.rs`) creates the segment
//! that starts at the cut before it removes anything, and never rewrites an older segment. Bytes
//! an unsynced write puts on disk land where zeroes were (fresh or durably cut disk), a 512-byte
//! sector at a time, in any order.
//!
//! | what is found                                       | what it means                  | action           |
//! |-----------------------------------------------------|--------------------------------|------------------|
//! | last segment: valid entries, then zeroes            | clean tail                     | keep             |
//! | last segment: valid entries, then an entry with an  | torn write (power cut          | cut, warn        |
//! |   all-zero sector or running past the file's end    |   mid-append)                  |                  |
//! | last segment: valid entries, then a whole entry     | damage to data once synced     | refuse: error    |
//! |   that does not check out, or one an index record   |                                |                  |
//! |   on disk vouches for                               |                                |                  |
//! | last segment: anything past the valid entries       | unsynced leftovers             | cut the file     |
//! | last segment: no valid entry, a segment before it   | crash right after a roll or a  | keep it empty    |
//! |   that reaches its base                             |   cut                          |                  |
//! | last segment: no valid entry, nothing it bounds     | crash right after a roll       | delete file      |
//! | older segment: entries up to the next one's base    | sealed (a cut one has a dead   | keep, shrink the |
//! |                                                     |   tail past it)                |   file to it     |
//! | older segment: no entry at all (zeroes)             | a cut that did not finish      | delete the later |
//! |                                                     |                                |   segments       |
//! | older segment: a bad entry before the next's base   | damage to data once synced     | refuse: error    |
//! | older segment: entries end before the next's base   | a file is missing or foreign   | refuse: error    |
//! | segment wholly at or below the purge point          | crash during purge             | delete file      |
//! | unreadable purge-point file                         | damage                         | refuse: error    |
//! | `*.log.new` file                                    | crash while creating a segment | delete file      |
//!
//! Only the bytes after the last index record that checks out are read in each segment, so
//! opening a large log costs its index files plus a few KiB per segment. The last segment's
//! valid part is synced before the log is used: what a crashed process left in the page cache
//! becomes durable before anyone relies on it.

use std::path::Path;
use std::sync::Arc;

use super::files::{NEW_SEGMENT_SUFFIX, SegmentPaths, open, remove_if_present};
use super::format::{ENTRY_HEADER_BYTES, EntryHeader, IndexRecord};
use super::fs::{DirLock, Fs, OpenMode};
use super::index;
use super::log::{Log, LogConfig};
use super::segment::{Frame, Segment};
use super::state_file::{StateFile, sync_dir};
use super::{EntryId, Error, Result};

/// The unit a disk writes whole: a torn write leaves each one old or new.
const SECTOR_BYTES: u64 = 512;
/// How far past a damaged entry open looks for the entry after it.
const RESYNC_SEARCH_BYTES: u64 = 16 << 20;

/// Where the log was last purged, stored durably before any segment is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PurgePoint {
    pub last: EntryId,
    /// Offset of the first record kept.
    pub log_start_offset: i64,
}

impl PurgePoint {
    pub fn encode(&self) -> [u8; 24] {
        let mut out = [0; 24];
        out[0..8].copy_from_slice(&self.last.index.to_le_bytes());
        out[8..16].copy_from_slice(&self.last.term.to_le_bytes());
        out[16..24].copy_from_slice(&self.log_start_offset.to_le_bytes());
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
                index: u64::from_le_bytes(word(0)),
                term: u64::from_le_bytes(word(8)),
            },
            log_start_offset: i64::from_le_bytes(word(16)),
        })
    }
}

/// The writer's state rebuilt from disk.
pub(super) struct Recovered {
    pub segments: Vec<Arc<Segment>>,
    pub last: Option<EntryId>,
    pub purged: Option<PurgePoint>,
    pub next_offset: i64,
    pub log_start_offset: i64,
}

/// Takes an exclusive lock on the directory so two logs never write one directory.
pub(super) fn lock_dir(fs: &dyn Fs, dir: &Path) -> Result<DirLock> {
    match fs.lock_dir(dir) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(Error::Locked {
            path: dir.to_path_buf(),
        }),
        Err(e) => Err(Error::io(dir.join(".lock"), e)),
    }
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


/// What the first bytes of a segment file hold.
enum Head {
    /// Zeroes, or nothing: no entry was ever made durable in it.
    Empty,
    Entry(EntryHeader),
    Bad,
}

pub(super) fn recover(
    fs: &Arc<dyn Fs>,
    dir: &Path,
    config: &LogConfig,
    purge_file: &StateFile,
) -> Result<Recovered> {
    let purged = load_purge_point(purge_file)?;
    for name in fs.list(dir).map_err(|e| Error::io(dir, e))? {
        if name.ends_with(NEW_SEGMENT_SUFFIX) {
            remove_if_present(&**fs, &dir.join(name))?;
        }
    }
    let mut bases = list_segments(&**fs, dir)?;
    let mut heads = bases
        .iter()
        .map(|&base| read_head(&**fs, dir, base))
        .collect::<Result<Vec<_>>>()?;
    // An empty segment before the last is one a cut created before it could remove the
    // segments after it: those are gone.
    let before_last = heads.len().saturating_sub(1);
    if let Some(at) = heads[..before_last]
        .iter()
        .position(|h| matches!(h, Head::Empty))
    {
        for &base in bases[at + 1..].iter().rev() {
            tracing::warn!(base, "removing a segment a cut had not finished removing");
            SegmentPaths::new(dir, base).remove_all(&**fs)?;
        }
        sync_dir(&**fs, dir)?;
        bases.truncate(at + 1);
        heads.truncate(at + 1);
    }

    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut last: Option<EntryHeader> = None;
    for (i, (&base, head)) in bases.iter().zip(&heads).enumerate() {
        let next = bases.get(i + 1).map(|&b| (b, matches!(heads[i + 1], Head::Empty)));
        let paths = SegmentPaths::new(dir, base);
        let base_offset = match head {
            Head::Entry(h) => h.base_offset,
            Head::Bad if next.is_some() => {
                return Err(Error::Corrupt {
                    path: paths.log,
                    position: 0,
                    reason: "first entry unreadable".into(),
                });
            }
            Head::Empty | Head::Bad => last
                .map(|h| h.end_offset())
                .or(purged.map(|p| p.log_start_offset))
                .unwrap_or(0),
        };
        // The last segment may take appends: map it whole; older ones are mapped as long as
        // they are.
        let capacity = if next.is_none() {
            config.segment_bytes
        } else {
            0
        };
        let seg = match Segment::open(
            &**fs,
            dir,
            base,
            base_offset,
            capacity,
            config.preallocate_step_bytes,
        ) {
            Ok(seg) => seg,
            // A file of no bytes at all: nothing in it was ever durable.
            Err(Error::Corrupt { .. }) if matches!(head, Head::Empty) => {
                remove_empty_last(&**fs, dir, &paths)?;
                continue;
            }
            Err(e) => return Err(e),
        };
        seg.load_indexes()?;
        let tail = match next {
            Some((next_base, next_empty)) => {
                scan_older(&seg, config, next_base, next_empty && i + 2 == bases.len())?
            }
            None => scan_last(&seg, config)?,
        };
        let Some(tail) = tail else {
            // Only the last segment can come out empty. It is kept when it bounds the one
            // before (a roll or a cut made it), else it holds nothing anyone needs.
            if last.is_some_and(|h| h.index + 1 >= base) {
                segments.push(Arc::new(seg));
            } else {
                drop(seg);
                remove_empty_last(&**fs, dir, &paths)?;
            }
            continue;
        };
        if let Some(expected) = last.map(|h| h.index + 1)
            && expected != base
        {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: 0,
                reason: format!("segment starts at log index {base}, expected {expected}"),
            });
        }
        last = Some(tail);
        segments.push(Arc::new(seg));
    }

    if let Some(p) = purged {
        drop_purged_segments(&**fs, dir, &mut segments, p.last.index)?;
        if let Some(first) = segments.first()
            && first.base_index > p.last.index + 1
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
        .unwrap_or(0);
    let log_start_offset = match purged {
        Some(p) => p.log_start_offset,
        None => segments.first().map_or(next_offset, |s| s.base_offset),
    };
    Ok(Recovered {
        segments,
        last: last.map(|h| EntryId {
            index: h.index,
            term: h.term,
        }),
        purged,
        next_offset,
        log_start_offset,
    })
}

fn remove_empty_last(fs: &dyn Fs, dir: &Path, paths: &SegmentPaths) -> Result<()> {
    tracing::warn!(path = %paths.log.display(), "removing a last segment without a valid entry");
    paths.remove_all(fs)?;
    sync_dir(fs, dir)
}

/// Base log indexes of the segment files in `dir`, ascending.
pub(super) fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<u64>> {
    let mut bases: Vec<u64> = fs
        .list(dir)
        .map_err(|e| Error::io(dir, e))?
        .iter()
        .filter_map(|name| SegmentPaths::parse_base_index(name))
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

fn read_head(fs: &dyn Fs, dir: &Path, base: u64) -> Result<Head> {
    let path = SegmentPaths::new(dir, base).log;
    let file = open(fs, &path, OpenMode::Existing)?;
    let len = file.len().map_err(|e| Error::io(&path, e))?;
    let mut head = vec![0u8; len.min(ENTRY_HEADER_BYTES as u64) as usize];
    file.read_exact_at(&mut head, 0)
        .map_err(|e| Error::io(&path, e))?;
    Ok(if head.iter().all(|&b| b == 0) {
        Head::Empty
    } else {
        match EntryHeader::decode(&head) {
            Some(h) if h.index == base => Head::Entry(h),
            _ => Head::Bad,
        }
    })
}

/// Validates an older segment up to the entry before `next_base`, where the next segment takes
/// over; past that lies the dead tail of a cut, never read. Refuses damage: the segment was
/// synced whole before the next one existed. Returns the header of its last entry.
fn scan_older(
    seg: &Segment,
    config: &LogConfig,
    next_base: u64,
    next_is_empty_last: bool,
) -> Result<Option<EntryHeader>> {
    let file_len = seg.file_len()?;
    // Nobody reads the segment yet: expose the whole file to the validating scan.
    seg.publish(file_len);
    let start = trusted_start(seg, file_len, Some(next_base));
    let (found, pos, stop) = walk(seg, start, file_len, Some(next_base));
    let reached = found.last().map_or(start.map(|r| r.index), |(_, h)| Some(h.index));
    match stop {
        Frame::End if reached.is_some_and(|i| i + 1 == next_base) => {}
        // The next segment is the empty one of a roll the entries before it never reached
        // (a log written before rolls waited for the seal): it goes, this one stays.
        Frame::End if next_is_empty_last && reached.is_some() => {}
        Frame::End => {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: pos,
                reason: format!("entries end before log index {next_base}, where the next segment starts"),
            });
        }
        Frame::Invalid(reason) => {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: pos,
                reason: reason.to_string(),
            });
        }
        Frame::Valid(_) => unreachable!("the walk consumes valid frames"),
    }
    let last = finish(seg, config, start, &found, pos)?;
    if pos < file_len {
        // A cut's dead tail, or a seal a crash interrupted (logs written before rolls waited for
        // it): the file shrinks to its entries, durably.
        tracing::info!(path = %seg.paths.log.display(), len = pos, "sealing a segment at its last entry");
        seg.seal().map_err(|e| Error::io(&seg.paths.log, e))?;
    } else {
        seg.mark_sealed();
    }
    Ok(last)
}

/// Validates the last segment from its last trustworthy index record on, cuts a torn tail and
/// anything else past the valid entries, refuses damage to synced data, and makes the valid
/// part durable. Returns the header of its last entry.
fn scan_last(seg: &Segment, config: &LogConfig) -> Result<Option<EntryHeader>> {
    let file_len = seg.file_len()?;
    seg.publish(file_len);
    let on_disk = seg.index_read().clone();
    let start = trusted_start(seg, file_len, None);
    let (found, pos, stop) = walk(seg, start, file_len, None);
    if let Frame::Invalid(reason) = stop {
        let expected = found
            .last()
            .map_or(start.map_or(seg.base_index, |r| r.index), |(_, h)| h.index + 1);
        if !torn_write(seg, pos, file_len, expected, &on_disk) {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: pos,
                reason: format!("{reason} (not a torn write: the data was synced)"),
            });
        }
        tracing::warn!(path = %seg.paths.log.display(), position = pos, reason, "cutting a torn tail");
    }
    let last = finish(seg, config, start, &found, pos)?;
    if file_len > pos {
        // Past the valid entries lies nothing anyone acknowledged: the cut makes sure no
        // leftover of an unsynced write can later pass for an entry.
        seg.cut_file_unread(pos)?;
    }
    seg.sync().map_err(|e| Error::io(&seg.paths.log, e))?;
    Ok(last)
}

/// Walks valid frames with contiguous log indexes from `start` (or the beginning), stopping
/// before `bound` when given. Returns the frames, where the walk stopped and why (`End` at
/// zeroes, at the end of the data or at the bound).
fn walk(
    seg: &Segment,
    start: Option<IndexRecord>,
    limit: u64,
    bound: Option<u64>,
) -> (Vec<(u64, EntryHeader)>, u64, Frame) {
    let mut pos = start.map_or(0, |r| u64::from(r.position));
    let mut expected = start.map_or(seg.base_index, |r| r.index);
    let mut found = Vec::new();
    let stop = loop {
        if bound.is_some_and(|b| expected >= b) {
            break Frame::End;
        }
        match seg.frame_at(pos, limit) {
            Frame::Valid(h) if h.index == expected => {
                found.push((pos, h));
                pos += h.frame_len();
                expected += 1;
            }
            Frame::Valid(_) => break Frame::Invalid("log index out of sequence"),
            other => break other,
        }
    };
    (found, pos, stop)
}

/// Publishes the valid length, drops index records past the trusted start (durably, so none
/// can vouch for data written there later) and rebuilds them from the walked frames.
fn finish(
    seg: &Segment,
    config: &LogConfig,
    start: Option<IndexRecord>,
    found: &[(u64, EntryHeader)],
    pos: u64,
) -> Result<Option<EntryHeader>> {
    seg.publish(pos);
    let last = found.last().map(|&(_, h)| h);
    let end_offset = last.map_or(seg.base_offset, |h| h.end_offset());
    seg.truncate_indexes(start.map_or(0, |r| u64::from(r.position) + 1), end_offset, true)?;
    for &(at, h) in found {
        if index::due(&seg.index_read(), at, config.index_interval_bytes) {
            seg.push_index(IndexRecord {
                index: h.index,
                base_offset: h.base_offset,
                position: at as u32,
            });
        }
        if h.offset_count > 0 {
            seg.note_timestamp(h.max_timestamp);
        }
    }
    // Entries before the trusted start were not walked: the start's own entry is the last.
    Ok(last.or_else(|| {
        start.and_then(|r| match seg.frame_at(u64::from(r.position), pos) {
            Frame::Valid(h) => Some(h),
            _ => None,
        })
    }))
}

/// The last index record whose entry is really there (and before `bound`): records reach their
/// file only after the data they point at is synced, so everything before it is durable.
fn trusted_start(seg: &Segment, file_len: u64, bound: Option<u64>) -> Option<IndexRecord> {
    let records = seg.index_read().clone();
    records.into_iter().rev().find(|r| {
        bound.is_none_or(|b| r.index < b)
            && matches!(seg.frame_at(u64::from(r.position), file_len),
                Frame::Valid(h) if h.index == r.index && h.base_offset == r.base_offset)
    })
}

/// Whether the bad frame at `pos` (which should hold log index `expected`) is a write a power
/// cut tore, rather than damage to synced data. A torn write leaves each sector of the entry
/// either new or as it was, and what it replaced is zeroes; so the entry, bounded by the next
/// valid entry when one is found, still holds an all-zero sector piece or runs past the end of
/// the file. Whole, it was written whole, and a mismatch is damage. An index record on disk past
/// `pos` proves the data there was synced. (A flipped bit in an entry that happens to hold an
/// all-zero sector piece, or in the length of the last entries, still reads as torn.)
fn torn_write(
    seg: &Segment,
    pos: u64,
    limit: u64,
    expected: u64,
    on_disk: &[IndexRecord],
) -> bool {
    if on_disk.iter().any(|r| u64::from(r.position) >= pos) {
        return false;
    }
    let head = seg.published(pos, (pos + ENTRY_HEADER_BYTES as u64).min(limit));
    if head[0] == 0 {
        // The sector with the entry's first byte never made it.
        return true;
    }
    let end = match next_valid(seg, pos, limit, expected + 1) {
        Some(next) => next,
        None => match EntryHeader::decode(head) {
            Some(h) if pos + h.frame_len() <= limit => pos + h.frame_len(),
            Some(_) => return true,
            // A header cut short by the end of the file is torn; a bad magic byte is not.
            None => return head.len() < ENTRY_HEADER_BYTES,
        },
    };
    let mut at = pos;
    while at < end {
        let to = ((at / SECTOR_BYTES + 1) * SECTOR_BYTES).min(end);
        if seg.published(at, to).iter().all(|&b| b == 0) {
            return true;
        }
        at = to;
    }
    false
}

/// Position of the next valid frame holding log index `index` after `pos`, if any is near.
fn next_valid(seg: &Segment, pos: u64, limit: u64, index: u64) -> Option<u64> {
    let end = limit.min(pos.saturating_add(RESYNC_SEARCH_BYTES));
    (pos + 1..end).find(|&at| {
        seg.published(at, at + 1)[0] == super::format::ENTRY_MAGIC
            && matches!(seg.frame_at(at, limit), Frame::Valid(h) if h.index == index)
    })
}

fn drop_purged_segments(
    fs: &dyn Fs,
    dir: &Path,
    segments: &mut Vec<Arc<Segment>>,
    purged: u64,
) -> Result<()> {
    let mut removed = false;
    while segments.len() > 1 && segments[1].base_index <= purged + 1 {
        segments.remove(0).paths.remove_all(fs)?;
        removed = true;
    }
    if removed {
        sync_dir(fs, dir)?;
    }
    Ok(())
}

impl Log {
    /// A position in the log remembered beside it without a sync (the Raft committed hint),
    /// checked against what the log holds after a crash: a crash can keep the hint and lose
    /// the unsynced entries it points at. A hint past the last entry falls back to the last
    /// entry (everything present up to the hint was there when it was written, and cuts never
    /// remove entries at or below it); one whose entry has another term is dropped.
    pub fn clamp_to_log(&self, hint: Option<EntryId>) -> Result<Option<EntryId>> {
        let Some(hint) = hint else {
            return Ok(None);
        };
        let last = self.last_entry();
        if last.is_none_or(|l| hint.index > l.index) {
            return Ok(last);
        }
        if self.last_purged().is_some_and(|p| hint.index <= p.index) {
            return Ok(Some(hint));
        }
        Ok(match self.reader().entry_at(hint.index)? {
            Some(e) if e.term == hint.term => Some(hint),
            _ => None,
        })
    }
}
