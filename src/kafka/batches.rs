//! The record batches of a Produce partition: split without copying, each checked (magic 2,
//! CRC) without decompressing, before anything is appended.

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

/// Bytes of a batch before its `batchLength` count starts (base offset + the length itself).
const LENGTH_PREFIX_BYTES: usize = 12;
const MAGIC_AT: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BatchError {
    #[error("no records")]
    Empty,
    #[error("record batch framing is broken at byte {0}")]
    Framing(usize),
    #[error("record batch magic {0}: only magic 2 (Kafka 0.11+) is accepted")]
    Magic(i8),
    #[error("record batch rejected: {0}")]
    Invalid(String),
}

/// Splits `records` into its batches, checking each one's CRC.
pub(crate) fn split(records: &Bytes) -> Result<Vec<Bytes>, BatchError> {
    if records.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut batches = Vec::new();
    let mut at = 0usize;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() < LENGTH_PREFIX_BYTES + 5 {
            return Err(BatchError::Framing(at));
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let total = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(LENGTH_PREFIX_BYTES))
            .filter(|t| *t <= rest.len())
            .ok_or(BatchError::Framing(at))?;
        let magic = rest[MAGIC_AT] as i8;
        if magic != 2 {
            return Err(BatchError::Magic(magic));
        }
        let batch = records.slice(at..at + total);
        let mut check = batch.clone();
        let infos = RecordBatchDecoder::decode_batch_info(&mut check)
            .map_err(|e| BatchError::Invalid(e.to_string()))?;
        if infos.len() != 1 || !check.is_empty() {
            return Err(BatchError::Framing(at));
        }
        batches.push(batch);
        at += total;
    }
    Ok(batches)
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    use super::*;

    fn batch(n: usize) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1000 + i as i64,
                key: None,
                value: Some(Bytes::from(vec![b'v'; 10])),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf.freeze()
    }

    #[test]
    fn splits_concatenated_batches() {
        let mut both = BytesMut::new();
        both.extend_from_slice(&batch(3));
        both.extend_from_slice(&batch(1));
        let both = both.freeze();
        let split = split(&both).unwrap();
        assert_eq!(split.len(), 2);
        assert_eq!(split[0], batch(3));
    }

    #[test]
    fn damage_is_refused() {
        let good = batch(2);
        for i in 21..good.len() {
            let mut bad = good.to_vec();
            bad[i] ^= 0x20;
            assert!(split(&Bytes::from(bad)).is_err(), "byte {i}");
        }
        for cut in 0..good.len() {
            assert!(split(&good.slice(..cut)).is_err(), "cut {cut}");
        }
        let mut old = good.to_vec();
        old[MAGIC_AT] = 1;
        assert_eq!(split(&Bytes::from(old)), Err(BatchError::Magic(1)));
    }
}
