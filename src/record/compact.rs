//! Dropping records from a stored batch, as log compaction does: the batch keeps its header
//! (base offset, last offset delta, timestamps, producer fields), so the offsets of the records
//! it keeps never move and a batch left with no record still takes its offsets.

use bytes::{BufMut, Bytes, BytesMut};

use super::batch::{
    ATTRIBUTES_AT, BATCH_LENGTH_AT, COMPRESSION_MASK, CRC_AT, CRC_COVERS_FROM, LENGTH_PREFIX_BYTES,
};
use super::{BATCH_HEADER_BYTES, BatchError, Compression, Record, RecordBatch};

/// Where the record count sits in the header.
const RECORD_COUNT_AT: usize = BATCH_HEADER_BYTES - 4;

impl RecordBatch {
    /// This batch holding only the records `keep` accepts, compressed again with its own codec;
    /// `None` when it keeps every record (nothing to rewrite).
    pub fn retain_records(
        &self,
        mut keep: impl FnMut(&Record) -> bool,
    ) -> Result<Option<RecordBatch>, BatchError> {
        let (body, records) = self.records_with_spans()?;
        let kept: Vec<_> = records
            .iter()
            .filter(|(record, _)| keep(record))
            .map(|(_, span)| span.clone())
            .collect();
        if kept.len() == records.len() {
            return Ok(None);
        }
        let mut plain = BytesMut::with_capacity(kept.iter().map(|s| s.len()).sum());
        for span in &kept {
            plain.put_slice(&body[span.clone()]);
        }
        let records_bytes = compress(self.compression(), plain.freeze())?;
        let mut out = BytesMut::with_capacity(BATCH_HEADER_BYTES + records_bytes.len());
        out.put_slice(&self.bytes()[..BATCH_HEADER_BYTES]);
        out.put_slice(&records_bytes);
        if kept.is_empty() {
            // An empty batch is never compressed: clients would try to decompress nothing (as
            // Kafka's cleaner writes it: no codec, the rest of the header kept).
            let attributes = self.attributes() & !COMPRESSION_MASK;
            out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        }
        let length = (out.len() - LENGTH_PREFIX_BYTES) as i32;
        out[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
        out[RECORD_COUNT_AT..RECORD_COUNT_AT + 4]
            .copy_from_slice(&(kept.len() as i32).to_be_bytes());
        let crc = crc32c::crc32c(&out[CRC_COVERS_FROM..]);
        out[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        RecordBatch::new(out.freeze()).map(Some)
    }
}

/// `plain` (encoded records) compressed with `codec`; nothing stays nothing.
fn compress(codec: Compression, plain: Bytes) -> Result<Bytes, BatchError> {
    if plain.is_empty() {
        return Ok(plain);
    }
    let mut out = BytesMut::new();
    // The producer's level is not known: Kafka's default levels.
    super::rewrite::compress(&mut out, &plain, codec, Default::default())
        .map_err(|e| BatchError::Records(format!("does not compress: {e}")))?;
    Ok(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::tests::encoded;
    use kafka_protocol::records::Compression as Codec;

    #[test]
    fn kept_records_keep_their_offsets_in_every_codec() {
        for codec in [
            Codec::None,
            Codec::Gzip,
            Codec::Snappy,
            Codec::Lz4,
            Codec::Zstd,
        ] {
            let batch = RecordBatch::new(encoded(6, codec)).unwrap();
            let before = batch.records().unwrap();
            let kept = batch
                .retain_records(|r| r.offset % 3 == 1)
                .unwrap()
                .expect("rewritten");
            assert!(kept.crc_matches(), "{codec:?}");
            assert_eq!(kept.compression(), batch.compression());
            assert_eq!(kept.offset_count(), batch.offset_count());
            assert_eq!(kept.max_timestamp(), batch.max_timestamp());
            assert_eq!(kept.record_count(), 2);
            let after = kept.records().unwrap();
            assert_eq!(
                after,
                vec![before[1].clone(), before[4].clone()],
                "{codec:?}"
            );
        }
    }

    #[test]
    fn a_batch_can_lose_every_record_and_keep_its_offsets() {
        let batch = RecordBatch::new(encoded(4, Codec::Lz4)).unwrap();
        let empty = batch.retain_records(|_| false).unwrap().expect("rewritten");
        assert_eq!(empty.record_count(), 0);
        assert_eq!(empty.compression(), Compression::None);
        assert_eq!(empty.bytes().len(), BATCH_HEADER_BYTES);
        assert_eq!(empty.offset_count(), 4);
        assert!(empty.crc_matches());
        assert!(empty.records().unwrap().is_empty());
        assert!(batch.retain_records(|_| true).unwrap().is_none());
    }
}
