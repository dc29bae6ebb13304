//! A read-only walk over every entry of a log directory, for inspection tools (`raftka
//! dump-log`). It never writes, never takes the directory lock and maps nothing: each segment
//! is read front to back through a plain file handle, and every entry's CRC is checked.
//! `recovery.rs` is the writer's counterpart that repairs what this only reports.
//!
//! On a stopped broker the walk sees exactly what a restart would recover, except that a torn
//! tail is reported instead of cut. On a live broker it is a best-effort picture: the newest
//! entries may be missing or show up as a torn tail (an append in progress), and a purge or a
//! truncation running at the same time can make the walk fail; nothing the broker does is
//! disturbed by it.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::files::SegmentPaths;
use super::format::{ENTRY_HEADER_BYTES, EntryHeader};
use super::fs;
use super::recovery;
use super::state_file::StateFile;
use super::{EntryId, Error, Result, StoredEntry};
use crate::types::KafkaOffset;

/// Read buffer of the walk; entries larger than this are read in one piece anyway.
const READ_BUFFER_BYTES: usize = 1 << 20;

/// What a walk found besides the entries it handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    /// Segment files found (including ones wholly below the purge point).
    pub segments: usize,
    /// The last purged entry, from the purge-point file.
    pub purged: Option<EntryId>,
    /// Offset of the first record kept.
    pub log_start_offset: KafkaOffset,
    /// The offset after the last record entry present (the log end offset).
    pub next_offset: KafkaOffset,
    /// The first and last entry handed out.
    pub first: Option<EntryId>,
    pub last: Option<EntryId>,
    /// Where the walk stopped before the written data of the last segment ended.
    pub torn_tail: Option<TornTail>,
}

/// Bytes at the end of the last segment that are not a valid entry: a crash mid-append (a
/// restart cuts them) or, on a live broker, an append in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    pub position: u64,
    pub reason: &'static str,
}

/// Hands every entry of the log in `dir` after the purge point to `visit`, in log order.
/// Damage a restart would refuse (a bad entry inside an older segment, a gap between segments,
/// an unreadable purge-point file) is an error.
pub fn scan(dir: &Path, mut visit: impl FnMut(StoredEntry) -> Result<()>) -> Result<ScanSummary> {
    let purge_file = StateFile::new(dir.join(recovery::PURGE_FILE));
    let purged = recovery::load_purge_point(&purge_file)?;
    let bases = recovery::list_segments(&*fs::real(), dir)?;
    let mut summary = ScanSummary {
        segments: bases.len(),
        purged: purged.map(|p| p.last),
        log_start_offset: KafkaOffset(0),
        next_offset: KafkaOffset(0),
        first: None,
        last: None,
        torn_tail: None,
    };
    let skip_through = purged.map(|p| p.last.index);
    let mut prev: Option<EntryHeader> = None;
    let mut first_base_offset = None;
    for (i, &base) in bases.iter().enumerate() {
        let next_base = bases.get(i + 1).copied();
        let is_last = next_base.is_none();
        let path = SegmentPaths::new(dir, base).log;
        let mut walk = SegmentWalk::open(&path)?;
        let mut expected = base;
        let mut walked = 0;
        loop {
            if next_base.is_some_and(|next| expected >= next) {
                break; // the dead tail of a cut: the next segment takes over
            }
            let header = match walk.next_frame()? {
                Step::Entry(header) => header,
                Step::End => break,
                Step::Invalid(reason) if is_last => {
                    summary.torn_tail = Some(TornTail {
                        path: path.clone(),
                        position: walk.position,
                        reason,
                    });
                    break;
                }
                Step::Invalid(reason) => return Err(walk.corrupt(reason)),
            };
            if header.index != expected {
                return Err(walk.corrupt("log index out of sequence"));
            }
            if expected == base
                && let Some(p) = prev
                && p.index.next() != base
            {
                return Err(walk.corrupt("segment does not follow the previous one"));
            }
            expected = expected.next();
            prev = Some(header);
            walked += 1;
            if skip_through.is_some_and(|s| header.index <= s) {
                continue;
            }
            first_base_offset.get_or_insert(header.base_offset);
            let id = header.id();
            summary.first.get_or_insert(id);
            summary.last = Some(id);
            visit(StoredEntry {
                index: header.index,
                term: header.term,
                kind: header.kind,
                base_offset: header.base_offset,
                offset_count: header.offset_count,
                max_timestamp: header.max_timestamp,
                payload: Bytes::copy_from_slice(walk.payload()),
            })?;
        }
        if walked == 0 && !is_last {
            // An empty segment before the last: a cut that had not removed the later ones.
            break;
        }
    }
    summary.next_offset = prev
        .filter(|h| skip_through.is_none_or(|s| h.index > s))
        .map(|h| h.end_offset())
        .or(purged.map(|p| p.log_start_offset))
        .unwrap_or(KafkaOffset(0));
    summary.log_start_offset = match purged {
        Some(p) => p.log_start_offset,
        None => first_base_offset.unwrap_or(summary.next_offset),
    };
    Ok(summary)
}

enum Step {
    Entry(EntryHeader),
    /// Zeroes (the unwritten part of a preallocated segment) or the end of the file.
    End,
    Invalid(&'static str),
}

/// Reads one segment file front to back.
struct SegmentWalk {
    path: PathBuf,
    file: BufReader<File>,
    len: u64,
    /// Where the next frame starts.
    position: u64,
    /// The current frame: header and payload.
    frame: Vec<u8>,
}

impl SegmentWalk {
    fn open(path: &Path) -> Result<SegmentWalk> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        Ok(SegmentWalk {
            path: path.to_path_buf(),
            file: BufReader::with_capacity(READ_BUFFER_BYTES, file),
            len,
            position: 0,
            frame: Vec::new(),
        })
    }

    fn next_frame(&mut self) -> Result<Step> {
        let avail = self.len.saturating_sub(self.position);
        if avail == 0 {
            return Ok(Step::End);
        }
        let head_len = avail.min(ENTRY_HEADER_BYTES as u64) as usize;
        self.frame.resize(head_len, 0);
        if !self.read_into(0)? {
            return Ok(Step::Invalid("file shorter than its length"));
        }
        if self.frame.iter().all(|&b| b == 0) {
            return Ok(Step::End);
        }
        let Some(header) = EntryHeader::decode(&self.frame) else {
            return Ok(Step::Invalid(if head_len < ENTRY_HEADER_BYTES {
                "header cut short"
            } else {
                "bad magic byte"
            }));
        };
        if header.frame_len() > avail {
            return Ok(Step::Invalid("entry runs past the end of the file"));
        }
        self.frame.resize(header.frame_len() as usize, 0);
        if !self.read_into(ENTRY_HEADER_BYTES)? {
            return Ok(Step::Invalid("file shorter than its length"));
        }
        if !header.crc_matches(&self.frame) {
            return Ok(Step::Invalid("checksum mismatch"));
        }
        self.position += header.frame_len();
        Ok(Step::Entry(header))
    }

    /// Fills `frame[from..]`; false when the file ended first (it shrank while being read).
    fn read_into(&mut self, from: usize) -> Result<bool> {
        match self.file.read_exact(&mut self.frame[from..]) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Error::io(&self.path, e)),
        }
    }

    fn payload(&self) -> &[u8] {
        &self.frame[ENTRY_HEADER_BYTES..]
    }

    fn corrupt(&self, reason: &str) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            position: self.position,
            reason: reason.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{AppendEntry, Log, LogConfig, RecordsMeta};
    use crate::types::{LogIndex, Term};

    /// Entries `indexes` continuing `log`'s offsets.
    fn entries(log: &Log, indexes: std::ops::RangeInclusive<u64>, term: u64) -> Vec<AppendEntry> {
        let mut next = log.next_offset();
        indexes
            .map(|i| {
                let entry = entry(i, term, next);
                next = next.plus(entry.records.map_or(0, |m| m.offset_count));
                entry
            })
            .collect()
    }

    fn entry(index: u64, term: u64, base_offset: KafkaOffset) -> AppendEntry {
        let records = (!index.is_multiple_of(4)).then_some(RecordsMeta {
            base_offset,
            offset_count: (index % 3) as u32 + 1,
            max_timestamp: index as i64,
        });
        let payload = match records {
            Some(_) => vec![index as u8; 16 + (index as usize * 7) % 300],
            None => Vec::new(),
        };
        AppendEntry {
            index: LogIndex(index),
            term: Term(term),
            kind: u8::from(records.is_some()),
            records,
            payload: [Bytes::from(payload), Bytes::new()],
        }
    }

    fn scanned(dir: &Path) -> (ScanSummary, Vec<StoredEntry>) {
        let mut out = Vec::new();
        let summary = scan(dir, |e| {
            out.push(e);
            Ok(())
        })
        .expect("scan");
        (summary, out)
    }

    #[test]
    fn scan_sees_what_the_reader_serves_after_truncate_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 2048,
            index_interval_bytes: 256,
            ..LogConfig::DEFAULT
        };
        let mut log = Log::open(dir.path(), config).unwrap();
        log.append(entries(&log, 1..=80, 1)).unwrap();
        log.truncate_after(Some(LogIndex(70))).unwrap();
        log.append(entries(&log, 71..=90, 2)).unwrap();
        let upto = log.reader().entries(LogIndex(30)..=LogIndex(30)).unwrap()[0].clone();
        log.purge(upto.id(), None).unwrap();
        log.sync().unwrap();

        // The writer is open (and holds the lock): the scan reads beside it.
        let (summary, entries) = scanned(dir.path());
        let served = log.reader().entries(..).unwrap();
        assert_eq!(entries, served);
        assert_eq!(summary.first.map(|e| e.index), Some(LogIndex(31)));
        assert_eq!(
            summary.last,
            Some(EntryId {
                index: LogIndex(90),
                term: Term(2)
            })
        );
        assert_eq!(summary.purged.map(|p| p.index), Some(LogIndex(30)));
        assert_eq!(summary.log_start_offset, log.log_start_offset());
        assert_eq!(summary.next_offset, log.next_offset());
        assert_eq!(summary.torn_tail, None);
        drop(log);
        assert_eq!(scanned(dir.path()).1, served, "the same once closed");
    }

    #[test]
    fn empty_directory_is_an_empty_log() {
        let dir = tempfile::tempdir().unwrap();
        let (summary, entries) = scanned(dir.path());
        assert!(entries.is_empty());
        assert_eq!(summary.segments, 0);
        assert_eq!(
            (summary.log_start_offset, summary.next_offset),
            (KafkaOffset(0), KafkaOffset(0))
        );
    }
}
