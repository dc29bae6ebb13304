//! An idempotent producer's state reaches a replica through a snapshot. A follower that was
//! down while the leader purged the segments holding the producer's batches installs the
//! leader's snapshot, catches up, then leads, and answers the producer as the old leader would
//! have: a retry of its last batch, or of its oldest batch still kept (known from the snapshot
//! alone, the follower's log starts after it), gets its original offset and appends nothing; the
//! next batch in sequence is appended; a gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! Retention as in `retention.rs` (an hour; the earlier batches two hours old), sent raw so
//! sizes and sequences are chosen: the producer's last batch is fresh and nearly a segment by
//! itself, so it always starts a segment, and the purge point is exactly its base offset.

use std::time::{Duration, Instant};

use tracing::info;

use crate::common::wire::connect;
use crate::common::{WAIT, init_logs, partition_dir, unique_name};
use crate::faults::dump_log;
use crate::harness::{Cluster, leaders, metadata_until};
use crate::raw::{NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, batch, init_producer_id, produce};
use crate::retention::{RETENTION_MS, create_topic, now_ms, state_json, watermarks_until};

/// Records per batch.
const RECORDS: usize = 10;
/// The producer's batches before its last one: two hours old, about 2.2 KiB each.
const OLD_BATCHES: usize = 50;
const OLD_PAD: usize = 200;
/// The last batch's records: about 15 KiB together, which fits an empty 16 KiB segment but
/// never one holding an old batch.
const FRESH_PAD: usize = 1_500;

#[test]
fn follower_restored_from_a_snapshot_deduplicates_the_producer() {
    init_logs();
    let mut cluster = Cluster::start_with(&[1, 2, 3], "\"log.retention.check.interval.ms\" = 200");
    let topic = unique_name("restored-producer");
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic);
    let leader = leaders(&cluster.bootstrap(&[1]), &topic, WAIT)[0] as u64;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let other = (1..=3)
        .find(|id| *id != leader && *id != follower)
        .expect("a third node");
    info!(leader, follower, other, "replicas of the partition");

    info!("stop a follower; an idempotent producer writes old batches, then a fresh last one");
    cluster.node(follower).kill9();
    let mut conn = connect(cluster.addr(leader));
    let producer = init_producer_id(&mut conn, 4);
    let old = now_ms() - 2 * RETENTION_MS;
    for b in 0..OLD_BATCHES {
        let first = b * RECORDS;
        let records = batch(producer, first as i32, first..first + RECORDS, old, OLD_PAD);
        assert_eq!(
            produce(&mut conn, &topic, records),
            (NONE, first as i64),
            "old batch {b}"
        );
    }
    let last_base = OLD_BATCHES * RECORDS;
    let last = batch(
        producer,
        last_base as i32,
        last_base..last_base + RECORDS,
        now_ms(),
        FRESH_PAD,
    );
    assert_eq!(
        produce(&mut conn, &topic, last.clone()),
        (NONE, last_base as i64),
        "last batch"
    );
    let end = (last_base + RECORDS) as i64;

    info!("the leader purges every segment before the last batch's");
    let leader_bootstrap = cluster.bootstrap(&[leader]);
    let (low, high) = watermarks_until(&leader_bootstrap, &topic, "the purge", |(low, _)| {
        low >= last_base as i64
    });
    assert_eq!(
        (low, high),
        (last_base as i64, end),
        "watermarks after the purge"
    );

    info!("restart the follower; wait until it holds the leader's whole log");
    cluster.node(follower).spawn();
    cluster.node(follower).wait_ready();
    let data = cluster.node(follower).data_dir();
    let deadline = Instant::now() + WAIT;
    let dir = loop {
        if let Some(dir) = partition_dir(&data, &topic, 0)
            && dump_log(&dir).next_offset >= end
        {
            break dir;
        }
        assert!(
            Instant::now() < deadline,
            "the follower did not catch up within {WAIT:?}:\n{}",
            cluster.node(follower).log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    info!("it came back through a snapshot at the purge point that holds the producer");
    let dump = dump_log(&dir);
    assert_eq!(
        dump.log_start_offset, low,
        "the follower's log start offset"
    );
    assert_eq!(
        dump.batches.first().map(|b| b.base_offset),
        Some(low),
        "the follower's first batch"
    );
    let snapshot = state_json(&dir.join(raftka::raft::SNAPSHOT_FILE))
        .expect("the restored follower holds a snapshot");
    assert_eq!(
        snapshot["data"]["next_offset"].as_i64(),
        Some(low),
        "snapshot not at the purge point: {snapshot}"
    );
    // As of the leader's last applied when it prepared the snapshot: the last batch may or
    // may not be in yet, the four before it are.
    let kept: Vec<i64> =
        snapshot["data"]["producers"]["producers"][producer.id.to_string()]["batches"]
            .as_array()
            .map(|kept| {
                kept.iter()
                    .filter_map(|k| k["first_sequence"].as_i64())
                    .collect()
            })
            .unwrap_or_default();
    let purged: Vec<i64> = (1..=4)
        .map(|back| (last_base - back * RECORDS) as i64)
        .rev()
        .collect();
    assert!(
        purged.iter().all(|s| kept.contains(s)),
        "the snapshot keeps batches {kept:?} of the producer, not all of {purged:?}"
    );

    info!(
        "stop the third node and write once more: only the leader and the follower hold it, \
         so the follower leads once the leader is gone"
    );
    cluster.node(other).kill9();
    crate::retention::produce(
        &cluster.bootstrap(&[leader, follower]),
        &topic,
        0..1,
        now_ms(),
    );
    cluster.node(leader).kill9();
    cluster.node(other).spawn();
    cluster.node(other).wait_ready();
    metadata_until(
        &cluster.bootstrap(&[follower, other]),
        Some(&topic),
        WAIT,
        "the restored follower leads",
        |m| {
            m.topics().iter().any(|t| {
                t.name() == topic
                    && t.partitions()
                        .iter()
                        .any(|p| p.id() == 0 && p.leader() as u64 == follower)
            })
        },
    );
    let follower_bootstrap = cluster.bootstrap(&[follower]);
    let (_, high) = watermarks_until(&follower_bootstrap, &topic, "answers as leader", |_| true);
    assert_eq!(high, end + 1, "high watermark on the new leader");

    info!("retries of the last batch and of the oldest one kept get their original offsets");
    let mut conn = connect(cluster.addr(follower));
    assert_eq!(
        produce(&mut conn, &topic, last.clone()),
        (NONE, last_base as i64),
        "a retry of the last batch"
    );
    let oldest_kept = last_base - 4 * RECORDS;
    let retry = batch(
        producer,
        oldest_kept as i32,
        oldest_kept..oldest_kept + RECORDS,
        old,
        OLD_PAD,
    );
    assert_eq!(
        produce(&mut conn, &topic, retry),
        (NONE, oldest_kept as i64),
        "a retry of the oldest batch kept (not in the new leader's log)"
    );
    assert_eq!(
        watermarks_until(&follower_bootstrap, &topic, "watermarks", |_| true),
        (low, high),
        "the retries appended something"
    );

    info!("the next batch in sequence is appended; a gap is refused");
    let next = last_base + RECORDS;
    let records = batch(producer, next as i32, next..next + RECORDS, now_ms(), 0);
    assert_eq!(
        produce(&mut conn, &topic, records),
        (NONE, high),
        "the next batch in sequence"
    );
    let gap = next + 2 * RECORDS;
    let records = batch(producer, gap as i32, gap..gap + RECORDS, now_ms(), 0);
    let (code, _) = produce(&mut conn, &topic, records);
    assert_eq!(code, OUT_OF_ORDER_SEQUENCE_NUMBER, "a batch after a gap");
    assert_eq!(
        watermarks_until(&follower_bootstrap, &topic, "watermarks", |_| true),
        (low, high + RECORDS as i64),
        "watermarks at the end"
    );
}
