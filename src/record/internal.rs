//! raftka's own records: each command of an internal log (`__cluster_metadata`,
//! `__consumer_offsets`) is the JSON value of a one-record, uncompressed RecordBatch v2, so those
//! logs are ordinary replicated partitions that any replica replays in order.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::batch::{BATCH_LENGTH_AT, CRC_AT, CRC_COVERS_FROM, LENGTH_PREFIX_BYTES, MAGIC_V2};
use super::varint::{put_varint, put_varlong};
use super::{BATCH_HEADER_BYTES, BatchError, Compression, NO_PRODUCER_ID, RecordBatch};
use crate::types::KafkaOffset;

/// Why a batch of an internal log could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InternalRecordError {
    #[error("unreadable internal record: {0}")]
    Batch(#[from] BatchError),
    #[error("internal record: checksum mismatch")]
    Checksum,
    #[error("internal record is compressed")]
    Compressed,
    #[error("{0} records in an internal batch where one was expected")]
    RecordCount(usize),
    #[error("internal record without a value")]
    NullValue,
    /// serde_json's message: its error type is neither `Clone` nor `Eq`.
    #[error("internal record is not a command of this log: {0}")]
    NotACommand(String),
}

/// Encodes `command` as a RecordBatch holding one record whose value is the command in JSON.
pub fn encode_internal<T: Serialize>(command: &T, timestamp_ms: i64) -> RecordBatch {
    let value = serde_json::to_vec(command).expect("internal commands serialize");
    let mut record = BytesMut::new();
    record.put_i8(0); // attributes
    put_varlong(&mut record, 0); // timestamp delta
    put_varint(&mut record, 0); // offset delta
    put_varint(&mut record, -1); // null key
    put_varint(&mut record, value.len() as i32);
    record.put_slice(&value);
    put_varint(&mut record, 0); // no headers

    let mut batch = BytesMut::with_capacity(BATCH_HEADER_BYTES + record.len() + 5);
    batch.put_i64(0); // base offset, assigned by the log
    batch.put_i32(0); // batch length, set below
    batch.put_i32(-1); // partition leader epoch, set by the log
    batch.put_i8(MAGIC_V2);
    batch.put_u32(0); // crc, set below
    batch.put_i16(0); // attributes: no compression, CreateTime
    batch.put_i32(0); // last offset delta
    batch.put_i64(timestamp_ms); // base timestamp
    batch.put_i64(timestamp_ms); // max timestamp
    batch.put_i64(NO_PRODUCER_ID);
    batch.put_i16(-1); // producer epoch
    batch.put_i32(-1); // base sequence
    batch.put_i32(1); // record count
    put_varint(&mut batch, record.len() as i32);
    batch.put_slice(&record);
    let batch_length = (batch.len() - LENGTH_PREFIX_BYTES) as i32;
    batch[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_COVERS_FROM..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    RecordBatch::new(batch.freeze()).expect("an internal batch is one well-formed batch")
}

/// One batch of an internal log as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalRecord<T> {
    /// The offset the log gave it.
    pub offset: KafkaOffset,
    /// The command, or why it cannot be read (a reader skips it, identically on every replica).
    pub command: Result<T, InternalRecordError>,
}

/// Reads a batch written by [`encode_internal`], checking its CRC. An error means the bytes are
/// not a batch at all, so not even its offset is known.
pub fn decode_internal<T: DeserializeOwned>(
    bytes: &Bytes,
) -> Result<InternalRecord<T>, InternalRecordError> {
    let batch = RecordBatch::new(bytes.clone())?;
    Ok(InternalRecord {
        offset: batch.base_offset(),
        command: command_of(&batch),
    })
}

fn command_of<T: DeserializeOwned>(batch: &RecordBatch) -> Result<T, InternalRecordError> {
    if !batch.crc_matches() {
        return Err(InternalRecordError::Checksum);
    }
    if batch.compression() != Compression::None {
        return Err(InternalRecordError::Compressed);
    }
    let records = batch.records()?;
    let [record] = records.as_slice() else {
        return Err(InternalRecordError::RecordCount(records.len()));
    };
    let value = record
        .value
        .as_ref()
        .ok_or(InternalRecordError::NullValue)?;
    serde_json::from_slice(value).map_err(|e| InternalRecordError::NotACommand(e.to_string()))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Command {
        Register { node: u64, host: String },
    }

    #[test]
    fn commands_round_trip_and_damage_is_caught() {
        let command = Command::Register {
            node: 3,
            host: "127.0.0.1".into(),
        };
        let batch = encode_internal(&command, 1_700_000_000_000).into_bytes();
        let read = decode_internal(&batch).unwrap();
        assert_eq!((read.offset, read.command), (KafkaOffset(0), Ok(command)));
        for i in CRC_AT..batch.len() {
            let mut bad = batch.to_vec();
            bad[i] ^= 0x01;
            let read = decode_internal::<Command>(&Bytes::from(bad));
            assert!(read.is_err() || read.unwrap().command.is_err(), "byte {i}");
        }
        for cut in 0..batch.len() {
            assert!(decode_internal::<Command>(&batch.slice(..cut)).is_err());
        }
    }
}
