//! `kill -9` of the broker process, after and during an acks=all produce of 100,000 messages,
//! then a restart on the same data directory and port: every acknowledged message is still
//! there, at the offset it was acknowledged with, once. These tests always start their own
//! broker (an external one cannot be killed), `RAFTKA_BOOTSTRAP` or not. They talk to it with
//! the protocol suite's clients.

// This target uses a part of the protocol suite's harness and clients.
#[path = "../protocol-tests/clients.rs"]
#[allow(dead_code)]
mod clients;
mod common;
#[path = "../protocol-tests/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Message, OwnedMessage};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::Offset;
use tracing::info;

use crate::clients::{assert_nothing_more, assign, config, consume, consumer, create_topic};
use crate::common::{WAIT, init_logs, unique_name};
use crate::harness::Target;

const MESSAGES: usize = 100_000;
/// Bound on producing or consuming all of them.
const BULK_WAIT: Duration = Duration::from_secs(3 * WAIT.as_secs());

/// Delivery reports as they arrive: `(message id, partition, offset)` for each acknowledged one.
#[derive(Clone, Default)]
struct Deliveries {
    acked: Arc<Mutex<Vec<(usize, i32, i64)>>>,
    failed: Arc<AtomicUsize>,
}

impl Deliveries {
    fn acked(&self) -> Vec<(usize, i32, i64)> {
        self.acked.lock().map(|a| a.clone()).unwrap_or_default()
    }
    fn acked_count(&self) -> usize {
        self.acked.lock().map(|a| a.len()).unwrap_or_default()
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = Box<usize>;
    fn delivery(&self, result: &DeliveryResult<'_>, id: Box<usize>) {
        match result {
            Ok(m) => {
                if let Ok(mut acked) = self.acked.lock() {
                    acked.push((*id, m.partition(), m.offset()));
                }
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The payload of message `id`; [`id_of`] reads it back.
fn payload(id: usize) -> String {
    format!("m{id:07}")
}

fn id_of(payload: Option<&[u8]>) -> usize {
    payload
        .and_then(|p| std::str::from_utf8(p).ok()?.strip_prefix('m')?.parse().ok())
        .unwrap_or_else(|| panic!("a message we did not write: {payload:?}"))
}

fn acks_all_producer(target: &Target, deliveries: &Deliveries) -> ThreadedProducer<Deliveries> {
    config(
        target,
        &[
            ("acks", "all"),
            ("linger.ms", "5"),
            // Many batches, so the restart recovers many log entries, not a handful.
            ("batch.num.messages", "100"),
            ("message.timeout.ms", "60000"),
            ("retry.backoff.ms", "50"),
        ],
    )
    .create_with_context(deliveries.clone())
    .expect("create producer")
}

/// Queues messages `0..MESSAGES` to `topic`, message `id` to partition `id % partitions`,
/// waiting whenever librdkafka's queue is full, then flushes.
fn produce_all(producer: &ThreadedProducer<Deliveries>, topic: &str, partitions: usize) {
    let deadline = Instant::now() + BULK_WAIT;
    for id in 0..MESSAGES {
        let value = payload(id);
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(id))
            .partition((id % partitions) as i32)
            .payload(&value);
        loop {
            match producer.send::<str, _>(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    assert!(
                        Instant::now() < deadline,
                        "queue still full after {BULK_WAIT:?}"
                    );
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("queueing message {id} failed: {e}"),
            }
        }
    }
    let left = deadline.saturating_duration_since(Instant::now());
    producer
        .flush(left)
        .expect("every message delivered or failed in time");
}

/// Every message of `partition` from offset 0 to its high watermark: `(offset, id)`.
fn read_partition(target: &Target, topic: &str, partition: i32) -> Vec<(i64, usize)> {
    let consumer = consumer(target, &[("fetch.max.bytes", "8388608")]);
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, WAIT)
        .expect("watermarks after the restart");
    assert_eq!(low, 0, "log start of partition {partition}");
    assign(&consumer, topic, &[(partition, Offset::Beginning)]);
    let got = consume(&consumer, high as usize, BULK_WAIT);
    assert_nothing_more(&consumer, Duration::from_millis(300));
    got.iter()
        .map(|m| (m.offset(), id_of(m.payload())))
        .collect()
}

/// Like `clients::consume`, but the broker's connections going down and coming back are
/// expected (librdkafka reports them as consumer errors); any other error fails.
fn consume_across_restart<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    count: usize,
) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + BULK_WAIT;
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        assert!(
            Instant::now() < deadline,
            "consumed {} of {count} within {BULK_WAIT:?}",
            got.len()
        );
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(m)) => got.push(m.detach()),
            Some(Err(KafkaError::MessageConsumption(
                RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure,
            ))) => {}
            Some(Err(e)) => panic!("consumer error after {} messages: {e}", got.len()),
        }
    }
    got
}

#[test]
fn acknowledged_messages_survive_kill_9_and_restart() {
    init_logs();
    const PARTITIONS: usize = 2;
    let mut target = Target::own(&[]);
    let topic = unique_name("crash-after");
    create_topic(&target, &topic, PARTITIONS as i32, &[]);

    info!("{MESSAGES} messages with acks=all over {PARTITIONS} partitions, every one acknowledged");
    let deliveries = Deliveries::default();
    let started = Instant::now();
    let producer = acks_all_producer(&target, &deliveries);
    produce_all(&producer, &topic, PARTITIONS);
    drop(producer);
    info!(elapsed = ?started.elapsed(), "all delivered");
    assert_eq!(
        deliveries.failed.load(Ordering::Relaxed),
        0,
        "failed deliveries"
    );
    let acked = deliveries.acked();
    assert_eq!(acked.len(), MESSAGES);

    info!("a consumer reads the first 10,000 messages of partition 0 before the crash");
    let reading = consumer(&target, &[]);
    assign(&reading, &topic, &[(0, Offset::Beginning)]);
    let first = consume(&reading, 10_000, BULK_WAIT);

    info!("kill -9, then a new broker process on the same directory and port");
    target.kill9_and_restart();

    info!(
        "the same consumer carries on after the restart (new leader epoch) without loss or repeat"
    );
    let rest = consume_across_restart(&reading, MESSAGES / PARTITIONS - first.len());
    for (i, m) in first.iter().chain(&rest).enumerate() {
        assert_eq!(
            m.offset(),
            i as i64,
            "offset read by the surviving consumer"
        );
        assert_eq!(id_of(m.payload()), i * PARTITIONS, "message at offset {i}");
    }
    // (What else is in the log is checked below, with new consumers.)
    drop(reading);

    for p in 0..PARTITIONS as i32 {
        info!(
            partition = p,
            "the log holds exactly the acknowledged messages, in order"
        );
        let log = read_partition(&target, &topic, p);
        let mut expected: Vec<(i64, usize)> = acked
            .iter()
            .filter(|(_, partition, _)| *partition == p)
            .map(|(id, _, offset)| (*offset, *id))
            .collect();
        expected.sort_unstable();
        assert_eq!(log.len(), MESSAGES / PARTITIONS, "partition {p}");
        assert_eq!(
            log, expected,
            "partition {p}: log differs from the acknowledgements"
        );
        let ids: Vec<usize> = log.iter().map(|(_, id)| *id).collect();
        let in_order: Vec<usize> = (0..MESSAGES)
            .filter(|id| id % PARTITIONS == p as usize)
            .collect();
        assert_eq!(ids, in_order, "partition {p}: messages out of order");
    }

    info!("the restarted broker appends after what it recovered");
    let deliveries = Deliveries::default();
    let more = acks_all_producer(&target, &deliveries);
    for p in 0..PARTITIONS as i32 {
        let value = payload(MESSAGES + p as usize);
        let record = BaseRecord::with_opaque_to(&topic, Box::new(MESSAGES + p as usize))
            .partition(p)
            .payload(&value);
        more.send::<str, _>(record)
            .unwrap_or_else(|(e, _)| panic!("queueing failed: {e}"));
    }
    more.flush(WAIT).expect("flush after the restart");
    let mut after = deliveries.acked();
    after.sort_unstable();
    let each = (MESSAGES / PARTITIONS) as i64;
    assert_eq!(after, [(MESSAGES, 0, each), (MESSAGES + 1, 1, each)]);
}

#[test]
fn messages_acknowledged_before_a_kill_9_during_produce_survive() {
    init_logs();
    let mut target = Target::own(&[]);
    let topic = unique_name("crash-during");
    create_topic(&target, &topic, 1, &[]);

    info!("a producer sends {MESSAGES} messages with acks=all on its own thread");
    let deliveries = Deliveries::default();
    let producer = acks_all_producer(&target, &deliveries);
    let (done_tx, done) = mpsc::channel();
    let sending = {
        let topic = topic.clone();
        std::thread::spawn(move || {
            produce_all(&producer, &topic, 1);
            let _ = done_tx.send(());
        })
    };

    info!("kill -9 once 20,000 are acknowledged, restart at once");
    let deadline = Instant::now() + BULK_WAIT;
    while deliveries.acked_count() < 20_000 {
        assert!(
            Instant::now() < deadline,
            "20,000 acknowledgements took over {BULK_WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    let before_kill = deliveries.acked();
    target.kill9_and_restart();
    info!(
        acknowledged = before_kill.len(),
        "restarted; the producer carries on against the new process"
    );
    done.recv_timeout(BULK_WAIT + WAIT)
        .expect("the producer finished (delivered or failed everything)");
    sending.join().expect("producer thread");
    let acked = deliveries.acked();
    let failed = deliveries.failed.load(Ordering::Relaxed);
    info!(acknowledged = acked.len(), failed, "produce finished");
    assert_eq!(
        acked.len() + failed,
        MESSAGES,
        "a delivery report for every message"
    );

    info!(
        "every acknowledged message is at its offset; those acknowledged before the kill once, in order"
    );
    let log = read_partition(&target, &topic, 0);
    for (i, (offset, _)) in log.iter().enumerate() {
        assert_eq!(*offset, i as i64, "offsets without gaps");
    }
    for (id, _, offset) in &acked {
        let at = log.get(*offset as usize).map(|(_, id)| *id);
        assert_eq!(
            at,
            Some(*id),
            "acknowledged message {id} at offset {offset}"
        );
    }
    let mut copies = vec![0u32; MESSAGES];
    for (_, id) in &log {
        copies[*id] += 1;
    }
    for (id, _, _) in &before_kill {
        assert_eq!(copies[*id], 1, "message {id}, acknowledged before the kill");
    }
    let mut early: Vec<(i64, usize)> = before_kill.iter().map(|(id, _, o)| (*o, *id)).collect();
    early.sort_unstable();
    assert!(
        early.windows(2).all(|w| w[0].1 < w[1].1),
        "messages acknowledged before the kill are out of order"
    );
    let twice: Vec<usize> = (0..MESSAGES).filter(|id| copies[*id] > 1).collect();
    info!(
        stored = log.len(),
        duplicates = twice.len(),
        first = ?twice.first(),
        last = ?twice.last(),
        "unacknowledged messages may be missing or (retried) stored twice"
    );
}
