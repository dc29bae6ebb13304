//! Rewriting a sealed segment with some entry payloads replaced (log compaction shrinks record
//! entries): every entry keeps its log index, term, offsets and timestamp, so Raft and Fetch see
//! the same log, only smaller. The copy is built off the writer's lock, next to the original,
//! and takes its place in one rename.
//!
//! Crash safety: the copy (`*.log.cleaned`) is synced before anything else changes, and open
//! removes such a file. The original's offset index goes (durably) before the rename, since its
//! positions would not fit the copy; open rebuilds a missing index by walking the segment. The
//! time index maps offsets to timestamps, which a rewrite keeps, so it stays valid for both.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::files::{open, remove_if_present};
use super::format::{EntryHeader, IndexRecord};
use super::fs::{Fs, OpenMode};
use super::index;
use super::log::{Log, LogConfig};
use super::reader::{LogReader, stored};
use super::segment::{Frame, Segment};
use super::state_file::sync_dir;
use super::{Error, Result, StoredEntry};
use crate::types::{KafkaOffset, LogIndex};

/// Bytes written to the copy at a time.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// A sealed segment: what a compaction pass may rewrite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedSegment {
    pub base_index: LogIndex,
    /// One past its last entry's log index.
    pub end_index: LogIndex,
    pub base_offset: KafkaOffset,
    /// One past its last record's offset.
    pub end_offset: KafkaOffset,
    /// Bytes the segment file holds.
    pub bytes: u64,
    /// Largest record timestamp in it (`i64::MIN` when it holds no record).
    pub max_timestamp: i64,
}

impl LogReader {
    /// The sealed segments, oldest first: all but the newest, and the newest too once sealed
    /// (`segment.ms` sealed it and nothing was appended since).
    pub fn sealed_segments(&self) -> Vec<SealedSegment> {
        let segments = self.shared.segments();
        let (first_index, end_index) = self.index_bounds();
        let ends = segments
            .iter()
            .skip(1)
            .map(|next| (next.base_index, next.base_offset))
            .chain(std::iter::once((end_index, self.next_offset())));
        segments
            .iter()
            .zip(ends)
            .filter(|(seg, (end, _))| seg.is_sealed() && *end > first_index)
            .map(|(seg, (end_index, end_offset))| SealedSegment {
                base_index: seg.base_index,
                end_index,
                base_offset: seg.base_offset,
                end_offset,
                bytes: seg.readable_len(),
                max_timestamp: seg.max_timestamp(),
            })
            .collect()
    }
}

/// What a rewrite needs of the log, taken under the writer's lock and used without it.
#[derive(Clone)]
pub struct SegmentRewriter {
    fs: Arc<dyn Fs>,
    config: LogConfig,
    reader: LogReader,
}

/// A finished copy of one segment, waiting for [`Log::install_rewrite`].
pub struct PreparedRewrite {
    original: Arc<Segment>,
    path: PathBuf,
    fs: Arc<dyn Fs>,
    len: u64,
    index: Vec<IndexRecord>,
    /// Bytes the original held when the copy was made.
    pub bytes_before: u64,
}

impl PreparedRewrite {
    /// Bytes the copy holds.
    pub fn bytes_after(&self) -> u64 {
        self.len
    }
}

impl Drop for PreparedRewrite {
    fn drop(&mut self) {
        // Installed, the copy has been renamed away and this finds nothing.
        let _ = remove_if_present(&*self.fs, &self.path);
    }
}

impl Log {
    /// A handle to prepare segment rewrites with while appends go on.
    pub fn rewriter(&self) -> SegmentRewriter {
        SegmentRewriter {
            fs: Arc::clone(&self.fs),
            config: self.config,
            reader: self.reader(),
        }
    }

    /// Puts a prepared copy in its original's place. `false` (and the copy dropped) when the
    /// original is no longer a segment of this log: retention or a cut got to it first.
    pub fn install_rewrite(&mut self, rewrite: PreparedRewrite) -> Result<bool> {
        self.check_running()?;
        let Some(at) = self
            .segments
            .iter()
            .position(|s| Arc::ptr_eq(s, &rewrite.original))
        else {
            return Ok(false);
        };
        // A cut shortened it since (only ever past what the caller may rewrite, but the copy
        // must never bring cut entries back).
        if rewrite.original.readable_len() != rewrite.bytes_before {
            return Ok(false);
        }
        let original = &rewrite.original;
        let paths = &original.paths;
        // The original's index must not outlive it: its positions do not fit the copy.
        paths.remove_indexes(&*self.fs)?;
        sync_dir(&*self.fs, &self.dir)?;
        self.fs
            .rename(&rewrite.path, &paths.log)
            .map_err(|e| Error::io(&paths.log, e))?;
        sync_dir(&*self.fs, &self.dir)?;
        let copy = Segment::open(
            &*self.fs,
            &self.dir,
            original.base_index,
            original.base_offset,
            0,
            self.config.preallocate_step_bytes,
        )?;
        copy.publish(rewrite.len);
        for rec in &rewrite.index {
            copy.push_index(*rec);
        }
        for rec in original.times_read().iter() {
            copy.push_time(*rec);
        }
        copy.note_timestamp(original.max_timestamp());
        copy.seal().map_err(|e| Error::io(&paths.log, e))?;
        self.segments[at] = Arc::new(copy);
        self.publish();
        Ok(true)
    }
}

impl SegmentRewriter {
    /// Copies the sealed segment starting at `base_index`, with each entry's payload replaced
    /// by what `replace` returns for it (`None` keeps it). `None` when the segment is gone or
    /// no entry changed. The copy is durable when this returns.
    pub fn prepare(
        &self,
        base_index: LogIndex,
        mut replace: impl FnMut(&StoredEntry) -> std::io::Result<Option<Bytes>>,
    ) -> Result<Option<PreparedRewrite>> {
        let segments = self.reader.shared.segments();
        let Some(original) = segments
            .iter()
            .find(|s| s.base_index == base_index && s.is_sealed())
            .cloned()
        else {
            return Ok(None);
        };
        let path = original.paths.cleaned_log();
        let file = open(&*self.fs, &path, OpenMode::Truncate)?;
        let mut rewrite = PreparedRewrite {
            original: Arc::clone(&original),
            path,
            fs: Arc::clone(&self.fs),
            len: 0,
            index: Vec::new(),
            bytes_before: original.readable_len(),
        };
        let limit = original.readable_len();
        let mut changed = false;
        let mut buf: Vec<u8> = Vec::with_capacity(WRITE_CHUNK_BYTES);
        let mut pos = 0;
        while pos < limit {
            let header = match original.frame_at(pos, limit) {
                Frame::Valid(h) => h,
                Frame::End => break,
                Frame::Invalid(reason) => {
                    return Err(Error::Corrupt {
                        path: original.paths.log.clone(),
                        position: pos,
                        reason: reason.to_string(),
                    });
                }
            };
            let frame_len = header.frame_len();
            let payload_at = pos + frame_len - u64::from(header.payload_len);
            let payload = original.bytes(payload_at, pos + frame_len);
            let stored = stored(&header, payload.clone());
            let new_payload = replace(&stored).map_err(|e| Error::BadRecordEntry {
                index: header.index,
                reason: e.to_string(),
            })?;
            let position = rewrite.len + buf.len() as u64;
            if index::due(&rewrite.index, position, self.config.index_interval_bytes) {
                rewrite.index.push(IndexRecord {
                    index: header.index,
                    base_offset: header.base_offset,
                    position: position as u32,
                });
            }
            let payload = match new_payload {
                Some(p) => {
                    changed = true;
                    p
                }
                None => payload,
            };
            let new_header = EntryHeader {
                payload_len: payload.len() as u32,
                ..header
            };
            new_header.encode(&[&payload], &mut buf);
            buf.extend_from_slice(&payload);
            if buf.len() >= WRITE_CHUNK_BYTES {
                flush(&*file, &rewrite.path, &mut buf, &mut rewrite.len)?;
            }
            pos += frame_len;
        }
        if !changed {
            return Ok(None);
        }
        flush(&*file, &rewrite.path, &mut buf, &mut rewrite.len)?;
        file.sync_data().map_err(|e| Error::io(&rewrite.path, e))?;
        Ok(Some(rewrite))
    }
}

fn flush(
    file: &dyn super::fs::FsFile,
    path: &Path,
    buf: &mut Vec<u8>,
    len: &mut u64,
) -> Result<()> {
    file.write_all_at(buf, *len)
        .map_err(|e| Error::io(path, e))?;
    *len += buf.len() as u64;
    buf.clear();
    Ok(())
}
