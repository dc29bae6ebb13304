//! One Kafka RecordBatch (magic 2) carried raw through Raft: its header checked once, the few
//! fields the log needs read in place, the bytes never decoded or re-encoded.
//! `log_store.rs` turns it into a storage record entry; the frontend checks CRCs before it gets here.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::storage::RecordsMeta;

/// RecordBatch v2 header, big-endian:
/// ```text
/// | baseOffset i64 @0 | batchLength i32 @8 | partitionLeaderEpoch i32 @12 | magic i8 @16 |
/// | crc u32 @17 | attributes i16 @21 | lastOffsetDelta i32 @23 | baseTimestamp i64 @27 |
/// | maxTimestamp i64 @35 | producerId i64 @43 | producerEpoch i16 @51 | baseSequence i32 @53 |
/// | recordCount i32 @57 | records ... |
/// ```
/// `batchLength` counts the bytes after itself. The CRC covers `attributes` to the end, so the
/// base offset (patched by the log at append) lies outside it.
pub const BATCH_HEADER_BYTES: usize = 61;
const BASE_OFFSET_AT: usize = 0;
const BATCH_LENGTH_AT: usize = 8;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
/// The CRC covers the batch from `attributes` to its end.
const CRC_COVERS_FROM: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const MAX_TIMESTAMP_AT: usize = 35;
/// Bytes before `batchLength`'s count starts.
const LENGTH_PREFIX_BYTES: usize = 12;
const _: () = assert!(BATCH_HEADER_BYTES == 57 + 4);

/// Why some bytes are not one RecordBatch v2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("record batch of {0} bytes is shorter than its {BATCH_HEADER_BYTES}-byte header")]
    TooShort(usize),
    #[error("record batch length field says {field} bytes follow it, but {actual} do")]
    LengthMismatch { field: i64, actual: usize },
    #[error("record batch magic {0}: only magic 2 is supported")]
    Magic(i8),
    #[error("record batch last offset delta {0} is negative")]
    LastOffsetDelta(i32),
}

/// Exactly one RecordBatch v2 whose header checked out. Cloning shares the bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Bytes", into = "Bytes")]
pub struct RecordBatch(Bytes);

impl RecordBatch {
    /// Checks the header of `bytes` (length, magic, last offset delta); the CRC is the
    /// frontend's job (`decode_batch_info`), the storage frame has its own.
    pub fn new(bytes: Bytes) -> Result<RecordBatch, BatchError> {
        if bytes.len() < BATCH_HEADER_BYTES {
            return Err(BatchError::TooShort(bytes.len()));
        }
        let batch = RecordBatch(bytes);
        let field = i64::from(batch.i32_at(BATCH_LENGTH_AT));
        let actual = batch.0.len() - LENGTH_PREFIX_BYTES;
        if field != actual as i64 {
            return Err(BatchError::LengthMismatch { field, actual });
        }
        let magic = batch.0[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        let delta = batch.i32_at(LAST_OFFSET_DELTA_AT);
        if delta < 0 {
            return Err(BatchError::LastOffsetDelta(delta));
        }
        Ok(batch)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The batch's base-offset field: as the producer sent it, or, once read back from the log,
    /// the offset the log assigned.
    pub fn base_offset(&self) -> i64 {
        self.i64_at(BASE_OFFSET_AT)
    }

    /// How many offsets the batch spans (`lastOffsetDelta + 1`, at least 1).
    pub fn offset_count(&self) -> u32 {
        // `new` checked the delta is not negative, so this is in 1..=2^31.
        self.i32_at(LAST_OFFSET_DELTA_AT) as u32 + 1
    }

    pub fn max_timestamp(&self) -> i64 {
        self.i64_at(MAX_TIMESTAMP_AT)
    }

    /// The batch's own CRC field (CRC-32C of `attributes` to the end).
    pub fn crc(&self) -> u32 {
        self.i32_at(CRC_AT) as u32
    }

    /// Whether the CRC field matches the bytes it covers.
    pub fn crc_matches(&self) -> bool {
        crc32c::crc32c(&self.0[CRC_COVERS_FROM..]) == self.crc()
    }

    /// What the storage log needs to assign offsets and index timestamps.
    pub fn records_meta(&self) -> RecordsMeta {
        RecordsMeta {
            offset_count: self.offset_count(),
            max_timestamp: self.max_timestamp(),
        }
    }

    fn i32_at(&self, at: usize) -> i32 {
        let mut word = [0; 4];
        word.copy_from_slice(&self.0[at..at + 4]);
        i32::from_be_bytes(word)
    }

    fn i64_at(&self, at: usize) -> i64 {
        let mut word = [0; 8];
        word.copy_from_slice(&self.0[at..at + 8]);
        i64::from_be_bytes(word)
    }
}

impl TryFrom<Bytes> for RecordBatch {
    type Error = BatchError;

    fn try_from(bytes: Bytes) -> Result<Self, Self::Error> {
        RecordBatch::new(bytes)
    }
}

impl From<RecordBatch> for Bytes {
    fn from(batch: RecordBatch) -> Bytes {
        batch.0
    }
}

impl std::fmt::Debug for RecordBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordBatch")
            .field("base_offset", &self.base_offset())
            .field("offset_count", &self.offset_count())
            .field("bytes", &self.0.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(len: usize, magic: i8, delta: i32) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4]
            .copy_from_slice(&((len - LENGTH_PREFIX_BYTES) as i32).to_be_bytes());
        b[MAGIC_AT] = magic as u8;
        b[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4].copy_from_slice(&delta.to_be_bytes());
        b[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&77i64.to_be_bytes());
        b
    }

    #[test]
    fn reads_header_fields() {
        let batch = RecordBatch::new(Bytes::from(header(80, 2, 4))).unwrap();
        assert_eq!(batch.offset_count(), 5);
        assert_eq!(batch.max_timestamp(), 77);
        assert_eq!(batch.base_offset(), 0);
    }

    #[test]
    fn crc_field_and_check() {
        let mut bytes = header(80, 2, 0);
        let crc = crc32c::crc32c(&bytes[CRC_COVERS_FROM..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(Bytes::from(bytes.clone())).unwrap();
        assert_eq!(batch.crc(), crc);
        assert!(batch.crc_matches());
        // The base offset lies outside the CRC; the timestamp inside it.
        bytes[BASE_OFFSET_AT] ^= 1;
        assert!(
            RecordBatch::new(Bytes::from(bytes.clone()))
                .unwrap()
                .crc_matches()
        );
        bytes[MAX_TIMESTAMP_AT] ^= 1;
        assert!(!RecordBatch::new(Bytes::from(bytes)).unwrap().crc_matches());
    }

    #[test]
    fn rejects_bad_headers() {
        let short = RecordBatch::new(Bytes::from(vec![0u8; 60]));
        assert_eq!(short, Err(BatchError::TooShort(60)));
        let magic = RecordBatch::new(Bytes::from(header(61, 1, 0)));
        assert_eq!(magic, Err(BatchError::Magic(1)));
        let delta = RecordBatch::new(Bytes::from(header(61, 2, -1)));
        assert_eq!(delta, Err(BatchError::LastOffsetDelta(-1)));
        let mut two = header(61, 2, 0);
        two.extend_from_slice(&header(61, 2, 0));
        let two = RecordBatch::new(Bytes::from(two));
        assert!(matches!(two, Err(BatchError::LengthMismatch { .. })));
    }

    #[test]
    fn deserializing_checks_the_header() {
        let bytes = Bytes::from(vec![0u8; 10]);
        let json = serde_json::to_vec(&bytes).unwrap();
        assert!(serde_json::from_slice::<RecordBatch>(&json).is_err());
    }
}
