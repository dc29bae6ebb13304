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
//! | `*.log.cleaned` file                                | crash while compacting one     | delete file      |
//!
//! Only the bytes after the last index record that checks out are read in each segment, so
//! opening a large log costs its index files plus a few KiB per segment. The last segment's
//! valid part is synced before the log is used: what a crashed process left in the page cache
//! becomes durable before anyone relies on it.

use std::path::Path;
use std::sync::Arc;

use super::files::{
    CLEANED_SEGMENT_SUFFIX, NEW_SEGMENT_SUFFIX, SegmentPaths, open, remove_if_present,
};
use super::format::{ENTRY_HEADER_BYTES, EntryHeader};
use super::fs::{DirLock, Fs, OpenMode};
use super::log::{Log, LogConfig};
use super::segment::Segment;
use super::state_file::{StateFile, sync_dir};
use super::validate::{scan_last, scan_older};
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
        if name.ends_with(NEW_SEGMENT_SUFFIX) || name.ends_with(CLEANED_SEGMENT_SUFFIX) {
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
            tracing::warn!(%base, "removing a segment a cut had not finished removing");
            SegmentPaths::new(dir, base).remove_all(&**fs)?;
        }
        sync_dir(&**fs, dir)?;
        bases.truncate(at + 1);
        heads.truncate(at + 1);
    }

    let mut segments: Vec<Arc<Segment>> = Vec::new();
    let mut last: Option<EntryHeader> = None;
    for (i, (&base, head)) in bases.iter().zip(&heads).enumerate() {
        let next = bases
            .get(i + 1)
            .map(|&b| (b, matches!(heads[i + 1], Head::Empty)));
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
                .unwrap_or(KafkaOffset(0)),
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
            if last.is_some_and(|h| h.index.next() >= base) {
                segments.push(Arc::new(seg));
            } else {
                drop(seg);
                remove_empty_last(&**fs, dir, &paths)?;
            }
            continue;
        };
        if let Some(expected) = last.map(|h| h.index.next())
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

fn remove_empty_last(fs: &dyn Fs, dir: &Path, paths: &SegmentPaths) -> Result<()> {
    tracing::warn!(path = %paths.log.display(), "removing a last segment without a valid entry");
    paths.remove_all(fs)?;
    sync_dir(fs, dir)
}

/// Base log indexes of the segment files in `dir`, ascending.
pub(super) fn list_segments(fs: &dyn Fs, dir: &Path) -> Result<Vec<LogIndex>> {
    let mut bases: Vec<LogIndex> = fs
        .list(dir)
        .map_err(|e| Error::io(dir, e))?
        .iter()
        .filter_map(|name| SegmentPaths::parse_base_index(name))
        .collect();
    bases.sort_unstable();
    Ok(bases)
}

fn read_head(fs: &dyn Fs, dir: &Path, base: LogIndex) -> Result<Head> {
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

fn drop_purged_segments(
    fs: &dyn Fs,
    dir: &Path,
    segments: &mut Vec<Arc<Segment>>,
    purged: LogIndex,
) -> Result<()> {
    let mut removed = false;
    while segments.len() > 1 && segments[1].base_index <= purged.next() {
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
