//! Validating the segments found on open, as the case table of `recovery.rs` says: an older
//! segment up to where the next one starts, the last one from its last trustworthy index record
//! to its end, telling a torn write from damage to synced data. `recovery.rs` decides which
//! files are segments and puts the log together.

use super::format::{ENTRY_HEADER_BYTES, EntryHeader, IndexRecord};
use super::index;
use super::log::LogConfig;
use super::segment::{Frame, Segment};
use super::{Error, Result};
use crate::types::LogIndex;

/// The unit a disk writes whole: a torn write leaves each one old or new.
const SECTOR_BYTES: u64 = 512;
/// How far past a damaged entry open looks for the entry after it.
const RESYNC_SEARCH_BYTES: u64 = 16 << 20;

/// Validates an older segment up to the entry before `next_base`, where the next segment takes
/// over; past that lies the dead tail of a cut, never read. Refuses damage: the segment was
/// synced whole before the next one existed. Returns the header of its last entry.
pub(super) fn scan_older(
    seg: &Segment,
    config: &LogConfig,
    next_base: LogIndex,
    next_is_empty_last: bool,
) -> Result<Option<EntryHeader>> {
    let file_len = seg.file_len()?;
    // Nobody reads the segment yet: expose the whole file to the validating scan.
    seg.publish(file_len);
    let start = trusted_start(seg, file_len, Some(next_base));
    let (found, pos, stop) = walk(seg, start, file_len, Some(next_base));
    let reached = found
        .last()
        .map_or(start.map(|r| r.index), |(_, h)| Some(h.index));
    match stop {
        Frame::End if reached.is_some_and(|i| i.next() == next_base) => {}
        // The next segment is the empty one of a roll the entries before it never reached
        // (a log written before rolls waited for the seal): it goes, this one stays.
        Frame::End if next_is_empty_last && reached.is_some() => {}
        Frame::End => {
            return Err(Error::Corrupt {
                path: seg.paths.log.clone(),
                position: pos,
                reason: format!(
                    "entries end before log index {next_base}, where the next segment starts"
                ),
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
pub(super) fn scan_last(seg: &Segment, config: &LogConfig) -> Result<Option<EntryHeader>> {
    let file_len = seg.file_len()?;
    seg.publish(file_len);
    if let Frame::Valid(first) = seg.frame_at(0, file_len)
        && first.offset_count > 0
    {
        seg.set_opened_ms(first.max_timestamp);
    }
    let on_disk = seg.index_read().clone();
    let start = trusted_start(seg, file_len, None);
    let (found, pos, stop) = walk(seg, start, file_len, None);
    if let Frame::Invalid(reason) = stop {
        let expected = found
            .last()
            .map_or(start.map_or(seg.base_index, |r| r.index), |(_, h)| {
                h.index.next()
            });
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
    bound: Option<LogIndex>,
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
                expected = expected.next();
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
    seg.truncate_indexes(
        start.map_or(0, |r| u64::from(r.position) + 1),
        end_offset,
        true,
    )?;
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
fn trusted_start(seg: &Segment, file_len: u64, bound: Option<LogIndex>) -> Option<IndexRecord> {
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
    expected: LogIndex,
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
    let end = match next_valid(seg, pos, limit, expected.next()) {
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
fn next_valid(seg: &Segment, pos: u64, limit: u64, index: LogIndex) -> Option<u64> {
    let end = limit.min(pos.saturating_add(RESYNC_SEARCH_BYTES));
    (pos + 1..end).find(|&at| {
        seg.published(at, at + 1)[0] == super::format::ENTRY_MAGIC
            && matches!(seg.frame_at(at, limit), Frame::Valid(h) if h.index == index)
    })
}
