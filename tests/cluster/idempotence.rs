//! An idempotent librdkafka producer (`enable.idempotence=true`) writing to three partitions
//! without pause while partition leaders are killed with `kill -9` and restarted, one after
//! another, and then while a follower is cut off by `proxy.rs`: afterwards each partition holds
//! offsets 0..n-1 with no gap, every acknowledged message exactly once and no message twice,
//! and the three replicas hold the same batches.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::{high_watermark, send_all, stop_and_compare};
use crate::harness::{Cluster, consumer, leaders, metadata_until};
use crate::proxy::Links;
use crate::{Deliveries, create_topic, id_of, producer_with};

const PARTITIONS: i32 = 3;
/// Leader kills, each of the leader of the next partition.
const KILLS: usize = 6;
/// Acknowledgements each partition must gain for produce to count as going on.
const PROGRESS: usize = 200;
/// Acknowledgements each partition must gain while the follower is cut off (some seconds).
const WHILE_CUT_OFF: usize = 2_000;

#[test]
fn idempotent_producer_writes_each_message_once_through_kills_and_isolation() {
    init_logs();
    let (mut cluster, links) = Links::start_cluster(&[1, 2, 3]);
    let topic = unique_name("idempotent");
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic, PARTITIONS);
    leaders(&cluster.bootstrap(&[1]), &topic, WAIT);

    info!("an idempotent producer writes without pause from its own thread");
    let deliveries = Deliveries::default();
    let producer = Arc::new(producer_with(
        &cluster.bootstrap(&[1, 2, 3]),
        &deliveries,
        &[("enable.idempotence", "true")],
    ));
    let sender = Sender::start(Arc::clone(&producer), &topic);
    wait_for_progress(
        &cluster,
        &producer,
        &deliveries,
        "before any fault",
        PROGRESS,
    );

    for kill in 0..KILLS {
        let partition = (kill % PARTITIONS as usize) as i32;
        let leader = leaders(&cluster.bootstrap(&[1, 2, 3]), &topic, WAIT)[partition as usize];
        let leader = leader as u64;
        info!(kill, partition, leader, "kill -9 of the partition's leader");
        cluster.node(leader).kill9();
        let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
        metadata_until(
            &cluster.bootstrap(&others),
            Some(&topic),
            WAIT,
            "a new leader",
            |m| {
                m.topics().iter().all(|t| {
                    t.partitions()
                        .iter()
                        .all(|p| p.leader() >= 1 && p.leader() as u64 != leader)
                })
            },
        );
        wait_for_progress(
            &cluster,
            &producer,
            &deliveries,
            "with a node down",
            PROGRESS,
        );
        info!(kill, leader, "restart the killed node");
        cluster.node(leader).spawn();
        cluster.node(leader).wait_ready();
        wait_for_progress(
            &cluster,
            &producer,
            &deliveries,
            "after the restart",
            PROGRESS,
        );
    }

    let led = leaders(&cluster.bootstrap(&[1, 2, 3]), &topic, WAIT);
    // The follower of partition 0 leading the most others: those fail over while it is cut off.
    let follower = (1..=3u64)
        .filter(|id| *id as i32 != led[0])
        .max_by_key(|id| led.iter().filter(|l| **l == *id as i32).count())
        .expect("a follower");
    let others: Vec<u64> = (1..=3).filter(|id| *id != follower).collect();
    info!(
        ?led,
        follower, "cut a follower of partition 0 off from everything"
    );
    links.isolate(follower);
    wait_for_progress(
        &cluster,
        &producer,
        &deliveries,
        "with a follower cut off",
        WHILE_CUT_OFF,
    );
    info!(follower, "heal");
    links.heal_all();
    wait_for_progress(&cluster, &producer, &deliveries, "after healing", PROGRESS);

    info!("stop producing; every message sent is acknowledged");
    let sent = sender.finish();
    let flushed = producer.flush(WAIT * 3);
    let fatal = producer.client().fatal_error();
    assert!(
        fatal.is_none(),
        "the idempotent producer failed fatally: {fatal:?}\n{}",
        log_tails(&cluster)
    );
    flushed.expect("flush");
    let failed = deliveries.failed();
    assert!(
        failed.is_empty(),
        "{} deliveries failed, first: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    let acked: HashSet<usize> = deliveries.acked().into_iter().collect();
    assert_eq!(acked.len(), sent, "every message sent is acknowledged");
    drop(producer);

    let hws: Vec<i64> = (0..PARTITIONS)
        .map(|p| high_watermark(&cluster.bootstrap(&others), &topic, p))
        .collect();
    info!(
        sent,
        ?hws,
        "high watermarks; wait for every replica to reach them"
    );
    let deadline = Instant::now() + WAIT;
    while !(1..=3).all(|id| {
        (0..PARTITIONS).all(|p| cluster.node(id).dump_log(&topic, p).next_offset >= hws[p as usize])
    }) {
        assert!(Instant::now() < deadline, "the replicas did not converge");
        std::thread::sleep(Duration::from_millis(100));
    }

    info!("each partition holds offsets 0..n-1, every acknowledged message exactly once");
    let read = read_offsets(&cluster.bootstrap(&[1, 2, 3]), &topic, &hws);
    let mut seen: HashSet<usize> = HashSet::new();
    for (partition, records) in &read {
        let offsets: Vec<i64> = records.iter().map(|(offset, _)| *offset).collect();
        let hw = hws[*partition as usize];
        let first_wrong = (0..hw)
            .zip(&offsets)
            .find(|(expected, read)| expected != *read);
        assert!(
            offsets.len() as i64 == hw && first_wrong.is_none(),
            "partition {partition}: {} offsets read below {hw}, the first out of place \
             (expected, read): {first_wrong:?}",
            offsets.len()
        );
        for (offset, id) in records {
            assert_eq!(
                id % PARTITIONS as usize,
                *partition as usize,
                "message {id}"
            );
            assert!(
                seen.insert(*id),
                "message {id} twice (again at offset {offset} of partition {partition})"
            );
        }
    }
    let lost = acked.iter().filter(|id| !seen.contains(id)).count();
    assert_eq!(lost, 0, "acknowledged messages lost");
    assert_eq!(seen.len(), sent, "nothing but the messages sent");

    info!("stop all three; their replicas agree batch by batch");
    stop_and_compare(&mut cluster, &topic, &hws);
}

/// The thread sending messages 0, 1, 2, ... to partition `id % PARTITIONS`, 20 every 10 ms;
/// told to stop when dropped, so a failing test leaves no sender behind.
struct Sender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<usize>>,
}

impl Sender {
    fn start(producer: Arc<ThreadedProducer<Deliveries>>, topic: &str) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, topic) = (Arc::clone(&stop), topic.to_string());
            std::thread::spawn(move || {
                let mut next = 0;
                while !stop.load(Ordering::SeqCst) {
                    send_all(
                        &producer,
                        &topic,
                        next..next + 20,
                        PARTITIONS as usize,
                        None,
                    );
                    next += 20;
                    std::thread::sleep(Duration::from_millis(10));
                }
                next
            })
        };
        Sender {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sending; returns how many messages were sent.
    fn finish(mut self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        let thread = self.thread.take().expect("the sending thread");
        thread.join().expect("the sending thread")
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Waits (bounded) until every partition has gained `acks` acknowledgements; panics at once if
/// the producer failed fatally.
fn wait_for_progress(
    cluster: &Cluster,
    producer: &ThreadedProducer<Deliveries>,
    deliveries: &Deliveries,
    phase: &str,
    acks: usize,
) {
    let per_partition = || {
        let mut counts = [0usize; PARTITIONS as usize];
        if let Ok(acked) = deliveries.acked.lock() {
            for id in acked.iter() {
                counts[id % PARTITIONS as usize] += 1;
            }
        }
        counts
    };
    let start = per_partition();
    let since = Instant::now();
    let deadline = since + WAIT;
    loop {
        if let Some(fatal) = producer.client().fatal_error() {
            panic!(
                "{phase}: the idempotent producer failed fatally: {fatal:?}\n{}",
                log_tails(cluster)
            );
        }
        let now = per_partition();
        if now.iter().zip(&start).all(|(n, s)| *n >= s + acks) {
            info!(
                phase,
                acked = now.iter().sum::<usize>(),
                after_ms = since.elapsed().as_millis() as u64,
                "produce goes on"
            );
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{phase}: acknowledgements per partition stayed at {now:?} (from {start:?})"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn log_tails(cluster: &Cluster) -> String {
    cluster
        .nodes
        .iter()
        .map(|n| format!("node {}:\n{}", n.id, n.log_tail()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads every partition from its start up to its high watermark `hws[p]`: the offset and
/// message id of each record, in the order read.
fn read_offsets(bootstrap: &str, topic: &str, hws: &[i64]) -> BTreeMap<i32, Vec<(i64, usize)>> {
    let consumer = consumer(bootstrap);
    let mut assignment = TopicPartitionList::new();
    for p in 0..hws.len() as i32 {
        assignment
            .add_partition_offset(topic, p, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut read: BTreeMap<i32, Vec<(i64, usize)>> =
        (0..hws.len() as i32).map(|p| (p, Vec::new())).collect();
    let done = |read: &BTreeMap<i32, Vec<(i64, usize)>>| {
        read.iter()
            .all(|(p, records)| records.len() as i64 >= hws[*p as usize])
    };
    let deadline = Instant::now() + WAIT * 2;
    while !done(&read) {
        assert!(
            Instant::now() < deadline,
            "read {:?} records, not {hws:?}",
            read.values().map(Vec::len).collect::<Vec<_>>()
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                let id = id_of(m.payload()).unwrap_or_else(|| panic!("foreign message {m:?}"));
                read.entry(m.partition())
                    .or_default()
                    .push((m.offset(), id));
            }
            Some(Err(e)) => info!(error = %e, "consumer error (retried by librdkafka)"),
            None => {}
        }
    }
    read
}
