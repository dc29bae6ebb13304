//! The fuzz targets: what a hostile client or a damaged disk hands the broker, as one function
//! of arbitrary bytes each. Every one must return (an error is fine), never panic, and allocate
//! only what its input bounds. `fuzz/` runs them under libFuzzer (`cargo fuzz run <name>`);
//! `tests/fuzz.rs` runs them over mutated seeds in the test suite.

use bytes::Bytes;
use raftka::record::{
    AppendRules, Compression, CompressionLevels, TimestampType, prepare, split_checked,
};
use raftka::storage::{Log, LogConfig};

/// One request frame (without its 4-byte length), as a connection hands it on: header, then
/// the body of whatever API and version the header names.
pub fn request_frame(data: &[u8]) {
    let _ = raftka::kafka::check_and_decode(Bytes::copy_from_slice(data));
}

/// The records of a Produce partition: split and checked as Produce does, then read, filtered
/// as compaction filters, and prepared under the strictest topic rules. Each batch's CRC is set
/// first, so mutations reach past the checksum into the records.
pub fn produce_records(data: &[u8]) {
    let mut data = data.to_vec();
    with_checksums(&mut data);
    let Ok(batches) = split_checked(&Bytes::from(data)) else {
        return;
    };
    let rules = AppendRules {
        timestamp_type: TimestampType::LogAppendTime,
        compression: Some(Compression::Lz4),
        levels: CompressionLevels::KAFKA_DEFAULTS,
        timestamp_before_max_ms: 1000,
        timestamp_after_max_ms: 1000,
        keys_required: true,
    };
    for batch in batches {
        let _ = batch.records();
        let _ = batch.retain_records(|r| r.offset % 2 == 0);
        let _ = prepare(batch, &rules, 1_700_000_000_000);
    }
}

/// Sets the CRC-32C of every batch the length fields frame in `data`.
fn with_checksums(data: &mut [u8]) {
    const CRC_AT: usize = 17;
    const ATTRIBUTES_AT: usize = 21;
    let mut at = 0;
    while data.len() - at > ATTRIBUTES_AT {
        let length = i32::from_be_bytes([data[at + 8], data[at + 9], data[at + 10], data[at + 11]]);
        let Some(end) = usize::try_from(length)
            .ok()
            .and_then(|l| (at + 12).checked_add(l))
            .filter(|end| *end <= data.len() && *end >= at + ATTRIBUTES_AT)
        else {
            return;
        };
        let crc = crc32c::crc32c(&data[at + ATTRIBUTES_AT..end]);
        data[at + CRC_AT..at + ATTRIBUTES_AT].copy_from_slice(&crc.to_be_bytes());
        at = end;
    }
}

/// A segment file with arbitrary bytes in place of its entries: opening the log refuses it or
/// recovers it, and reading what it kept works.
pub fn damaged_segment(data: &[u8]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        segment_bytes: 64 << 10,
        index_interval_bytes: 256,
        ..LogConfig::DEFAULT
    };
    let segment = dir.path().join(format!("{:020}.log", 1));
    std::fs::write(&segment, &data[..data.len().min(64 << 10)]).expect("write segment");
    if let Ok(log) = Log::open(dir.path(), config) {
        let _ = log.reader().entries(..);
    }
}
