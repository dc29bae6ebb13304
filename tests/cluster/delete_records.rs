//! DeleteRecords on a partition with three replicas: the log start offset moves through Raft,
//! so it outlives the leader that answered. After a `kill -9` of that leader right after its
//! answer, the new leader reports the same low watermark and a consumer reset to the earliest
//! offset starts there; once the killed node is back, every replica has deleted the whole
//! segments below it and holds the same batches from there on.

use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::common::wire::connect;
use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::{Batch, LogDump};
use crate::harness::{Cluster, client_config, consumer, leaders, wait_for_other_leader};
use crate::id_of;
use crate::raw::{NONE, Producer, batch, delete_records, produce};
use crate::retention::{create_topic, now_ms};

/// Batches of ten records of about 200 bytes: 2.2 KiB each, seven to a 16 KiB segment.
const RECORDS: usize = 10;
const BATCHES: usize = 100;
const PAD: usize = 200;
/// The new log start offset: inside a batch, many segments in.
const DELETE_BELOW: i64 = 555;

#[test]
fn delete_records_holds_on_every_replica_through_a_leader_kill() {
    init_logs();
    let mut cluster = Cluster::start_with(&[1, 2, 3], "\"log.retention.check.interval.ms\" = 200");
    let topic = unique_name("delete-records");
    // Small segments; fresh records, so an hour's retention deletes nothing by time.
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic);
    let leader = leaders(&cluster.bootstrap(&[1]), &topic, WAIT)[0] as u64;
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    info!(leader, "the partition's leader");

    info!("produce through the leader, then DeleteRecords; kill -9 the leader right after");
    let mut conn = connect(cluster.addr(leader));
    for b in 0..BATCHES {
        let first = b * RECORDS;
        let records = batch(
            Producer::ANONYMOUS,
            -1,
            first..first + RECORDS,
            now_ms(),
            PAD,
        );
        assert_eq!(produce(&mut conn, &topic, records), (NONE, first as i64));
    }
    let end = (BATCHES * RECORDS) as i64;
    assert_eq!(
        delete_records(&mut conn, &topic, DELETE_BELOW),
        (NONE, DELETE_BELOW),
        "DeleteRecords: error code and low watermark"
    );
    cluster.node(leader).kill9();

    info!("the first answer of the new leader holds the new log start offset");
    let survivors = cluster.bootstrap(&others);
    wait_for_other_leader(&survivors, &topic, leader);
    let deadline = Instant::now() + WAIT;
    let marks = loop {
        match consumer(&survivors).fetch_watermarks(&topic, 0, Duration::from_secs(5)) {
            Ok(marks) => break marks,
            Err(e) => assert!(
                Instant::now() < deadline,
                "no watermarks through {survivors} within {WAIT:?}: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(marks, (DELETE_BELOW, end), "watermarks on the new leader");

    info!("a consumer asking for offset 0 is reset to the earliest: the new log start offset");
    let read = read_from_zero(&survivors, &topic, end);
    assert_eq!(
        read.first(),
        Some(&(DELETE_BELOW, DELETE_BELOW as usize)),
        "the first record read (offset, id)"
    );
    let expected: Vec<(i64, usize)> = (DELETE_BELOW..end).map(|o| (o, o as usize)).collect();
    assert_eq!(read, expected, "the records read from the new log start");

    info!("the killed node comes back; every replica lets go of the segments below");
    cluster.node(leader).spawn();
    cluster.node(leader).wait_ready();
    let deadline = Instant::now() + WAIT;
    let dumps: Vec<LogDump> = loop {
        let dumps: Vec<LogDump> = (1..=3)
            .map(|id| cluster.node(id).dump_log(&topic, 0))
            .collect();
        if dumps
            .iter()
            .all(|d| d.next_offset >= end && d.log_start_offset > 0)
        {
            break dumps;
        }
        assert!(
            Instant::now() < deadline,
            "(log start, next offset) of the replicas stayed at {:?}",
            dumps
                .iter()
                .map(|d| (d.log_start_offset, d.next_offset))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    info!("from the batch holding the log start offset on, the replicas hold the same batches");
    let from_start: Vec<Vec<Batch>> = dumps
        .iter()
        .map(|d| {
            assert!(
                d.log_start_offset <= DELETE_BELOW,
                "a replica deleted past the log start offset: {}",
                d.log_start_offset
            );
            d.up_to(end)
                .into_iter()
                .filter(|b| b.base_offset + b.count > DELETE_BELOW)
                .collect()
        })
        .collect();
    assert_eq!(
        from_start[0].first().map(|b| b.base_offset),
        Some(DELETE_BELOW / RECORDS as i64 * RECORDS as i64),
        "the batch holding the log start offset"
    );
    for (i, batches) in from_start.iter().enumerate().skip(1) {
        assert!(
            *batches == from_start[0],
            "node {} differs from node 1 from the log start offset on",
            i + 1
        );
    }
}

/// Reads partition 0 with a consumer assigned at offset 0 that resets to the earliest offset,
/// up to `end`: the offset and message id of each record, in the order read.
fn read_from_zero(bootstrap: &str, topic: &str, end: i64) -> Vec<(i64, usize)> {
    let reader: rdkafka::consumer::BaseConsumer = client_config(
        bootstrap,
        &[
            ("group.id", "raftka-cluster-tests"),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
        ],
    )
    .create()
    .expect("create consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(0))
        .expect("assignment");
    reader.assign(&assignment).expect("assign");
    let mut read = Vec::new();
    let deadline = Instant::now() + WAIT;
    while read.last().is_none_or(|(offset, _)| offset + 1 < end) {
        assert!(
            Instant::now() < deadline,
            "read up to {:?} of {end} within {WAIT:?}",
            read.last()
        );
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let id = id_of(m.payload().and_then(|p| p.split(|b| *b == b'-').next()))
                    .unwrap_or_else(|| panic!("foreign message {m:?}"));
                read.push((m.offset(), id));
            }
            Some(Err(e)) => info!(error = %e, "consumer error (retried by librdkafka)"),
            None => {}
        }
    }
    read
}
