//! Internal commands as Kafka records: each command is the JSON value of a one-record
//! RecordBatch (magic 2, uncompressed) in an internal partition (`__cluster_metadata`,
//! `__consumer_offsets`), so those logs are ordinary replicated partitions that any replica
//! replays in order. `store.rs` proposes and applies metadata commands; `group/offsets.rs` the
//! committed offsets.

use bytes::{BufMut, Bytes, BytesMut};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Batch header bytes before the records (RecordBatch v2).
const HEADER_BYTES: usize = 61;
/// The CRC covers the batch from its attributes field on.
const CRC_FROM: usize = 21;

/// Encodes `cmd` as a RecordBatch holding one record whose value is the command in JSON.
pub fn encode<T: Serialize>(cmd: &T, timestamp_ms: i64) -> Bytes {
    let value = serde_json::to_vec(cmd).expect("internal commands serialize");
    let mut record = BytesMut::new();
    record.put_i8(0); // attributes
    put_varlong(&mut record, 0); // timestamp delta
    put_varint(&mut record, 0); // offset delta
    put_varint(&mut record, -1); // null key
    put_varint(&mut record, value.len() as i32);
    record.put_slice(&value);
    put_varint(&mut record, 0); // no headers

    let mut batch = BytesMut::with_capacity(HEADER_BYTES + record.len() + 5);
    batch.put_i64(0); // base offset, assigned by the log
    batch.put_i32(0); // batch length, patched below
    batch.put_i32(-1); // partition leader epoch
    batch.put_i8(2); // magic
    batch.put_u32(0); // crc, patched below
    batch.put_i16(0); // attributes: no compression, CreateTime
    batch.put_i32(0); // last offset delta
    batch.put_i64(timestamp_ms); // base timestamp
    batch.put_i64(timestamp_ms); // max timestamp
    batch.put_i64(-1); // producer id
    batch.put_i16(-1); // producer epoch
    batch.put_i32(-1); // base sequence
    batch.put_i32(1); // record count
    put_varint(&mut batch, record.len() as i32);
    batch.put_slice(&record);
    let batch_length = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&batch_length.to_be_bytes());
    let crc = crc32c::crc32c(&batch[CRC_FROM..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

/// Why a batch of an internal log could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable internal record: {0}")]
pub struct DecodeError(&'static str);

/// The command in a batch written by [`encode`]; checks the CRC.
pub fn decode<T: DeserializeOwned>(batch: &[u8]) -> Result<T, DecodeError> {
    if batch.len() < HEADER_BYTES || batch[16] != 2 {
        return Err(DecodeError("not a RecordBatch v2"));
    }
    let crc = u32::from_be_bytes([batch[17], batch[18], batch[19], batch[20]]);
    if crc32c::crc32c(&batch[CRC_FROM..]) != crc {
        return Err(DecodeError("checksum mismatch"));
    }
    if i16::from_be_bytes([batch[21], batch[22]]) & 0x07 != 0 {
        return Err(DecodeError("compressed"));
    }
    let mut rest = &batch[HEADER_BYTES..];
    let _record_len = get_varint(&mut rest)?;
    let _attributes = take(&mut rest, 1)?;
    let _ts_delta = get_varint(&mut rest)?;
    let _offset_delta = get_varint(&mut rest)?;
    let key_len = get_varint(&mut rest)?;
    if key_len > 0 {
        take(&mut rest, key_len as usize)?;
    }
    let value_len = get_varint(&mut rest)?;
    let value = take(
        &mut rest,
        usize::try_from(value_len).map_err(|_| DecodeError("null value"))?,
    )?;
    serde_json::from_slice(value).map_err(|_| DecodeError("not a command of this log"))
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], DecodeError> {
    if buf.len() < n {
        return Err(DecodeError("truncated"));
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

fn put_varint(buf: &mut BytesMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// A zigzag varint of at most 10 bytes (Kafka's varlong; varints are a subset).
fn get_varint(buf: &mut &[u8]) -> Result<i64, DecodeError> {
    let mut z: u64 = 0;
    for shift in (0..70).step_by(7) {
        let byte = *take(buf, 1)?.first().ok_or(DecodeError("truncated"))?;
        z |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
        }
    }
    Err(DecodeError("varint too long"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::state::{BrokerInfo, Command};

    #[test]
    fn commands_round_trip_and_damage_is_caught() {
        let cmd = Command::RegisterBroker(BrokerInfo {
            node_id: 3,
            host: "127.0.0.1".into(),
            port: 9094,
        });
        let batch = encode(&cmd, 1_700_000_000_000);
        assert_eq!(decode(&batch), Ok(cmd));
        for i in CRC_FROM..batch.len() {
            let mut bad = batch.to_vec();
            bad[i] ^= 0x01;
            assert!(decode::<Command>(&bad).is_err(), "byte {i}");
        }
        for cut in 0..batch.len() {
            assert!(decode::<Command>(&batch[..cut]).is_err());
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let mut buf = BytesMut::new();
            put_varlong(&mut buf, v);
            let mut slice = &buf[..];
            assert_eq!(get_varint(&mut slice), Ok(v));
            assert!(slice.is_empty());
        }
    }
}
