//! The record batches of a Produce partition: split without copying, each checked (framing,
//! magic 2, codec, CRC) without decompressing, before anything is appended.

use bytes::Bytes;

use super::batch::{LENGTH_PREFIX_BYTES, MAGIC_AT, MAGIC_V2};
use super::{BatchError, RecordBatch};

/// Splits `records` into its batches, checking each one's header and CRC.
pub fn split_checked(records: &Bytes) -> Result<Vec<RecordBatch>, BatchError> {
    if records.is_empty() {
        return Err(BatchError::Empty);
    }
    let mut batches = Vec::new();
    let mut at = 0usize;
    while at < records.len() {
        let rest = &records[at..];
        if rest.len() <= MAGIC_AT {
            return Err(BatchError::Framing(at));
        }
        let magic = rest[MAGIC_AT] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::Magic(magic));
        }
        let length = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let total = usize::try_from(length)
            .ok()
            .and_then(|l| l.checked_add(LENGTH_PREFIX_BYTES))
            .filter(|t| *t <= rest.len())
            .ok_or(BatchError::Framing(at))?;
        let batch = RecordBatch::new(records.slice(at..at + total)).map_err(|e| match e {
            BatchError::TooShort(_) | BatchError::LengthMismatch { .. } => BatchError::Framing(at),
            other => other,
        })?;
        if !batch.crc_matches() {
            return Err(BatchError::Checksum);
        }
        if batch.record_count() < 0 {
            return Err(BatchError::Records(format!(
                "negative record count {}",
                batch.record_count()
            )));
        }
        check_as_kafka(&batch)?;
        batches.push(batch);
        at += total;
    }
    Ok(batches)
}

/// What Kafka's log validator refuses of a client's batch before looking at its records: a
/// base offset other than 0, a record count other than `lastOffsetDelta + 1` (so a small batch
/// cannot take billions of offsets), a control batch (only the broker writes those), a producer
/// id with a negative sequence.
fn check_as_kafka(batch: &RecordBatch) -> Result<(), BatchError> {
    let refuse = |reason: String| Err(BatchError::Invalid(reason));
    if batch.base_offset().0 != 0 {
        return refuse(format!(
            "the base offset of a produced batch must be 0, not {}",
            batch.base_offset()
        ));
    }
    let count = i64::from(batch.record_count());
    let offsets = i64::from(batch.last_offset_delta()) + 1;
    if count != offsets {
        return refuse(format!(
            "record count {count} does not match the {offsets} offsets the batch spans \
             (lastOffsetDelta + 1)"
        ));
    }
    if batch.is_control() {
        return refuse("clients may not write control records".to_string());
    }
    if batch.producer_id() >= 0 && batch.base_sequence() < 0 {
        return refuse(format!(
            "invalid sequence {} in a batch of producer {}",
            batch.base_sequence(),
            batch.producer_id()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::client_batch;

    #[test]
    fn splits_concatenated_batches() {
        let mut both = client_batch(3).to_vec();
        both.extend_from_slice(&client_batch(1));
        let split = split_checked(&Bytes::from(both)).unwrap();
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].bytes(), &client_batch(3));
        assert_eq!(split[1].offset_count(), 1);
    }

    #[test]
    fn damage_is_refused() {
        let good = client_batch(2);
        for i in 8..good.len() {
            if (12..16).contains(&i) {
                continue; // the partition leader epoch is the broker's to set, outside the CRC
            }
            let mut bad = good.to_vec();
            bad[i] ^= 0x20;
            assert!(split_checked(&Bytes::from(bad)).is_err(), "byte {i}");
        }
        for cut in 0..good.len() {
            assert!(split_checked(&good.slice(..cut)).is_err(), "cut {cut}");
        }
        let mut old = good.to_vec();
        old[MAGIC_AT] = 1;
        assert_eq!(split_checked(&Bytes::from(old)), Err(BatchError::Magic(1)));
    }

    /// `good` with `bytes` written at `at` and its CRC set again.
    fn patched(good: &Bytes, at: usize, bytes: &[u8]) -> Bytes {
        let mut out = good.to_vec();
        out[at..at + bytes.len()].copy_from_slice(bytes);
        let crc = crc32c::crc32c(&out[21..]);
        out[17..21].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(out)
    }

    #[test]
    fn batches_kafka_refuses_are_invalid_not_corrupt() {
        let good = client_batch(2);
        let invalid = |bytes: Bytes| matches!(split_checked(&bytes), Err(BatchError::Invalid(_)));
        // lastOffsetDelta 2^31 - 1 for two records: billions of offsets.
        assert!(invalid(patched(&good, 23, &i32::MAX.to_be_bytes())));
        assert!(invalid(patched(&good, 57, &3i32.to_be_bytes())));
        assert!(invalid(patched(&good, 0, &7i64.to_be_bytes())));
        // The control flag in the attributes.
        assert!(invalid(patched(&good, 22, &[good[22] | 0x20])));
        // A producer id (here 4) with sequence -1.
        let with_producer = patched(&good, 43, &4i64.to_be_bytes());
        assert!(!invalid(patched(&with_producer, 53, &0i32.to_be_bytes())));
        assert!(invalid(patched(&with_producer, 53, &(-1i32).to_be_bytes())));
    }
}
