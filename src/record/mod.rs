//! Kafka's RecordBatch v2 format, the one module that knows its bytes: the header layout and a
//! checked view of its fields (`batch.rs`), the checks a client's batches pass before they are
//! appended (`split.rs`), what a topic's settings do to a batch before it is replicated
//! (`rewrite.rs`), record iteration with decompression (`records.rs`), dropping records from a
//! batch for compaction (`compact.rs`), and raftka's own internal records (`internal.rs`). It
//! imports nothing of the broker's other modules; storage
//! never imports it (a stored entry is opaque bytes with position metadata handed down).

mod batch;
mod compact;
mod internal;
mod records;
mod rewrite;
mod split;
mod varint;

pub use batch::{
    BATCH_HEADER_BYTES, BatchError, Compression, MAGIC_V2, NO_PRODUCER_ID, RecordBatch,
    TimestampType,
};
pub use internal::{InternalRecord, InternalRecordError, decode_internal, encode_internal};
pub use records::Record;
pub use rewrite::{
    AppendRules, CompressionLevels, PrepareError, RecordError, RejectReason, RejectedRecords,
    prepare,
};
pub use split::split_checked;

#[cfg(test)]
pub(crate) mod tests {
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::records::{
        Compression as Codec, Record as WireRecord, RecordBatchEncoder, RecordEncodeOptions,
        TimestampType as WireTimestampType,
    };

    use super::*;

    fn wire_records(n: usize) -> Vec<WireRecord> {
        (0..n)
            .map(|i| WireRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: WireTimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: 1000 + i as i64,
                key: (i % 2 == 0).then(|| Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'v'; 10 + i])),
                headers: [(
                    kafka_protocol::protocol::StrBytes::from_static_str("h"),
                    Some(Bytes::from_static(b"hv")),
                )]
                .into_iter()
                .collect(),
            })
            .collect()
    }

    /// A batch of `n` records as a client encodes it, compressed with `codec`.
    pub(crate) fn encoded(n: usize, codec: Codec) -> Bytes {
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: codec,
        };
        RecordBatchEncoder::encode(&mut buf, &wire_records(n), &options).unwrap();
        buf.freeze()
    }

    /// An uncompressed batch of `n` records as a client encodes it.
    pub(crate) fn client_batch(n: usize) -> Bytes {
        encoded(n, Codec::None)
    }

    #[test]
    fn records_come_out_of_every_codec() {
        for (codec, named) in [
            (Codec::None, Compression::None),
            (Codec::Gzip, Compression::Gzip),
            (Codec::Snappy, Compression::Snappy),
            (Codec::Lz4, Compression::Lz4),
            (Codec::Zstd, Compression::Zstd),
        ] {
            let [batch] =
                <[RecordBatch; 1]>::try_from(split_checked(&encoded(5, codec)).unwrap()).unwrap();
            assert_eq!(batch.compression(), named);
            let records = batch.records().unwrap();
            assert_eq!(records.len(), 5, "{named:?}");
            for (i, record) in records.iter().enumerate() {
                assert_eq!(record.offset, i as i64);
                assert_eq!(record.timestamp, 1000 + i as i64);
                let key = (i % 2 == 0).then(|| Bytes::from(format!("k{i}")));
                assert_eq!(record.key, key);
                assert_eq!(record.value.as_deref(), Some(&vec![b'v'; 10 + i][..]));
                assert_eq!(
                    record.headers,
                    vec![("h".to_string(), Some(Bytes::from_static(b"hv")))]
                );
            }
        }
    }

    #[test]
    fn a_record_count_larger_than_the_bytes_is_refused_before_allocating() {
        let mut bytes = client_batch(2).to_vec();
        bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
        let batch = RecordBatch::new(Bytes::from(bytes)).unwrap();
        assert!(batch.records().is_err());
    }
}
