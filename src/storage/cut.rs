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
    /// returning.
    ///
    /// No byte a reader may hold changes: a deposed leader may still be replicating the very
    /// entries cut here from zero-copy slices. The segment holding the cut keeps its bytes and
    /// only publishes a shorter length; the entries after the cut go to a fresh segment named
    /// after the first of them, whose existence bounds the old one on open (`recovery.rs`).
    /// Segments wholly past the cut lose their names (a mapping outlives its name). The fresh
    /// segment is durable before anything is removed, so a crash half way leaves the old log or
    /// the cut one, never a mix.
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
        // Readers stop short of the cut before anything changes; one that overlaps the cut
        // reads again after it (`reader.rs`).
        self.shared.cuts.fetch_add(1, Ordering::SeqCst);
        self.shared
            .end_index
            .store(cut_from.max(self.first_index()).0, Ordering::Release);
        let result = self.cut_tail(cut_from);
        if let Err(e) = &result {
            self.broken = Some(format!("cutting the log before {cut_from}: {e}"));
        }
        self.publish();
        self.shared.cuts.fetch_add(1, Ordering::SeqCst);
        result
    }

    fn cut_tail(&mut self, cut_from: LogIndex) -> Result<()> {
        let keep = self
            .segments
            .iter()
            .position(|s| s.base_index >= cut_from)
            .unwrap_or(self.segments.len());
        let doomed: Vec<Arc<Segment>> = self.segments.drain(keep..).collect();
        self.last = None;
        self.next_offset = self.log_start_offset;
        if let Some(seg) = self.segments.last().cloned() {
            let (kept, pos) = find_cut(&seg, cut_from)?;
            self.last = Some(kept.id());
            self.next_offset = kept.end_offset();
            seg.publish(pos);
            seg.truncate_indexes(pos, kept.end_offset(), false)?;
            // What it keeps may never have been flushed: it is durable before a later segment
            // exists, as a seal would make it.
            seg.sync().map_err(|e| Error::io(&seg.paths.log, e))?;
            seg.mark_sealed();
        }
        // The fresh segment bounds what comes before it from now on, durably, before any
        // segment past the cut loses its name (one of them may share the fresh one's name: the
        // rename replaces it). It is made even for a cut at a segment's end, or of everything:
        // the segments going away may bound the dead tails of earlier cuts, and while the fresh
        // one (empty) stands before them, open knows they are gone.
        let fresh = Segment::create(
            &*self.fs,
            &self.dir,
            cut_from,
            self.next_offset,
            self.config.segment_bytes,
            self.config.preallocate_step_bytes,
        )?;
        sync_dir(&*self.fs, &self.dir)?;
        self.segments.push(Arc::new(fresh));
        for seg in doomed.iter().rev() {
            if seg.base_index != cut_from {
                seg.paths.remove_all(&*self.fs)?;
            }
        }
        sync_dir(&*self.fs, &self.dir)
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
            seg.paths.remove_all(&*self.fs)?;
        }
        if !removed.is_empty() {
            sync_dir(&*self.fs, &self.dir)?;
        }
        self.publish();
        Ok(())
    }
}

/// The last entry kept in `seg` when the log is cut before `cut_from`, and where the entry
/// after it starts (the new end of the segment).
fn find_cut(seg: &Segment, cut_from: LogIndex) -> Result<(super::format::EntryHeader, u64)> {
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
    Ok((kept, pos))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;

    use crate::storage::{AppendEntry, Log, LogConfig, StoredEntry};
    use crate::types::{LogIndex, Term};

    /// A payload that says which entry it belongs to: index, term, then a filler of both.
    fn payload(index: u64, term: u64) -> Bytes {
        let len = 200 + ((index * 131 + term * 17) % 1000) as usize;
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&index.to_le_bytes());
        out.extend_from_slice(&term.to_le_bytes());
        out.resize(
            len,
            (index.wrapping_mul(7) ^ term.wrapping_mul(13)) as u8 | 1,
        );
        Bytes::from(out)
    }

    fn entry(index: u64, term: u64) -> AppendEntry {
        AppendEntry {
            index: LogIndex(index),
            term: Term(term),
            kind: 0,
            records: None,
            payload: [payload(index, term), Bytes::new()],
        }
    }

    fn check(entries: &[StoredEntry], what: &str) -> Result<(), String> {
        match entries
            .iter()
            .find(|e| payload(e.index.0, e.term.0) != e.payload)
        {
            None => Ok(()),
            Some(e) => Err(format!(
                "{what}: entry {} of term {} changed under its reader",
                e.index, e.term
            )),
        }
    }

    /// A deposed leader's replication reads race the cuts that follow its demotion: every read
    /// succeeds, and every entry it returned keeps its bytes, whatever the cut does afterwards.
    #[test]
    fn readers_racing_cuts_never_see_cut_bytes_change_nor_false_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 64 << 10,
            preallocate_step_bytes: 16 << 10,
            index_interval_bytes: 1024,
        };
        let mut log = Log::open(dir.path(), config).unwrap();
        let mut term = 1;
        log.append((1..=200).map(|i| entry(i, term))).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(Mutex::new(Vec::<String>::new()));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let reader = log.reader();
                let stop = Arc::clone(&stop);
                let failures = Arc::clone(&failures);
                std::thread::spawn(move || {
                    let mut held: Vec<Vec<StoredEntry>> = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let (first, end) = reader.index_bounds();
                        let outcome = reader
                            .entries(LogIndex(end.0.saturating_sub(60)).max(first)..end)
                            .map_err(|e| format!("read failed: {e}"))
                            .and_then(|got| {
                                held.push(got);
                                if held.len() > 8 {
                                    held.remove(0);
                                }
                                held.iter().try_for_each(|h| check(h, "reader"))
                            });
                        if let Err(e) = outcome {
                            failures.lock().unwrap().push(e);
                            return;
                        }
                    }
                })
            })
            .collect();

        for round in 0..300u64 {
            let (_, end) = log.reader().index_bounds();
            let last = end.0 - 1;
            let kept = last - 1 - round % 40;
            // A replication read in flight when the cut comes.
            let in_flight = log
                .reader()
                .entries(LogIndex(kept - 5)..=LogIndex(last))
                .unwrap();
            log.truncate_after(Some(LogIndex(kept))).unwrap();
            term += 1;
            log.append((kept + 1..=kept + 2 + round % 50).map(|i| entry(i, term)))
                .unwrap();
            if round % 50 == 0 {
                log.sync().unwrap();
            }
            if let Err(e) = check(&in_flight, "replication read") {
                failures.lock().unwrap().push(format!("round {round}: {e}"));
                break;
            }
            if !failures.lock().unwrap().is_empty() {
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        for reader in readers {
            reader.join().unwrap();
        }
        let failures = failures.lock().unwrap();
        assert!(failures.is_empty(), "{failures:?}");
        // The log holds the last term's entries after the kept ones, and survives a reopen.
        let before = log.reader().entries(..).unwrap();
        drop(log);
        let log = Log::open(dir.path(), config).unwrap();
        assert_eq!(log.reader().entries(..).unwrap(), before);
    }
}
