//! One Kafka RecordBatch v2, checked once and read in place: the header layout drawn byte by
//! byte, a view over its fields, and the two fields the log rewrites (base offset and partition
//! leader epoch, both outside the batch CRC). `records.rs` reads the records inside.

use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::types::{KafkaOffset, LeaderEpoch};

/// RecordBatch v2 header, big-endian:
/// ```text
/// | baseOffset i64 @0 | batchLength i32 @8 | partitionLeaderEpoch i32 @12 | magic i8 @16 |
/// | crc u32 @17 | attributes i16 @21 | lastOffsetDelta i32 @23 | baseTimestamp i64 @27 |
/// | maxTimestamp i64 @35 | producerId i64 @43 | producerEpoch i16 @51 | baseSequence i32 @53 |
/// | recordCount i32 @57 | records ... |
/// ```
/// `batchLength` counts the bytes after itself. The CRC (CRC-32C) covers `attributes` to the end,
/// so the base offset and the partition leader epoch can be set by the log without touching it.
pub const BATCH_HEADER_BYTES: usize = 61;
pub(super) const BASE_OFFSET_AT: usize = 0;
pub(super) const BATCH_LENGTH_AT: usize = 8;
pub(super) const LEADER_EPOCH_AT: usize = 12;
pub(super) const MAGIC_AT: usize = 16;
pub(super) const CRC_AT: usize = 17;
pub(super) const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
pub(super) const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;
/// The CRC covers the batch from `attributes` to its end.
pub(super) const CRC_COVERS_FROM: usize = ATTRIBUTES_AT;
/// Bytes before `batchLength`'s count starts.
pub(super) const LENGTH_PREFIX_BYTES: usize = 12;
/// The bytes the log rewrites: base offset, batch length (unchanged), partition leader epoch.
const STAMPED_PREFIX_BYTES: usize = MAGIC_AT;
const _: () = assert!(BATCH_HEADER_BYTES == RECORD_COUNT_AT + 4);
const _: () = assert!(STAMPED_PREFIX_BYTES == LEADER_EPOCH_AT + 4);

/// The only batch format accepted (Kafka 0.11 and later).
pub const MAGIC_V2: i8 = 2;
/// `producerId` of a batch written without idempotence.
pub const NO_PRODUCER_ID: i64 = -1;

pub(super) const COMPRESSION_MASK: i16 = 0x07;
pub(super) const LOG_APPEND_TIME_FLAG: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;

/// The codec named by a batch's attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

/// Whether a batch's timestamps are the producer's or the broker's append time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    CreateTime,
    LogAppendTime,
}

/// Why some bytes are not one RecordBatch v2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("no records")]
    Empty,
    #[error("record batch framing is broken at byte {0}")]
    Framing(usize),
    #[error("record batch of {0} bytes is shorter than its {BATCH_HEADER_BYTES}-byte header")]
    TooShort(usize),
    #[error("record batch length field says {field} bytes follow it, but {actual} do")]
    LengthMismatch { field: i64, actual: usize },
    #[error("record batch magic {0}: only magic 2 (Kafka 0.11+) is accepted")]
    Magic(i8),
    #[error("record batch last offset delta {0} is negative")]
    LastOffsetDelta(i32),
    #[error("record batch compression codec {0} is unknown")]
    Codec(i16),
    #[error("record batch checksum does not match its bytes")]
    Checksum,
    #[error("record batch records do not decode: {0}")]
    Records(String),
    /// Well formed, but refused as Kafka's log validator refuses it (INVALID_RECORD, not
    /// CORRUPT_MESSAGE).
    #[error("{0}")]
    Invalid(String),
}

/// Exactly one RecordBatch v2 whose header checked out (length, magic, last offset delta,
/// codec). The CRC is checked where bytes come from a client ([`super::split_checked`]); the
/// storage frame has its own. Cloning shares the bytes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Bytes", into = "Bytes")]
pub struct RecordBatch(Bytes);

impl RecordBatch {
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
        if batch.magic() != MAGIC_V2 {
            return Err(BatchError::Magic(batch.magic()));
        }
        let delta = batch.last_offset_delta();
        if delta < 0 {
            return Err(BatchError::LastOffsetDelta(delta));
        }
        let codec = batch.attributes() & COMPRESSION_MASK;
        if codec > 4 {
            return Err(BatchError::Codec(codec));
        }
        Ok(batch)
    }

    pub fn bytes(&self) -> &Bytes {
        &self.0
    }

    pub fn into_bytes(self) -> Bytes {
        self.0
    }

    /// The base-offset field: as the producer sent it, or, once read back from the log, the
    /// offset the log assigned.
    pub fn base_offset(&self) -> KafkaOffset {
        KafkaOffset(self.i64_at(BASE_OFFSET_AT))
    }

    /// The last offset the batch spans, given its base-offset field.
    pub fn last_offset(&self) -> KafkaOffset {
        KafkaOffset(self.base_offset().0 + i64::from(self.last_offset_delta()))
    }

    pub fn last_offset_delta(&self) -> i32 {
        self.i32_at(LAST_OFFSET_DELTA_AT)
    }

    /// How many offsets the batch spans (`lastOffsetDelta + 1`, at least 1).
    pub fn offset_count(&self) -> u32 {
        // `new` checked the delta is not negative, so this is in 1..=2^31.
        self.last_offset_delta() as u32 + 1
    }

    /// The partition leader epoch field: the Raft term the batch was written in, once stored.
    pub fn partition_leader_epoch(&self) -> i32 {
        self.i32_at(LEADER_EPOCH_AT)
    }

    pub fn magic(&self) -> i8 {
        self.0[MAGIC_AT] as i8
    }

    pub fn attributes(&self) -> i16 {
        self.i16_at(ATTRIBUTES_AT)
    }

    pub fn compression(&self) -> Compression {
        match self.attributes() & COMPRESSION_MASK {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            _ => Compression::Zstd,
        }
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & LOG_APPEND_TIME_FLAG != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes() & TRANSACTIONAL_FLAG != 0
    }

    /// A control batch (transaction markers) holds no user records.
    pub fn is_control(&self) -> bool {
        self.attributes() & CONTROL_FLAG != 0
    }

    pub fn base_timestamp(&self) -> i64 {
        self.i64_at(BASE_TIMESTAMP_AT)
    }

    pub fn max_timestamp(&self) -> i64 {
        self.i64_at(MAX_TIMESTAMP_AT)
    }

    pub fn producer_id(&self) -> i64 {
        self.i64_at(PRODUCER_ID_AT)
    }

    pub fn producer_epoch(&self) -> i16 {
        self.i16_at(PRODUCER_EPOCH_AT)
    }

    pub fn base_sequence(&self) -> i32 {
        self.i32_at(BASE_SEQUENCE_AT)
    }

    /// The record count field, as written (not checked against the records).
    pub fn record_count(&self) -> i32 {
        self.i32_at(RECORD_COUNT_AT)
    }

    /// The batch's own CRC field (CRC-32C of `attributes` to the end).
    pub fn crc(&self) -> u32 {
        self.i32_at(CRC_AT) as u32
    }

    /// Whether the CRC field matches the bytes it covers.
    pub fn crc_matches(&self) -> bool {
        crc32c::crc32c(&self.0[CRC_COVERS_FROM..]) == self.crc()
    }

    /// The batch as the log stores it, with `base_offset` and `leader_epoch` set: a fresh
    /// 16-byte prefix and the untouched rest, so the body is never copied. Every replica
    /// stamps the same values, so every replica stores identical bytes.
    pub fn stamped(&self, base_offset: KafkaOffset, leader_epoch: LeaderEpoch) -> [Bytes; 2] {
        let mut prefix = BytesMut::with_capacity(STAMPED_PREFIX_BYTES);
        prefix.put_i64(base_offset.0);
        prefix.put_slice(&self.0[BATCH_LENGTH_AT..LEADER_EPOCH_AT]);
        prefix.put_i32(leader_epoch.0);
        [prefix.freeze(), self.0.slice(STAMPED_PREFIX_BYTES..)]
    }

    fn i16_at(&self, at: usize) -> i16 {
        i16::from_be_bytes([self.0[at], self.0[at + 1]])
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
pub(super) mod tests {
    use super::*;

    pub(crate) fn header(len: usize, magic: i8, delta: i32) -> Vec<u8> {
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
        let mut bytes = header(80, 2, 4);
        bytes[ATTRIBUTES_AT + 1] = 0x10 | 0x08 | 3;
        bytes[PRODUCER_ID_AT..PRODUCER_ID_AT + 8].copy_from_slice(&9i64.to_be_bytes());
        bytes[PRODUCER_EPOCH_AT..PRODUCER_EPOCH_AT + 2].copy_from_slice(&2i16.to_be_bytes());
        bytes[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&40i32.to_be_bytes());
        bytes[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&5i32.to_be_bytes());
        let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
        assert_eq!(batch.offset_count(), 5);
        assert_eq!(batch.max_timestamp(), 77);
        assert_eq!(batch.base_offset(), KafkaOffset(0));
        assert_eq!(batch.last_offset(), KafkaOffset(4));
        assert_eq!(batch.compression(), Compression::Lz4);
        assert_eq!(batch.timestamp_type(), TimestampType::LogAppendTime);
        assert!(batch.is_transactional());
        assert!(!batch.is_control());
        assert_eq!(
            (
                batch.producer_id(),
                batch.producer_epoch(),
                batch.base_sequence()
            ),
            (9, 2, 40)
        );
        assert_eq!(batch.record_count(), 5);
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
    fn stamping_sets_offset_and_epoch_and_keeps_the_crc() {
        let mut bytes = header(90, 2, 2);
        let crc = crc32c::crc32c(&bytes[CRC_COVERS_FROM..]);
        bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
        let [prefix, body] = batch.stamped(KafkaOffset(1234), LeaderEpoch(7));
        let whole = [prefix, body].concat();
        let stored = RecordBatch::new(Bytes::from(whole)).unwrap();
        assert_eq!(stored.base_offset(), KafkaOffset(1234));
        assert_eq!(stored.partition_leader_epoch(), 7);
        assert_eq!(stored.offset_count(), 3);
        assert!(stored.crc_matches());
        assert_eq!(stored.bytes()[MAGIC_AT..], batch.bytes()[MAGIC_AT..]);
    }

    #[test]
    fn rejects_bad_headers() {
        let short = RecordBatch::new(Bytes::from(vec![0u8; 60]));
        assert_eq!(short, Err(BatchError::TooShort(60)));
        let magic = RecordBatch::new(Bytes::from(header(61, 1, 0)));
        assert_eq!(magic, Err(BatchError::Magic(1)));
        let delta = RecordBatch::new(Bytes::from(header(61, 2, -1)));
        assert_eq!(delta, Err(BatchError::LastOffsetDelta(-1)));
        let mut codec = header(61, 2, 0);
        codec[ATTRIBUTES_AT + 1] = 5;
        assert_eq!(
            RecordBatch::new(Bytes::from(codec)),
            Err(BatchError::Codec(5))
        );
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
