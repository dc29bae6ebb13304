//! Cutting a log at either end: `truncate_after` removes an uncommitted tail (a Raft conflict),
//! `purge` forgets a head that a snapshot covers (retention, compaction). `log.rs` appends.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::log::Log;
use super::recovery::PurgePoint;
use super::segment::{Frame, Segment};
use super::state_file::sync_dir;
use super::{EntryId, Error, Result};
use crate::types::{KafkaOffset, LogIndex};

impl Log {
    /// Removes every entry after `last_kept` (all of them for `None`), durably, before
    /// returning. Only uncommitted entries are ever cut, so no reader holds them.
    pub fn truncate_after(&mut self, last_kept: Option<LogIndex>) -> Result<()> {
        self.check_running()?;
        let Some(last) = self.last else {
            return Ok(());
        };
        let cut_from = last_kept
            .map_or(LogIndex(0), LogIndex::next)
            .max(self.first_index());
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
            .store(cut_from.max(self.first_index()).0, Ordering::Release);
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
    fn cut_segment(&mut self, seg: Arc<Segment>, cut_from: LogIndex) -> Result<Arc<Segment>> {
        let last_kept = cut_from
            .prev()
            .expect("a segment starts at or below the cut");
        let limit = seg.readable_len();
        let mut pos = super::index::seek_index(&seg.index_read(), last_kept, limit);
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
            reason: format!("entry {last_kept} not found"),
        })?;
        let seg = if seg.is_sealed() {
            let reopened = Segment::open(
                &self.dir,
                seg.base_index,
                seg.base_offset,
                self.config.segment_bytes.max(limit),
                self.config.preallocate_step_bytes,
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
        self.last = Some(kept.id());
        self.next_offset = kept.end_offset();
        Ok(seg)
    }

    /// Forgets every entry up to `upto` at once (durably) and deletes the segments that hold
    /// nothing newer. If that empties the log, it continues at `upto.index + 1` and its next
    /// offset becomes `next_offset_if_emptied` when given.
    pub fn purge(
        &mut self,
        upto: EntryId,
        next_offset_if_emptied: Option<KafkaOffset>,
    ) -> Result<()> {
        self.check_running()?;
        if self.last_purged.is_some_and(|p| p.index >= upto.index) {
            return Ok(());
        }
        let emptied = self.last.is_none_or(|l| l.index <= upto.index);
        let log_start_offset = if emptied {
            next_offset_if_emptied.unwrap_or(self.next_offset)
        } else {
            self.reader()
                .entry_at(upto.index.next())?
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
            let last_in_seg = self
                .segments
                .get(i + 1)
                .and_then(|next| next.base_index.prev());
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
