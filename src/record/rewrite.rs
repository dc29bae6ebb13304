//! What a topic's settings make the leader do to a client's batch before it is replicated, as
//! Kafka's LogValidator does: check record timestamps (CreateTime) and keys (compacted topics),
//! stamp LogAppendTime, recompress to the topic's codec. The result is what every replica
//! stores, byte for byte. `split.rs` has already checked the batch's framing and CRC.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{self, Compressor};

use super::batch::{
    ATTRIBUTES_AT, BATCH_LENGTH_AT, COMPRESSION_MASK, CRC_AT, CRC_COVERS_FROM, LENGTH_PREFIX_BYTES,
    LOG_APPEND_TIME_FLAG, MAX_TIMESTAMP_AT,
};
use super::{BATCH_HEADER_BYTES, BatchError, Compression, RecordBatch, TimestampType};

/// A record timestamp meaning "none" (skipped by the timestamp checks, as in Kafka).
const NO_TIMESTAMP: i64 = -1;
/// Record errors a refusal's message quotes (Kafka shows the first three).
const QUOTED_ERRORS: usize = 3;

/// The topic settings that act on a batch being appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendRules {
    /// LogAppendTime: the batch is stamped with the leader's clock.
    pub timestamp_type: TimestampType,
    /// The codec batches are stored with; `None` keeps the producer's.
    pub compression: Option<Compression>,
    /// The levels that codec compresses at.
    pub levels: CompressionLevels,
    /// CreateTime records older than this before now are refused.
    pub timestamp_before_max_ms: i64,
    /// CreateTime records newer than this after now are refused.
    pub timestamp_after_max_ms: i64,
    /// Every record needs a key (a compacted topic).
    pub keys_required: bool,
}

/// One refused record: its index in its batch and why (Kafka's produce `record_errors`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

/// The kind of fault that refuses a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectReason {
    /// A record's timestamp is outside the topic's bounds.
    InvalidTimestamp,
    /// A record breaks the topic's rules (no key on a compacted topic).
    InvalidRecord,
}

/// A batch refused because of some of its records: every faulty record is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", refusal_message(.records))]
pub struct RejectedRecords {
    /// InvalidTimestamp when any record's timestamp is at fault, else InvalidRecord.
    pub reason: RejectReason,
    pub records: Vec<RecordError>,
}

fn refusal_message(records: &[RecordError]) -> String {
    let quoted: Vec<String> = records
        .iter()
        .take(QUOTED_ERRORS)
        .map(|e| format!("record {}: {}", e.batch_index, e.message))
        .collect();
    format!(
        "{} record(s) of the batch refused; the first {}: {}",
        records.len(),
        quoted.len(),
        quoted.join("; ")
    )
}

/// Why a batch was not prepared for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Rejected(#[from] RejectedRecords),
}

/// The batch as the log is to store it under `rules` at time `now_ms`: the same bytes when no
/// setting asks for a change, else a rewritten batch with a fresh CRC. Offsets deltas,
/// timestamps, producer id, epoch, sequence and the other attributes are kept.
pub fn prepare(
    batch: RecordBatch,
    rules: &AppendRules,
    now_ms: i64,
) -> Result<RecordBatch, PrepareError> {
    if batch.is_control() {
        return Ok(batch);
    }
    let check_timestamps = rules.timestamp_type == TimestampType::CreateTime
        && (rules.timestamp_before_max_ms < i64::MAX || rules.timestamp_after_max_ms < i64::MAX);
    if check_timestamps || rules.keys_required {
        check_records(&batch, rules, now_ms)?;
    }
    let codec = rules
        .compression
        .filter(|codec| *codec != batch.compression());
    let stamp = rules.timestamp_type == TimestampType::LogAppendTime;
    if codec.is_none() && !stamp {
        return Ok(batch);
    }
    let mut bytes = match codec {
        Some(codec) => recompressed(&batch, codec, rules.levels)?,
        None => BytesMut::from(&batch.bytes()[..]),
    };
    if stamp {
        let attributes = batch.attributes() | LOG_APPEND_TIME_FLAG;
        bytes[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
        bytes[MAX_TIMESTAMP_AT..MAX_TIMESTAMP_AT + 8].copy_from_slice(&now_ms.to_be_bytes());
    }
    let crc = crc32c::crc32c(&bytes[CRC_COVERS_FROM..]);
    bytes[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(RecordBatch::new(bytes.freeze())?)
}

/// Kafka's record checks: timestamps within `[now - before, now + after]` for CreateTime, a
/// key on every record when keys are required. All faulty records are reported.
fn check_records(
    batch: &RecordBatch,
    rules: &AppendRules,
    now_ms: i64,
) -> Result<(), PrepareError> {
    let earliest = now_ms.saturating_sub(rules.timestamp_before_max_ms);
    let latest = now_ms.saturating_add(rules.timestamp_after_max_ms);
    let check_timestamps = rules.timestamp_type == TimestampType::CreateTime;
    let mut errors = Vec::new();
    let mut timestamp_fault = false;
    batch.scan_records(|index, record| {
        let batch_index = index as i32;
        if rules.keys_required && !record.has_key {
            errors.push(RecordError {
                batch_index,
                message: "Compacted topic cannot accept message without key".to_string(),
            });
        }
        let ts = record.timestamp;
        if check_timestamps && ts != NO_TIMESTAMP && !(earliest..=latest).contains(&ts) {
            timestamp_fault = true;
            errors.push(RecordError {
                batch_index,
                message: format!(
                    "Timestamp {ts} of message with offset {} is out of range. The timestamp \
                     should be within [{earliest}, {latest}]",
                    record.offset
                ),
            });
        }
    })?;
    if errors.is_empty() {
        return Ok(());
    }
    let reason = if timestamp_fault {
        RejectReason::InvalidTimestamp
    } else {
        RejectReason::InvalidRecord
    };
    Err(RejectedRecords {
        reason,
        records: errors,
    }
    .into())
}

/// The batch's header with its records compressed with `codec` (the record bytes themselves
/// are the same in every codec), its length and codec bits updated; the CRC is left to set.
fn recompressed(
    batch: &RecordBatch,
    codec: Compression,
    levels: CompressionLevels,
) -> Result<BytesMut, BatchError> {
    let body = batch.decompressed_body()?;
    let mut out = BytesMut::with_capacity(BATCH_HEADER_BYTES + body.len());
    out.put_slice(&batch.bytes()[..BATCH_HEADER_BYTES]);
    compress(&mut out, &body, codec, levels)
        .map_err(|e| BatchError::Records(format!("does not compress: {e}")))?;
    let length = i32::try_from(out.len() - LENGTH_PREFIX_BYTES)
        .map_err(|_| BatchError::Records("recompressed batch too large".into()))?;
    out[BATCH_LENGTH_AT..BATCH_LENGTH_AT + 4].copy_from_slice(&length.to_be_bytes());
    let attributes = (batch.attributes() & !COMPRESSION_MASK) | codec_bits(codec);
    out[ATTRIBUTES_AT..ATTRIBUTES_AT + 2].copy_from_slice(&attributes.to_be_bytes());
    Ok(out)
}

pub(super) fn compress(
    out: &mut BytesMut,
    body: &Bytes,
    codec: Compression,
    levels: CompressionLevels,
) -> anyhow::Result<()> {
    use std::io::Write;
    match codec {
        Compression::None => out.put_slice(body),
        Compression::Gzip => {
            let level = match levels.gzip {
                -1 => flate2::Compression::default(),
                level => flate2::Compression::new(level.clamp(0, 9) as u32),
            };
            let mut encoder = flate2::write::GzEncoder::new(out.writer(), level);
            encoder.write_all(body)?;
            encoder.finish()?;
        }
        Compression::Snappy => {
            let write = |buf: &mut BytesMut| {
                buf.put_slice(body);
                Ok(())
            };
            compression::Snappy::compress(out, write)?;
        }
        Compression::Lz4 => {
            // Independent blocks, as Kafka's own LZ4 frames.
            let mut encoder = lz4::EncoderBuilder::new()
                .level(levels.lz4.clamp(1, 17) as u32)
                .block_mode(lz4::BlockMode::Independent)
                .build(out.writer())?;
            encoder.write_all(body)?;
            let (_, done) = encoder.finish();
            done?;
        }
        Compression::Zstd => {
            zstd::stream::copy_encode(&body[..], out.writer(), levels.zstd)?;
        }
    }
    Ok(())
}

/// The levels a topic compresses each codec at (`compression.gzip.level`,
/// `compression.lz4.level`, `compression.zstd.level`); Kafka's defaults otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionLevels {
    /// -1: the codec's default (6).
    pub gzip: i32,
    pub lz4: i32,
    pub zstd: i32,
}

impl CompressionLevels {
    pub const KAFKA_DEFAULTS: CompressionLevels = CompressionLevels {
        gzip: -1,
        lz4: 9,
        zstd: 3,
    };
}

impl Default for CompressionLevels {
    fn default() -> Self {
        CompressionLevels::KAFKA_DEFAULTS
    }
}

/// The attribute bits naming `codec`.
fn codec_bits(codec: Compression) -> i16 {
    match codec {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
    }
}

#[cfg(test)]
mod tests {
    use kafka_protocol::records::Compression as Codec;

    use super::*;
    use crate::record::split_checked;
    use crate::record::tests::{client_batch, encoded};

    /// Records 0..n timestamped 1000 + i; even ones have keys.
    fn one(bytes: Bytes) -> RecordBatch {
        split_checked(&bytes).unwrap().remove(0)
    }

    const KEEP: AppendRules = AppendRules {
        timestamp_type: TimestampType::CreateTime,
        compression: None,
        levels: CompressionLevels::KAFKA_DEFAULTS,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: i64::MAX,
        keys_required: false,
    };

    #[test]
    fn a_batch_no_setting_touches_is_kept_as_sent() {
        let batch = one(client_batch(4));
        let kept = prepare(batch.clone(), &KEEP, 5_000).unwrap();
        assert_eq!(kept.bytes(), batch.bytes());
    }

    #[test]
    fn log_append_time_stamps_the_batch_and_its_records() {
        let batch = one(encoded(3, Codec::Lz4));
        let rules = AppendRules {
            timestamp_type: TimestampType::LogAppendTime,
            ..KEEP
        };
        let stamped = prepare(batch.clone(), &rules, 777_000).unwrap();
        assert!(stamped.crc_matches());
        assert_eq!(stamped.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!(stamped.max_timestamp(), 777_000);
        assert_eq!(stamped.base_timestamp(), batch.base_timestamp());
        assert_eq!(stamped.compression(), Compression::Lz4);
        let records = stamped.records().unwrap();
        assert!(records.iter().all(|r| r.timestamp == 777_000));
        let before = batch.records().unwrap();
        assert_eq!(
            records.iter().map(|r| &r.value).collect::<Vec<_>>(),
            before.iter().map(|r| &r.value).collect::<Vec<_>>()
        );
    }

    #[test]
    fn batches_are_recompressed_to_the_topic_codec() {
        for (from, to) in [
            (Codec::None, Compression::Zstd),
            (Codec::None, Compression::Gzip),
            (Codec::Snappy, Compression::Lz4),
            (Codec::Gzip, Compression::None),
            (Codec::Zstd, Compression::Snappy),
        ] {
            let batch = one(encoded(6, from));
            let rules = AppendRules {
                compression: Some(to),
                ..KEEP
            };
            let out = prepare(batch.clone(), &rules, 0).unwrap();
            // Framing, length and CRC all check out again.
            let out = one(out.into_bytes());
            assert_eq!(out.compression(), to, "{from:?} -> {to:?}");
            assert_eq!(out.records().unwrap(), batch.records().unwrap());
            assert_eq!(out.offset_count(), batch.offset_count());
            assert_eq!(out.max_timestamp(), batch.max_timestamp());
            assert_eq!(
                (out.producer_id(), out.producer_epoch(), out.base_sequence()),
                (
                    batch.producer_id(),
                    batch.producer_epoch(),
                    batch.base_sequence()
                )
            );
            assert_eq!(out.timestamp_type(), TimestampType::CreateTime);
        }
    }

    #[test]
    fn the_topic_levels_decide_how_hard_each_codec_compresses() {
        let batch = one(encoded(200, Codec::None));
        for (to, fast, hard) in [
            (Compression::Gzip, (1, 9, 3), (9, 9, 3)),
            (Compression::Lz4, (-1, 1, 3), (-1, 17, 3)),
            (Compression::Zstd, (-1, 9, 1), (-1, 9, 19)),
        ] {
            let size = |(gzip, lz4, zstd)| {
                let rules = AppendRules {
                    compression: Some(to),
                    levels: CompressionLevels { gzip, lz4, zstd },
                    ..KEEP
                };
                let out = one(prepare(batch.clone(), &rules, 0).unwrap().into_bytes());
                assert_eq!(out.records().unwrap(), batch.records().unwrap());
                out.bytes().len()
            };
            assert!(size(hard) < size(fast), "{to:?}");
        }
    }

    #[test]
    fn keyless_records_are_refused_when_keys_are_required() {
        let rules = AppendRules {
            keys_required: true,
            ..KEEP
        };
        let Err(PrepareError::Rejected(rejected)) = prepare(one(client_batch(4)), &rules, 0) else {
            panic!("keyless records accepted");
        };
        assert_eq!(rejected.reason, RejectReason::InvalidRecord);
        let indexes: Vec<i32> = rejected.records.iter().map(|e| e.batch_index).collect();
        assert_eq!(indexes, [1, 3]);
        assert!(rejected.records[0].message.contains("without key"));
        assert!(prepare(one(client_batch(1)), &rules, 0).is_ok());
    }

    #[test]
    fn create_time_records_outside_the_bounds_are_refused() {
        // Timestamps are 1000..=1003.
        let late = AppendRules {
            timestamp_before_max_ms: 1_001,
            ..KEEP
        };
        let Err(PrepareError::Rejected(rejected)) = prepare(one(client_batch(4)), &late, 2_002)
        else {
            panic!("old records accepted");
        };
        assert_eq!(rejected.reason, RejectReason::InvalidTimestamp);
        assert_eq!(rejected.records.len(), 1);
        assert_eq!(rejected.records[0].batch_index, 0);
        let early = AppendRules {
            timestamp_after_max_ms: 2,
            ..KEEP
        };
        let Err(PrepareError::Rejected(rejected)) = prepare(one(client_batch(4)), &early, 1_000)
        else {
            panic!("future records accepted");
        };
        assert_eq!(rejected.records[0].batch_index, 3);
        assert!(prepare(one(client_batch(4)), &early, 1_001).is_ok());
        // LogAppendTime replaces the timestamps rather than checking them.
        let stamped = AppendRules {
            timestamp_type: TimestampType::LogAppendTime,
            ..early
        };
        assert!(prepare(one(client_batch(4)), &stamped, 0).is_ok());
    }
}
