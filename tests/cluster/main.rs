//! A three-node cluster from config files, with real rdkafka clients: the nodes form a cluster
//! in any start order, every node lists the three brokers, a topic with replication factor 3
//! created through one node is produced to through its leaders and read through another node,
//! a leader killed with `kill -9` during acks=all produce loses nothing acknowledged, and
//! neither does a `kill -9` of all three nodes at once followed by a restart.
//! `admin.rs`: topic admin through a broker that is not the controller. Faults: `catch_up.rs`
//! (a follower restarted after missing writes), `isolation.rs` (the leader cut off by
//! `proxy.rs`), `pause.rs` (a follower SIGSTOPped), `retention.rs` (a follower behind a purged
//! log restored through a snapshot), `restored_producers.rs` (such a follower, as leader,
//! deduplicates an idempotent producer whose batches it knows from the snapshot),
//! `incarnation.rs` (a topic recreated while a replica was down), `idempotence.rs` (an
//! idempotent producer through leader kills and a cut-off follower), `delete_records.rs` (a
//! log start offset moved by DeleteRecords outlives the leader that answered); `faults.rs`
//! compares replica dumps.
//! `harness.rs` starts and kills the processes; `raw.rs` sends hand-built requests.

mod admin;
mod catch_up;
#[path = "../common/mod.rs"]
mod common;
mod compaction;
mod delete_records;
mod faults;
mod groups;
mod harness;
mod idempotence;
mod incarnation;
mod isolation;
mod leadership;
mod pause;
mod proxy;
mod raw;
mod restored_producers;
mod retention;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{DeliveryResult, Message};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use common::{WAIT, block_on, init_logs, unique_name};
use harness::{Cluster, client_config, consumer, leaders, metadata_until};

/// Creates `topic` with replication factor 3 through an admin client bootstrapped at `bootstrap`.
fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    create_topic_with(bootstrap, topic, partitions, 3);
}

fn create_topic_with(bootstrap: &str, topic: &str, partitions: i32, replication_factor: i32) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &[])
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let results = block_on(
        WAIT,
        admin.create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(replication_factor),
            )],
            &options,
        ),
    )
    .expect("CreateTopics");
    for result in results {
        result.unwrap_or_else(|(name, e)| panic!("creating {name}: {e}"));
    }
}

/// Delivery reports: the id of each acknowledged message, and how many failed.
#[derive(Clone, Default)]
struct Deliveries {
    acked: Arc<Mutex<Vec<usize>>>,
    /// When each acknowledgement arrived, by message id, for the failover time.
    acked_at: Arc<Mutex<Vec<(usize, Instant)>>>,
    failed: Arc<Mutex<Vec<String>>>,
}

impl Deliveries {
    fn acked(&self) -> Vec<usize> {
        self.acked.lock().map(|a| a.clone()).unwrap_or_default()
    }
    fn failed(&self) -> Vec<String> {
        self.failed.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;
    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<usize>) {
        match result {
            Ok(_) => {
                self.acked.lock().map(|mut a| a.push(*id)).unwrap_or(());
                self.acked_at
                    .lock()
                    .map(|mut a| a.push((*id, Instant::now())))
                    .unwrap_or(());
            }
            Err((e, _)) => self
                .failed
                .lock()
                .map(|mut f| f.push(e.to_string()))
                .unwrap_or(()),
        }
    }
}

fn producer(bootstrap: &str, deliveries: &Deliveries) -> ThreadedProducer<Deliveries> {
    producer_with(bootstrap, deliveries, &[])
}

/// An acks=all producer reporting to `deliveries`, with `extra` settings on top.
fn producer_with(
    bootstrap: &str,
    deliveries: &Deliveries,
    extra: &[(&str, &str)],
) -> ThreadedProducer<Deliveries> {
    let mut config = client_config(
        bootstrap,
        &[
            ("acks", "all"),
            ("linger.ms", "5"),
            ("batch.num.messages", "100"),
            ("message.timeout.ms", "60000"),
            ("retry.backoff.ms", "50"),
        ],
    );
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
        .create_with_context(deliveries.clone())
        .expect("create producer")
}

fn payload(id: usize) -> String {
    format!("m{id:07}")
}

fn id_of(payload: Option<&[u8]>) -> Option<usize> {
    std::str::from_utf8(payload?)
        .ok()?
        .strip_prefix('m')?
        .parse()
        .ok()
}

/// Reads every partition of `topic` from the start through `bootstrap` until `expected` ids
/// are seen (or `within` passes); returns how many times each id was read.
fn read_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: &HashSet<usize>,
    within: Duration,
) -> BTreeMap<usize, usize> {
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for id in read_partitions(bootstrap, topic, partitions, expected, within)
        .into_values()
        .flatten()
    {
        *seen.entry(id).or_default() += 1;
    }
    seen
}

/// As [`read_all`], but returns the ids each partition holds, in offset order.
fn read_partitions(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: &HashSet<usize>,
    within: Duration,
) -> BTreeMap<i32, Vec<usize>> {
    let consumer: BaseConsumer = consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut read: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    let mut seen: HashSet<usize> = HashSet::new();
    let deadline = Instant::now() + within;
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let id = id_of(m.payload()).unwrap_or_else(|| panic!("foreign message {m:?}"));
                read.entry(m.partition()).or_default().push(id);
                seen.insert(id);
                quiet_since = Instant::now();
            }
            Some(Err(e)) => info!(error = %e, "consumer error (retried by librdkafka)"),
            None => {
                let complete = expected.iter().all(|id| seen.contains(id));
                // Past the expected ids, wait a little for duplicates still on their way.
                if complete && quiet_since.elapsed() > Duration::from_secs(1) {
                    break;
                }
            }
        }
    }
    read
}

#[test]
fn three_nodes_form_a_cluster_and_replicate() {
    init_logs();
    info!("start the nodes in the order 3, 1, 2: the cluster forms with no other step");
    let cluster = Cluster::start(&[3, 1, 2]);

    info!("Metadata through each node lists the three brokers and a controller");
    for id in 1..=3 {
        let bootstrap = cluster.bootstrap(&[id]);
        metadata_until(&bootstrap, None, WAIT, "three brokers", |m| {
            m.brokers().len() == 3
        });
    }

    info!("create a topic with replication factor 3 through node 2");
    let topic = unique_name("replicated");
    create_topic(&cluster.bootstrap(&[2]), &topic, 3);
    let led = leaders(&cluster.bootstrap(&[3]), &topic, WAIT);
    info!(?led, "every partition has a leader");
    let described = metadata_until(
        &cluster.bootstrap(&[1]),
        Some(&topic),
        WAIT,
        "replicas",
        |m| {
            m.topics()
                .iter()
                .all(|t| t.partitions().iter().all(|p| p.replicas().len() == 3))
        },
    );
    assert_eq!(described.topics()[0].partitions().len(), 3);

    info!("produce with acks=all through a client bootstrapped at node 1");
    let deliveries = Deliveries::default();
    let producer = producer(&cluster.bootstrap(&[1]), &deliveries);
    let count = 600;
    for id in 0..count {
        let body = payload(id);
        let record: BaseRecord<'_, (), String, Box<usize>> =
            BaseRecord::with_opaque_to(&topic, Box::new(id))
                .payload(&body)
                .partition((id % 3) as i32);
        producer.send(record).map_err(|(e, _)| e).expect("queue");
    }
    producer.flush(WAIT).expect("flush");
    assert!(deliveries.failed().is_empty(), "{:?}", deliveries.failed());
    assert_eq!(deliveries.acked().len(), count);

    info!("consume through a connection bootstrapped at node 3");
    let expected: HashSet<usize> = (0..count).collect();
    let seen = read_all(&cluster.bootstrap(&[3]), &topic, 3, &expected, WAIT);
    let missing: Vec<&usize> = expected
        .iter()
        .filter(|id| !seen.contains_key(id))
        .collect();
    assert!(missing.is_empty(), "missing {} messages", missing.len());
    assert!(seen.values().all(|n| *n == 1), "a message read twice");
}

#[test]
fn leader_killed_during_produce_loses_nothing_acknowledged() {
    init_logs();
    let mut cluster = Cluster::start(&[1, 2, 3]);
    let topic = unique_name("failover");
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic, 1);
    let leader = leaders(&cluster.bootstrap(&[1]), &topic, WAIT)[0] as u64;
    info!(leader, "the partition's leader");

    info!("produce with acks=all; kill -9 the leader once a part is acknowledged");
    let deliveries = Deliveries::default();
    let producer = producer(&cluster.bootstrap(&[1, 2, 3]), &deliveries);
    let count = 20_000;
    let mut killed_at = None;
    let mut sent_at_kill = 0;
    for id in 0..count {
        let body = payload(id);
        loop {
            let record: BaseRecord<'_, (), String, Box<usize>> =
                BaseRecord::with_opaque_to(&topic, Box::new(id))
                    .payload(&body)
                    .partition(0);
            match producer.send(record) {
                Ok(()) => break,
                // Queue full while the partition has no leader: wait for room.
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
        if killed_at.is_none() && deliveries.acked().len() >= 2_000 {
            info!(leader, sent = id, "kill -9 of the leader");
            cluster.node(leader).kill9();
            killed_at = Some(Instant::now());
            sent_at_kill = id;
        }
        if id % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let killed_at = killed_at.expect("the leader was killed during the produce");
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let new_leader = metadata_until(
        &cluster.bootstrap(&others),
        Some(&topic),
        WAIT,
        "a new leader",
        |m| {
            m.topics().iter().any(|t| {
                t.partitions()
                    .iter()
                    .any(|p| p.leader() >= 1 && p.leader() as u64 != leader)
            })
        },
    );
    info!(
        after_ms = killed_at.elapsed().as_millis() as u64,
        leader = new_leader.topics()[0].partitions()[0].leader(),
        "new leader in metadata (checked once every message was queued)"
    );
    producer.flush(Duration::from_secs(90)).expect("flush");
    let acked: HashSet<usize> = deliveries.acked().into_iter().collect();
    let failed = deliveries.failed();
    info!(
        acked = acked.len(),
        failed = failed.len(),
        "produce finished"
    );
    // librdkafka retries within message.timeout.ms (60 s): the failover must fit in it.
    assert!(
        failed.is_empty(),
        "produce failed: {:?}",
        &failed[..failed.len().min(5)]
    );
    assert_eq!(
        acked.len(),
        count,
        "produce did not resume after the failover"
    );
    // A message queued after the kill can only be acknowledged by the new leader.
    let resumed = deliveries.acked_at.lock().ok().and_then(|a| {
        a.iter()
            .filter(|(id, _)| *id > sent_at_kill)
            .map(|(_, at)| *at)
            .min()
    });
    if let Some(at) = resumed {
        let failover_ms = at.saturating_duration_since(killed_at).as_millis() as u64;
        info!(
            failover_ms,
            "kill -9 to the first acknowledgement by the new leader"
        );
    }

    info!("every acknowledged message is readable through the survivors");
    let seen = read_all(
        &cluster.bootstrap(&others),
        &topic,
        1,
        &acked,
        Duration::from_secs(90),
    );
    let lost: Vec<&usize> = acked.iter().filter(|id| !seen.contains_key(id)).collect();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    info!(
        read = seen.len(),
        duplicates,
        lost = lost.len(),
        "after the failover (duplicates are expected without idempotence)"
    );
    assert!(lost.is_empty(), "{} acknowledged messages lost", lost.len());

    info!("the killed node restarts and rejoins");
    cluster.node(leader).spawn();
    cluster.node(leader).wait_ready();
    metadata_until(
        &cluster.bootstrap(&[leader]),
        Some(&topic),
        WAIT,
        "a leader",
        |m| {
            m.topics()
                .iter()
                .any(|t| t.partitions().iter().any(|p| p.leader() >= 1))
        },
    );
}

#[test]
fn every_node_killed_at_once_keeps_what_was_acknowledged() {
    init_logs();
    let mut cluster = Cluster::start(&[2, 1, 3]);
    let topic = unique_name("restart");
    create_topic(&cluster.bootstrap(&[1]), &topic, 2);
    leaders(&cluster.bootstrap(&[2]), &topic, WAIT);

    info!("produce with acks=all, then kill -9 all three nodes at once");
    let deliveries = Deliveries::default();
    let producer = producer(&cluster.bootstrap(&[1, 2, 3]), &deliveries);
    let count = 3_000;
    for id in 0..count {
        let body = payload(id);
        let record: BaseRecord<'_, (), String, Box<usize>> =
            BaseRecord::with_opaque_to(&topic, Box::new(id))
                .payload(&body)
                .partition((id % 2) as i32);
        producer.send(record).map_err(|(e, _)| e).expect("queue");
    }
    producer.flush(WAIT).expect("flush");
    drop(producer);
    let acked: HashSet<usize> = deliveries.acked().into_iter().collect();
    assert_eq!(acked.len(), count);
    for id in 1..=3 {
        cluster.node(id).kill9();
    }

    info!("restart them in another order: the cluster forms again and serves every message");
    for id in [3, 2, 1] {
        cluster.node(id).spawn();
    }
    for id in 1..=3 {
        cluster.node(id).wait_ready();
    }
    leaders(&cluster.bootstrap(&[3]), &topic, WAIT);
    let seen = read_all(&cluster.bootstrap(&[2]), &topic, 2, &acked, WAIT);
    let lost = acked.iter().filter(|id| !seen.contains_key(id)).count();
    assert_eq!(lost, 0, "acknowledged messages lost");
    assert!(seen.values().all(|n| *n == 1), "a message read twice");
}
