//! On-disk layout of entries and index records, drawn byte by byte, with their checksums.
//! `segment.rs` owns the files these bytes live in.

use super::EntryId;
use crate::types::{KafkaOffset, LogIndex, Term};

/// One entry in a segment file, little-endian:
/// ```text
/// | magic u8 | kind u8 | payload_len u32 | crc32c u32 | index u64 | term u64 |
/// | base_offset i64 | offset_count u32 | max_timestamp i64 | payload (payload_len bytes) |
/// ```
/// The CRC covers everything after itself: the rest of the header and the payload, so a torn
/// or flipped byte anywhere in the entry is caught. A zero magic byte marks the end of written
/// data in a preallocated (zero-filled) segment.
pub(super) const ENTRY_HEADER_BYTES: usize = 46;
const _: () = assert!(ENTRY_HEADER_BYTES == 1 + 1 + 4 + 4 + 8 + 8 + 8 + 4 + 8);

pub(super) const ENTRY_MAGIC: u8 = 0xA7;
/// Bytes of the header before the CRC-covered part starts.
const CRC_START: usize = 10;

/// Largest payload one entry may carry; also bounded by the segment size.
pub const MAX_ENTRY_PAYLOAD_BYTES: usize = (u32::MAX as usize) - ENTRY_HEADER_BYTES;

/// The decoded fixed part of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct EntryHeader {
    pub kind: u8,
    pub payload_len: u32,
    pub crc: u32,
    pub index: LogIndex,
    pub term: Term,
    pub base_offset: KafkaOffset,
    pub offset_count: u32,
    pub max_timestamp: i64,
}

impl EntryHeader {
    pub fn frame_len(&self) -> u64 {
        ENTRY_HEADER_BYTES as u64 + u64::from(self.payload_len)
    }

    pub fn end_offset(&self) -> KafkaOffset {
        self.base_offset.plus(self.offset_count)
    }

    pub fn id(&self) -> EntryId {
        EntryId::new(self.index, self.term)
    }

    /// Writes the header into `out` and returns the CRC it stored, computed over the covered
    /// header bytes and `payload_parts` (the payload may arrive in pieces, e.g. a patched
    /// base-offset slot followed by the rest of a batch).
    pub fn encode(mut self, payload_parts: &[&[u8]], out: &mut Vec<u8>) -> u32 {
        let start = out.len();
        out.push(ENTRY_MAGIC);
        out.push(self.kind);
        out.extend_from_slice(&self.payload_len.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.index.0.to_le_bytes());
        out.extend_from_slice(&self.term.0.to_le_bytes());
        out.extend_from_slice(&self.base_offset.0.to_le_bytes());
        out.extend_from_slice(&self.offset_count.to_le_bytes());
        out.extend_from_slice(&self.max_timestamp.to_le_bytes());
        let mut crc = crc32c::crc32c(&out[start + CRC_START..]);
        for part in payload_parts {
            crc = crc32c::crc32c_append(crc, part);
        }
        self.crc = crc;
        out[start + 6..start + 10].copy_from_slice(&crc.to_le_bytes());
        crc
    }

    /// Parses a header. `None` when the bytes do not start with the entry magic (end of data or
    /// garbage; the caller decides which by context).
    pub fn decode(bytes: &[u8]) -> Option<EntryHeader> {
        let b: &[u8; ENTRY_HEADER_BYTES] = bytes.get(..ENTRY_HEADER_BYTES)?.try_into().ok()?;
        if b[0] != ENTRY_MAGIC {
            return None;
        }
        Some(EntryHeader {
            kind: b[1],
            payload_len: u32::from_le_bytes(le(b, 2)),
            crc: u32::from_le_bytes(le(b, 6)),
            index: LogIndex(u64::from_le_bytes(le(b, 10))),
            term: Term(u64::from_le_bytes(le(b, 18))),
            base_offset: KafkaOffset(i64::from_le_bytes(le(b, 26))),
            offset_count: u32::from_le_bytes(le(b, 34)),
            max_timestamp: i64::from_le_bytes(le(b, 38)),
        })
    }

    /// Checks the stored CRC against the covered bytes of a whole frame.
    pub fn crc_matches(&self, frame: &[u8]) -> bool {
        frame.len() as u64 == self.frame_len() && crc32c::crc32c(&frame[CRC_START..]) == self.crc
    }
}

/// Copies `N` bytes at `at` out of a fixed-size array; the ranges are constants within bounds.
fn le<const N: usize, const M: usize>(b: &[u8; M], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

/// One record of a segment's sparse offset index (`.index` file), little-endian:
/// `| log_index u64 | base_offset i64 | position u32 | crc32c u32 |` (CRC over the first 20 bytes).
/// An index record is written for the first entry of a segment and then every
/// `index_interval_bytes`; it is a hint rebuilt from the segment on recovery.
pub(super) const INDEX_RECORD_BYTES: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct IndexRecord {
    pub index: LogIndex,
    pub base_offset: KafkaOffset,
    pub position: u32,
}

impl IndexRecord {
    pub fn encode(&self) -> [u8; INDEX_RECORD_BYTES] {
        let mut out = [0; INDEX_RECORD_BYTES];
        out[0..8].copy_from_slice(&self.index.0.to_le_bytes());
        out[8..16].copy_from_slice(&self.base_offset.0.to_le_bytes());
        out[16..20].copy_from_slice(&self.position.to_le_bytes());
        let crc = crc32c::crc32c(&out[..20]);
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(b: &[u8; INDEX_RECORD_BYTES]) -> Option<IndexRecord> {
        if crc32c::crc32c(&b[..20]) != u32::from_le_bytes(le(b, 20)) {
            return None;
        }
        Some(IndexRecord {
            index: LogIndex(u64::from_le_bytes(le(b, 0))),
            base_offset: KafkaOffset(i64::from_le_bytes(le(b, 8))),
            position: u32::from_le_bytes(le(b, 16)),
        })
    }
}

/// One record of a segment's time index (`.timeindex` file), little-endian:
/// `| max_timestamp i64 | base_offset i64 | crc32c u32 | zero u32 |`.
/// `max_timestamp` is the largest timestamp in the segment up to and including the entry that
/// starts at `base_offset`; records are written only when that maximum grows.
pub(super) const TIME_RECORD_BYTES: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimeRecord {
    pub max_timestamp: i64,
    pub base_offset: KafkaOffset,
}

impl TimeRecord {
    pub fn encode(&self) -> [u8; TIME_RECORD_BYTES] {
        let mut out = [0; TIME_RECORD_BYTES];
        out[0..8].copy_from_slice(&self.max_timestamp.to_le_bytes());
        out[8..16].copy_from_slice(&self.base_offset.0.to_le_bytes());
        let crc = crc32c::crc32c(&out[..16]);
        out[16..20].copy_from_slice(&crc.to_le_bytes());
        out
    }

    pub fn decode(b: &[u8; TIME_RECORD_BYTES]) -> Option<TimeRecord> {
        if crc32c::crc32c(&b[..16]) != u32::from_le_bytes(le(b, 16)) {
            return None;
        }
        Some(TimeRecord {
            max_timestamp: i64::from_le_bytes(le(b, 0)),
            base_offset: KafkaOffset(i64::from_le_bytes(le(b, 8))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{KafkaOffset, LogIndex, Term};

    fn header() -> EntryHeader {
        EntryHeader {
            kind: 2,
            payload_len: 5,
            crc: 0,
            index: LogIndex(7),
            term: Term(3),
            base_offset: KafkaOffset(100),
            offset_count: 4,
            max_timestamp: 1_700_000_000_000,
        }
    }

    #[test]
    fn entry_header_round_trip_and_crc() {
        let mut frame = Vec::new();
        let crc = header().encode(&[b"he", b"llo"], &mut frame);
        frame.extend_from_slice(b"hello");
        let decoded = EntryHeader::decode(&frame).expect("magic present");
        assert_eq!(decoded, EntryHeader { crc, ..header() });
        assert!(decoded.crc_matches(&frame));
        for bit in 0..frame.len() * 8 {
            if bit / 8 < CRC_START {
                continue;
            }
            let mut flipped = frame.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let h = EntryHeader::decode(&flipped).expect("magic untouched");
            assert!(!h.crc_matches(&flipped), "bit {bit} flip undetected");
        }
    }

    #[test]
    fn zeroes_are_not_an_entry() {
        assert_eq!(EntryHeader::decode(&[0; ENTRY_HEADER_BYTES]), None);
        assert_eq!(EntryHeader::decode(&[ENTRY_MAGIC; 3]), None);
    }

    #[test]
    fn index_records_round_trip_and_reject_damage() {
        let rec = IndexRecord {
            index: LogIndex(9),
            base_offset: KafkaOffset(77),
            position: 4096,
        };
        let mut bytes = rec.encode();
        assert_eq!(IndexRecord::decode(&bytes), Some(rec));
        bytes[3] ^= 0x10;
        assert_eq!(IndexRecord::decode(&bytes), None);
        assert_eq!(IndexRecord::decode(&[0; INDEX_RECORD_BYTES]), None);

        let t = TimeRecord {
            max_timestamp: 5,
            base_offset: KafkaOffset(6),
        };
        assert_eq!(TimeRecord::decode(&t.encode()), Some(t));
    }
}
