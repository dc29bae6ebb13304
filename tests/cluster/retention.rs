//! Retention across replicas: a follower that was down while the leader deleted the segments
//! it still needed comes back through a snapshot standing exactly at the leader's purge point,
//! then receives every retained batch. Afterwards it serves, as leader, the same log start
//! offset and the same records the old leader served.
//!
//! Deterministic retention: `retention.ms` is an hour and the bulk of the records carry
//! timestamps two hours old, but the last batch before the purge is fresh. So every sealed
//! segment before the one holding that batch goes at the first retention check, and nothing
//! after it ever does, whatever is appended later. `restored_producers.rs` and
//! `delete_records.rs` use the same topic settings and watermark helpers.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::{Cluster, client_config, consumer, leaders, metadata_until};
use crate::{Deliveries, id_of, payload, producer};

/// Segments roll every 16 KiB; the broker accepts 1 KiB and up.
pub const SEGMENT_BYTES: i64 = 16 << 10;
pub const RETENTION_MS: i64 = 3_600_000;
/// Old records: enough to fill many segments.
const OLD: usize = 3_000;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub fn create_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &[])
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let segment = SEGMENT_BYTES.to_string();
    let retention = RETENTION_MS.to_string();
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(3))
        .set("segment.bytes", &segment)
        // A segment holds whole batches: the largest batch leaves room for the entry header.
        .set("max.message.bytes", "15360")
        .set("retention.ms", &retention);
    let results = block_on(WAIT, admin.create_topics([&new], &options)).expect("CreateTopics");
    for result in results {
        result.unwrap_or_else(|(name, e)| panic!("creating {name}: {e}"));
    }
}

/// Produces ids `ids` to partition 0 with acks=all, each record stamped `timestamp`, and waits
/// until every one is acknowledged.
pub fn produce(bootstrap: &str, topic: &str, ids: std::ops::Range<usize>, timestamp: i64) {
    let deliveries = Deliveries::default();
    let producer: ThreadedProducer<Deliveries> = producer(bootstrap, &deliveries);
    let count = ids.len();
    for id in ids {
        let body = format!("{}-{}", payload(id), "r".repeat(64));
        let record: BaseRecord<'_, (), String, Box<usize>> =
            BaseRecord::with_opaque_to(topic, Box::new(id))
                .payload(&body)
                .partition(0)
                .timestamp(timestamp);
        producer.send(record).map_err(|(e, _)| e).expect("queue");
    }
    producer.flush(WAIT).expect("flush");
    assert!(deliveries.failed().is_empty(), "{:?}", deliveries.failed());
    assert_eq!(
        deliveries.acked().len(),
        count,
        "not every record acknowledged"
    );
}

/// Earliest and latest offsets of partition 0 (ListOffsets through its leader).
pub fn watermarks(bootstrap: &str, topic: &str) -> (i64, i64) {
    consumer(bootstrap)
        .fetch_watermarks(topic, 0, Duration::from_secs(5))
        .expect("ListOffsets")
}

/// Polls the watermarks through `bootstrap` until `ok` holds for them, at most `WAIT`.
pub fn watermarks_until(
    bootstrap: &str,
    topic: &str,
    what: &str,
    ok: impl Fn((i64, i64)) -> bool,
) -> (i64, i64) {
    let deadline = Instant::now() + WAIT;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(marks) = consumer(bootstrap).fetch_watermarks(topic, 0, Duration::from_secs(5)) {
            if ok(marks) {
                return marks;
            }
            last = Some(marks);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: not seen through {bootstrap} within {WAIT:?}; last watermarks {last:?}");
}

/// Every record of partition 0 from the earliest offset up to `end`, by offset: the message id
/// its payload names.
fn records(bootstrap: &str, topic: &str, end: i64) -> BTreeMap<i64, usize> {
    let consumer: BaseConsumer = consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("assignment");
    consumer.assign(&assignment).expect("assign");
    let mut seen = BTreeMap::new();
    let deadline = Instant::now() + WAIT;
    while seen.last_key_value().is_none_or(|(o, _)| *o + 1 < end) {
        assert!(
            Instant::now() < deadline,
            "read up to offset {:?} of {end} within {WAIT:?}",
            seen.last_key_value().map(|(o, _)| *o)
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let id = id_of(m.payload().and_then(|p| p.split(|b| *b == b'-').next()))
                    .unwrap_or_else(|| panic!("foreign message {m:?}"));
                assert!(
                    seen.insert(m.offset(), id).is_none(),
                    "offset {} read twice",
                    m.offset()
                );
            }
            Some(Err(e)) => info!(error = %e, "consumer error (retried by librdkafka)"),
            None => {}
        }
    }
    seen
}

/// The JSON a partition's state file holds (`raft_snapshot`), if the file exists.
pub fn state_json(path: &Path) -> Option<serde_json::Value> {
    let bytes = raftka::storage::StateFile::new(path.to_path_buf())
        .load()
        .expect("readable state file")?;
    Some(serde_json::from_slice(&bytes).expect("state file holds JSON"))
}

#[test]
fn follower_behind_a_purged_log_is_restored_through_a_snapshot() {
    init_logs();
    let mut cluster = Cluster::start_with(&[1, 2, 3], "\"log.retention.check.interval.ms\" = 200");
    let topic = unique_name("retained");
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic);
    let leader = leaders(&cluster.bootstrap(&[1]), &topic, WAIT)[0] as u64;
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let other = (1..=3)
        .find(|id| *id != leader && *id != follower)
        .expect("a third node");
    info!(leader, follower, other, "replicas of the partition");

    info!("stop a follower, then fill many segments with old records and one fresh one");
    cluster.node(follower).kill9();
    let live = cluster.bootstrap(&[leader, other]);
    produce(&live, &topic, 0..OLD, now_ms() - 2 * RETENTION_MS);
    produce(&live, &topic, OLD..OLD + 1, now_ms());

    info!("the leader deletes every segment before the fresh record's");
    let leader_bootstrap = cluster.bootstrap(&[leader]);
    let (low, high) = watermarks_until(&leader_bootstrap, &topic, "a purge", |(low, _)| low > 0);
    assert_eq!(high, OLD as i64 + 1, "high watermark");
    let retained = records(&leader_bootstrap, &topic, high);
    assert_eq!(
        retained.keys().next(),
        Some(&low),
        "the leader's first record is not at its log start offset"
    );
    assert_eq!(
        retained.len() as i64,
        high - low,
        "the leader's retained offsets have gaps"
    );
    assert_eq!(
        watermarks(&leader_bootstrap, &topic),
        (low, high),
        "the leader purged again: the retention setup is not stable"
    );
    info!(low, high, "the leader's log after the purge");

    info!(
        "restart the follower; with the third node down, the next write commits only once the follower holds the whole log"
    );
    cluster.node(follower).spawn();
    cluster.node(follower).wait_ready();
    cluster.node(other).kill9();
    let pair = cluster.bootstrap(&[leader, follower]);
    produce(&pair, &topic, OLD + 1..OLD + 2, now_ms());

    info!(
        "stop the old leader and bring the third node back: only the follower's log is complete, so it leads"
    );
    cluster.node(leader).kill9();
    cluster.node(other).spawn();
    cluster.node(other).wait_ready();
    let survivors = cluster.bootstrap(&[follower, other]);
    metadata_until(
        &survivors,
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

    info!("it installed a snapshot standing exactly at the old leader's purge point");
    let dir = cluster.node(follower).partition_dir(&topic, 0);
    let snapshot = state_json(&dir.join(raftka::raft::SNAPSHOT_FILE))
        .expect("the restored follower holds a snapshot");
    assert_eq!(
        snapshot["data"]["next_offset"].as_i64(),
        Some(low),
        "snapshot not at the purge point: {snapshot}"
    );

    info!(
        "it serves the old leader's log start offset and every retained record, then the new one"
    );
    let follower_bootstrap = cluster.bootstrap(&[follower]);
    let (follower_low, follower_high) =
        watermarks_until(&follower_bootstrap, &topic, "answers as leader", |_| true);
    assert_eq!(
        follower_low, low,
        "log start offset differs from the old leader's"
    );
    assert_eq!(follower_high, high + 1, "high watermark");
    let mut served = records(&follower_bootstrap, &topic, follower_high);
    assert_eq!(
        served.remove(&high),
        Some(OLD + 1),
        "the record written after the restart"
    );
    assert_eq!(
        served, retained,
        "the retained records differ from the old leader's"
    );
}
