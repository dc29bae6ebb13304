//! A compacted topic with three replicas: every replica compacts its own copy of the log and
//! they end up holding the same batches (same offsets, same bytes), so a consumer reads the same
//! newest record of each key, at the same offsets, from whichever replica leads, also after the
//! leader is killed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::faults::{Batch, LogDump};
use crate::harness::{Cluster, client_config, leaders, wait_for_other_leader};

const KEYS: usize = 100;
const UPDATES: usize = 3000;

/// What a consumer reads of the partition: offset → (key, value).
type Records = BTreeMap<i64, (String, String)>;

fn create_compacted_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &[])
        .create()
        .expect("admin client");
    // Small segments, rolled after a quiet second, so compaction reaches nearly everything.
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(3))
        .set("cleanup.policy", "compact")
        .set("segment.bytes", "65536")
        .set("max.message.bytes", "16384")
        .set("segment.ms", "1000");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let results = block_on(WAIT, admin.create_topics([&new], &options)).expect("CreateTopics");
    for result in results {
        result.unwrap_or_else(|(name, e)| panic!("creating {name}: {e}"));
    }
}

/// Reads partition 0 from the beginning to its end through `bootstrap`.
fn read_all(bootstrap: &str, topic: &str) -> Records {
    let reader: BaseConsumer = client_config(
        bootstrap,
        &[
            ("group.id", "raftka-cluster-compaction"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "true"),
        ],
    )
    .create()
    .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assignment");
    reader.assign(&assignment).expect("assign");
    let deadline = Instant::now() + WAIT;
    let mut got = Records::new();
    loop {
        assert!(
            Instant::now() < deadline,
            "no end of partition within {WAIT:?}"
        );
        match reader.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let text =
                    |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
                got.insert(m.offset(), (text(m.key()), text(m.payload())));
            }
            Some(Err(KafkaError::PartitionEOF(0))) => return got,
            Some(Err(e)) => info!(error = %e, "consumer error, retrying"),
            None => {}
        }
    }
}

#[test]
fn every_replica_compacts_to_the_same_records() {
    init_logs();
    let mut cluster = Cluster::start_with(&[1, 2, 3], "\"log.cleaner.backoff.ms\" = 200");
    let all = cluster.bootstrap(&[1, 2, 3]);
    let topic = unique_name("compacted");
    create_compacted_topic(&all, &topic);
    let leader = leaders(&all, &topic, WAIT)[0] as u64;
    info!(leader, "the partition's leader");

    info!("{UPDATES} updates to {KEYS} keys");
    let producer: FutureProducer = client_config(
        &all,
        &[
            ("linger.ms", "5"),
            ("batch.size", "12000"),
            ("compression.codec", "zstd"),
            ("message.timeout.ms", "30000"),
        ],
    )
    .create()
    .expect("producer");
    let sends: Vec<_> = (0..UPDATES)
        .map(|i| {
            let key = format!("key-{:03}", i % KEYS);
            let value = format!("value-{i}");
            let record = FutureRecord::to(&topic)
                .partition(0)
                .key(&key)
                .payload(&value);
            (
                key.clone(),
                value.clone(),
                producer.send_result(record).expect("queue"),
            )
        })
        .collect();
    let mut newest = Records::new();
    for (i, (key, value, send)) in sends.into_iter().enumerate() {
        let offset = block_on(WAIT, send)
            .expect("report")
            .expect("delivered")
            .offset;
        if i >= UPDATES - KEYS {
            newest.insert(offset, (key, value));
        }
    }
    assert_eq!(newest.len(), KEYS);

    info!("every replica compacts its log to the same batches");
    let deadline = Instant::now() + Duration::from_secs(60);
    let dumps: Vec<Vec<Batch>> = loop {
        let dumps: Vec<LogDump> = (1..=3)
            .map(|id| cluster.node(id).dump_log(&topic, 0))
            .collect();
        let batches: Vec<Vec<Batch>> = dumps.iter().map(|d| d.up_to(UPDATES as i64)).collect();
        if batches.iter().all(|b| b == &batches[0]) && read_all(&all, &topic) == newest {
            break batches;
        }
        assert!(
            Instant::now() < deadline,
            "the replicas did not converge on the compacted log"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    info!(
        batches = dumps[0].len(),
        "the same compacted batches on all three replicas"
    );

    info!("kill -9 the leader: the new leader serves the same records");
    cluster.node(leader).kill9();
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let survivors = cluster.bootstrap(&others);
    wait_for_other_leader(&survivors, &topic, leader);
    assert_eq!(read_all(&survivors, &topic), newest);
}
