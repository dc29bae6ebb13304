//! Compacted topics (`cleanup.policy=compact`) with librdkafka: the log is compacted for real
//! (the newest record of each key stays, at its offset), through a `kill -9` and restart, and
//! records produced after compaction continue the offsets.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::Offset;
use tracing::info;

use crate::clients::{assign, consume_to_eof, consumer, create_topic, future_producer};
use crate::common::raw::{Producer, init_producer_id, keyed_batch, produce};
use crate::common::wire::connect;
use crate::common::{WAIT, block_on, init_logs, partition_dir, unique_name};
use crate::harness::Target;

/// A compacted topic's records as a consumer reads them from the beginning: offset → (key,
/// value), `None` for a tombstone's value.
fn read_all(target: &Target, topic: &str) -> BTreeMap<i64, (String, Option<String>)> {
    let reader = consumer(target, &[("enable.partition.eof", "true")]);
    assign(&reader, topic, &[(0, Offset::Beginning)]);
    consume_to_eof(&reader, 0, WAIT)
        .iter()
        .map(|m| {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let key = text(m.key().expect("every record has a key"));
            (m.offset(), (key, m.payload().map(text)))
        })
        .collect()
}

/// Sends `(key, value)` pairs (`None`: a tombstone) and returns each one's offset.
fn send(target: &Target, topic: &str, records: &[(String, Option<String>)]) -> Vec<i64> {
    let producer = future_producer(
        target,
        &[
            ("linger.ms", "5"),
            ("compression.codec", "lz4"),
            ("batch.size", "12000"),
        ],
    );
    let sends: Vec<_> = records
        .iter()
        .map(|(key, value)| {
            let mut record = FutureRecord::to(topic).partition(0).key(key.as_str());
            if let Some(value) = value {
                record = record.payload(value.as_str());
            }
            producer.send_result(record).expect("queue a record")
        })
        .collect();
    sends
        .into_iter()
        .map(|send| {
            let delivered = block_on(WAIT, send).expect("delivery report");
            delivered.expect("delivered").offset
        })
        .collect()
}

fn log_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("partition dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().expect("metadata").len())
        .sum()
}

/// Reads the topic until it holds exactly `expected` (compaction runs in the background).
fn wait_for_records(
    target: &Target,
    topic: &str,
    expected: &BTreeMap<i64, (String, Option<String>)>,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = read_all(target, topic);
        if &got == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "compaction left {} records where {} were expected",
            got.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
#[ignore = "needs a broker of its own: small segments and a quick cleaner"]
fn ten_thousand_updates_to_a_hundred_keys_compact_to_a_hundred_records_at_their_offsets() {
    init_logs();
    let mut target = compacting_broker();
    let topic = unique_name("compacted");
    // A quiet segment is rolled after a second, so compaction reaches the newest records too.
    create_topic(
        &target,
        &topic,
        1,
        &[("cleanup.policy", "compact"), ("segment.ms", "1000")],
    );
    let updates: Vec<_> = (0..10_000)
        .map(|i| (format!("key-{:03}", i % 100), Some(format!("value-{i}"))))
        .collect();
    let offsets = send(&target, &topic, &updates);
    assert_eq!(offsets.last(), Some(&9_999));
    let dir = partition_dir(&target.data_dir().expect("own broker"), &topic, 0)
        .expect("partition directory");
    let bytes_before = log_bytes(&dir);
    let newest: BTreeMap<i64, (String, Option<String>)> = updates
        .iter()
        .zip(&offsets)
        .skip(9_900)
        .map(|((key, value), offset)| (*offset, (key.clone(), value.clone())))
        .collect();
    assert_eq!(newest.len(), 100);

    info!("compaction keeps the newest record of each key, at its offset");
    wait_for_records(&target, &topic, &newest);
    let bytes_after = log_bytes(&dir);
    assert!(
        bytes_after * 4 < bytes_before,
        "{bytes_before} bytes of segments before compaction, {bytes_after} after"
    );
    let reader = consumer(&target, &[]);
    let (low, high) = reader
        .fetch_watermarks(&topic, 0, WAIT)
        .expect("watermarks");
    assert_eq!((low, high), (0, 10_000), "offsets never move");

    info!("through kill -9 and a restart");
    target.kill9_and_restart();
    assert_eq!(read_all(&target, &topic), newest);

    info!("later updates continue the offsets and compact in turn");
    // Enough of them that the dirty part reaches the default min.cleanable.dirty.ratio (0.5).
    let later: Vec<_> = (0..1000)
        .map(|i| (format!("key-{:03}", i % 50), Some(format!("later-{i}"))))
        .collect();
    let later_offsets = send(&target, &topic, &later);
    assert_eq!(later_offsets.first(), Some(&10_000));
    let mut expected = newest.clone();
    expected.retain(|_, (key, _)| !later.iter().any(|(k, _)| k == key));
    for ((key, value), offset) in later.iter().zip(&later_offsets).skip(950) {
        expected.insert(*offset, (key.clone(), value.clone()));
    }
    wait_for_records(&target, &topic, &expected);
}

/// The small-segment broker the compaction tests share.
fn compacting_broker() -> Target {
    Target::own(&[
        ("message.max.bytes", "16384"),
        ("log.segment.bytes", "81920"),
        ("log.cleaner.backoff.ms", "200"),
    ])
}

const NONE: i16 = 0;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;

/// Batch `n` of an idempotent producer: ten records, keys `k0`..`k9` (the same in every batch),
/// sequences from `10 * n`.
fn update_batch(producer: Producer, n: i32) -> bytes::Bytes {
    let records = (0..10).map(|k| {
        let key = bytes::Bytes::from(format!("k{k}"));
        (Some(key), bytes::Bytes::from(format!("batch-{n}")))
    });
    keyed_batch(producer, n * 10, records, 1_700_000_000_000)
}

#[test]
#[ignore = "needs a broker of its own: small segments, a quick cleaner, kill -9"]
fn idempotent_producer_state_survives_compaction_and_a_restart() {
    init_logs();
    let mut target = compacting_broker();
    let topic = unique_name("compacted-idempotent");
    create_topic(
        &target,
        &topic,
        1,
        &[("cleanup.policy", "compact"), ("segment.ms", "1000")],
    );
    let mut conn = connect(target.addr);
    let producer = init_producer_id(&mut conn, 4);
    for n in 0..5 {
        assert_eq!(
            produce(&mut conn, &topic, update_batch(producer, n)),
            (NONE, i64::from(n * 10))
        );
    }
    info!("compaction empties the first four batches");
    let newest = (40..50)
        .map(|offset| {
            (
                offset,
                (format!("k{}", offset - 40), Some("batch-4".to_string())),
            )
        })
        .collect();
    wait_for_records(&target, &topic, &newest);

    target.kill9_and_restart();
    let mut conn = connect(target.addr);
    info!("retries of compacted batches get their offsets; sequences go on");
    for n in [3, 4] {
        assert_eq!(
            produce(&mut conn, &topic, update_batch(producer, n)),
            (NONE, i64::from(n * 10))
        );
    }
    let (code, _) = produce(&mut conn, &topic, update_batch(producer, 7));
    assert_eq!(code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(
        produce(&mut conn, &topic, update_batch(producer, 5)),
        (NONE, 50)
    );
}

#[test]
#[ignore = "needs a broker of its own: small segments and a quick cleaner"]
fn tombstones_stay_for_delete_retention_ms_and_then_go() {
    init_logs();
    let target = compacting_broker();
    let values: Vec<_> = (0..10)
        .map(|k| (format!("k{k}"), Some(format!("value-{k}"))))
        .collect();
    let tombstones: Vec<_> = (0..5).map(|k| (format!("k{k}"), None)).collect();
    for (retention, tombstones_kept) in [("86400000", true), ("0", false)] {
        let topic = unique_name("tombstones");
        create_topic(
            &target,
            &topic,
            1,
            &[
                ("cleanup.policy", "compact"),
                ("segment.ms", "1000"),
                ("delete.retention.ms", retention),
            ],
        );
        let value_offsets = send(&target, &topic, &values);
        let tombstone_offsets = send(&target, &topic, &tombstones);
        let mut expected: BTreeMap<_, _> = values
            .iter()
            .zip(&value_offsets)
            .skip(5)
            .map(|(record, offset)| (*offset, record.clone()))
            .collect();
        if tombstones_kept {
            expected.extend(
                tombstones
                    .iter()
                    .zip(&tombstone_offsets)
                    .map(|(record, offset)| (*offset, record.clone())),
            );
        }
        info!(retention, "older values of deleted keys go");
        wait_for_records(&target, &topic, &expected);
    }
}

/// The binary as `cargo run --release` starts it (1 GiB segments, a cleaner pass every
/// 15 s): a topic that asks only for compaction and a quick roll is compacted by the first
/// passes, its newest segment too.
#[test]
#[ignore = "needs a broker of its own: the binary with its defaults"]
fn compaction_works_with_the_binary_defaults() {
    init_logs();
    crate::topic_configs::on_the_default_binary(|target| {
        let topic = unique_name("compacted-defaults");
        create_topic(
            target,
            &topic,
            1,
            &[("cleanup.policy", "compact"), ("segment.ms", "1000")],
        );
        let updates: Vec<_> = (0..1000)
            .map(|i| (format!("key-{}", i % 10), Some(format!("value-{i}"))))
            .collect();
        let offsets = send(target, &topic, &updates);
        let newest = updates
            .iter()
            .zip(&offsets)
            .skip(990)
            .map(|(record, offset)| (*offset, record.clone()))
            .collect();
        wait_for_records(target, &topic, &newest);
    });
}
