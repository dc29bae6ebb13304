//! librdkafka producing and consuming through the broker: acks=all and acks=1, every compression
//! codec with keys, headers and timestamps, explicit partitions, the message size limit, and a
//! long-polling consumer woken by new data. Offsets and listing are in `offsets.rs`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders, OwnedMessage, Timestamp};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::Offset;
use tracing::info;

use crate::clients::{
    assert_nothing_more, assign, consume, consumer, consumer_config, create_topic, future_producer,
};
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

/// One message of the round-trip tests; everything about it follows from `i`.
fn key(i: usize) -> String {
    format!("key-{i}")
}

fn value(i: usize) -> String {
    // Repetitive enough for every codec to shrink, different for every message.
    format!("value-{i}-{}", "abcdefgh".repeat(1 + i % 16))
}

fn headers(i: usize, codec: &str) -> OwnedHeaders {
    OwnedHeaders::new()
        .insert(Header {
            key: "index",
            value: Some(&i.to_be_bytes()),
        })
        .insert(Header {
            key: "codec",
            value: Some(codec),
        })
        .insert(Header::<&str> {
            key: "empty",
            value: None,
        })
}

/// Sends one message and waits for its delivery report: `(partition, offset)`.
fn send(producer: &FutureProducer, record: FutureRecord<'_, str, str>) -> (i32, i64) {
    match block_on(WAIT * 2, producer.send(record, WAIT)) {
        Ok(delivery) => (delivery.partition, delivery.offset),
        Err((e, _)) => panic!("delivery failed: {e}"),
    }
}

/// Queues every record first, then waits for all delivery reports in order.
fn send_all<'a>(
    producer: &FutureProducer,
    records: Vec<FutureRecord<'a, str, str>>,
) -> Vec<(i32, i64)> {
    let futures: Vec<_> = records
        .into_iter()
        .map(|r| {
            producer
                .send_result(r)
                .unwrap_or_else(|(e, _)| panic!("queueing failed: {e}"))
        })
        .collect();
    block_on(WAIT * 3, async {
        let mut reports = Vec::with_capacity(futures.len());
        for f in futures {
            match f.await {
                Ok(Ok(delivery)) => reports.push((delivery.partition, delivery.offset)),
                Ok(Err((e, _))) => panic!("delivery failed: {e}"),
                Err(_) => panic!("delivery report dropped"),
            }
        }
        reports
    })
}

#[test]
fn acks_all_and_acks_one_report_increasing_offsets() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("acks");
    create_topic(&target, &topic, 1, &[]);
    let mut next = 0i64;
    for acks in ["all", "1"] {
        info!(
            acks,
            "one message at a time: each report is the next offset"
        );
        let producer = future_producer(&target, &[("acks", acks), ("linger.ms", "0")]);
        for i in 0..20 {
            let payload = format!("{acks}-{i}");
            let (partition, offset) = send(&producer, FutureRecord::to(&topic).payload(&payload));
            assert_eq!((partition, offset), (0, next), "acks={acks} message {i}");
            next += 1;
        }
        info!(
            acks,
            "200 messages queued at once: reports in order, no gaps"
        );
        let payloads: Vec<String> = (0..200).map(|i| format!("{acks}-burst-{i}")).collect();
        let records = payloads
            .iter()
            .map(|p| FutureRecord::to(&topic).partition(0).payload(p.as_str()))
            .collect();
        for (i, report) in send_all(&producer, records).into_iter().enumerate() {
            assert_eq!(report, (0, next), "acks={acks} burst message {i}");
            next += 1;
        }
    }
    info!("acks=0: no answer to wait for, but the messages are stored all the same");
    let fire_and_forget = future_producer(&target, &[("acks", "0"), ("linger.ms", "0")]);
    let payloads: Vec<String> = (0..10).map(|i| format!("0-{i}")).collect();
    for p in &payloads {
        // With no answer librdkafka reports no offset (a negative one).
        let record = FutureRecord::to(&topic).partition(0).payload(p.as_str());
        let (partition, offset) = send(&fire_and_forget, record);
        assert!(
            partition == 0 && offset < 0,
            "acks=0 report: {partition}@{offset}"
        );
    }

    info!("everything reads back in the order it was sent");
    let consumer = consumer(&target, &[]);
    assign(&consumer, &topic, &[(0, Offset::Beginning)]);
    let got = consume(&consumer, next as usize + payloads.len(), WAIT * 2);
    for (i, message) in got.iter().enumerate() {
        assert_eq!(message.offset(), i as i64);
    }
    assert_eq!(got[0].payload(), Some(&b"all-0"[..]));
    assert_eq!(got[220].payload(), Some(&b"1-0"[..]));
    assert_eq!(got[440].payload(), Some(&b"0-0"[..]));
    assert_eq!(got[449].payload(), Some(&b"0-9"[..]));
}

#[test]
fn every_compression_codec_round_trips_keys_values_headers_and_timestamps() {
    init_logs();
    let target = Target::any();
    const COUNT: usize = 300;
    let base_ts = 1_700_000_000_000i64;
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = unique_name(&format!("codec-{codec}"));
        create_topic(&target, &topic, 1, &[]);
        info!(codec, "{COUNT} messages in compressed batches");
        let producer = future_producer(
            &target,
            &[
                ("compression.type", codec),
                ("linger.ms", "20"),
                ("batch.num.messages", "64"),
            ],
        );
        let keys: Vec<String> = (0..COUNT).map(key).collect();
        let values: Vec<String> = (0..COUNT).map(value).collect();
        let records = (0..COUNT)
            .map(|i| {
                FutureRecord::to(&topic)
                    .key(keys[i].as_str())
                    .payload(values[i].as_str())
                    .headers(headers(i, codec))
                    .timestamp(base_ts + i as i64 * 7)
            })
            .collect();
        let reports = send_all(&producer, records);
        for (i, report) in reports.iter().enumerate() {
            assert_eq!(*report, (0, i as i64), "{codec}: report of message {i}");
        }

        info!(codec, "read back from the beginning by assign");
        let consumer = consumer(&target, &[]);
        assign(&consumer, &topic, &[(0, Offset::Beginning)]);
        let got = consume(&consumer, COUNT, WAIT * 2);
        for (i, m) in got.iter().enumerate() {
            check_round_trip(codec, i, base_ts + i as i64 * 7, m);
        }
        assert_nothing_more(&consumer, Duration::from_millis(300));

        info!(
            codec,
            "a start offset inside a batch gets that batch; the client skips to it"
        );
        let consumer = crate::clients::consumer(&target, &[]);
        let start = COUNT / 2 + 1;
        assign(&consumer, &topic, &[(0, Offset::Offset(start as i64))]);
        let got = consume(&consumer, COUNT - start, WAIT);
        for (i, m) in (start..).zip(&got) {
            check_round_trip(codec, i, base_ts + i as i64 * 7, m);
        }
    }
}

fn check_round_trip(codec: &str, i: usize, timestamp: i64, m: &OwnedMessage) {
    assert_eq!(m.offset(), i as i64, "{codec}: offset");
    assert_eq!(m.partition(), 0);
    assert_eq!(m.key(), Some(key(i).as_bytes()), "{codec}: key of {i}");
    assert_eq!(
        m.payload(),
        Some(value(i).as_bytes()),
        "{codec}: value of {i}"
    );
    assert_eq!(
        m.timestamp(),
        Timestamp::CreateTime(timestamp),
        "{codec}: timestamp of {i}"
    );
    let h = m
        .headers()
        .unwrap_or_else(|| panic!("{codec}: no headers on {i}"));
    assert_eq!(h.count(), 3, "{codec}: header count of {i}");
    let index = h.get(0);
    assert_eq!(
        (index.key, index.value),
        ("index", Some(&i.to_be_bytes()[..]))
    );
    let c = h.get(1);
    assert_eq!((c.key, c.value), ("codec", Some(codec.as_bytes())));
    let empty = h.get(2);
    assert_eq!((empty.key, empty.value), ("empty", None));
}

#[test]
fn explicit_partitions_are_kept_apart() {
    init_logs();
    let target = Target::any();
    const PARTITIONS: i32 = 4;
    const EACH: usize = 50;
    let topic = unique_name("partitions");
    create_topic(&target, &topic, PARTITIONS, &[]);
    info!("{EACH} messages to each of {PARTITIONS} partitions, interleaved");
    let producer = future_producer(&target, &[("linger.ms", "5")]);
    let payloads: Vec<(i32, String)> = (0..EACH)
        .flat_map(|i| (0..PARTITIONS).map(move |p| (p, format!("p{p}-m{i}"))))
        .collect();
    let records = payloads
        .iter()
        .map(|(p, v)| {
            FutureRecord::to(&topic)
                .partition(*p)
                .key(v.as_str())
                .payload(v.as_str())
        })
        .collect();
    let reports = send_all(&producer, records);
    for ((p, v), (partition, offset)) in payloads.iter().zip(&reports) {
        assert_eq!(partition, p, "{v}");
        let i: i64 = v
            .rsplit('m')
            .next()
            .and_then(|n| n.parse().ok())
            .expect("index");
        assert_eq!(*offset, i, "{v}");
    }

    for p in 0..PARTITIONS {
        info!(
            partition = p,
            "each partition alone holds exactly its own messages, in order"
        );
        let consumer = consumer(&target, &[]);
        assign(&consumer, &topic, &[(p, Offset::Beginning)]);
        let got = consume(&consumer, EACH, WAIT);
        for (i, m) in got.iter().enumerate() {
            assert_eq!((m.partition(), m.offset()), (p, i as i64));
            assert_eq!(m.payload(), Some(format!("p{p}-m{i}").as_bytes()));
        }
        assert_nothing_more(&consumer, Duration::from_millis(200));
    }
}

#[test]
fn messages_up_to_the_size_limit_pass_and_larger_ones_are_refused() {
    init_logs();
    let target = Target::any();
    const LIMIT: usize = 100_000;
    let topic = unique_name("limit");
    create_topic(
        &target,
        &topic,
        1,
        &[("max.message.bytes", &LIMIT.to_string())],
    );
    let producer = future_producer(&target, &[("linger.ms", "0")]);

    info!("a batch just under the topic's max.message.bytes is stored");
    // A one-record batch adds 61 bytes of batch header and under 30 of record framing.
    let near: String = "n".repeat(LIMIT - 200);
    assert_eq!(
        send(&producer, FutureRecord::to(&topic).payload(&near)),
        (0, 0)
    );

    info!("a batch above it gets MESSAGE_TOO_LARGE, well below the client's own limit");
    let over: String = "o".repeat(LIMIT + 1000);
    let refused = block_on(
        WAIT * 2,
        producer.send(FutureRecord::<str, str>::to(&topic).payload(&over), WAIT),
    );
    match refused {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!("expected MESSAGE_TOO_LARGE, got {other:?}"),
    }

    info!("the partition still takes normal messages after the refusal");
    assert_eq!(
        send(&producer, FutureRecord::to(&topic).payload("small")),
        (0, 1)
    );

    info!("a consumer whose fetch sizes are far smaller still gets the large batch whole");
    let consumer = consumer(
        &target,
        &[
            ("max.partition.fetch.bytes", "1024"),
            ("fetch.max.bytes", "1024"),
            ("message.max.bytes", "1000"),
        ],
    );
    assign(&consumer, &topic, &[(0, Offset::Beginning)]);
    let got = consume(&consumer, 2, WAIT);
    assert_eq!(got[0].payload(), Some(near.as_bytes()));
    assert_eq!(got[1].payload(), Some(&b"small"[..]));
}

#[test]
#[ignore = "needs a broker of its own: sets message.max.bytes"]
fn the_broker_wide_message_max_bytes_applies_to_new_topics() {
    init_logs();
    let target = Target::own(&[("message.max.bytes", "20000")]);
    let topic = unique_name("broker-limit");
    create_topic(&target, &topic, 1, &[]);
    let producer = future_producer(&target, &[("linger.ms", "0")]);
    info!("under message.max.bytes=20000 a 19,000-byte message passes, a 25,000-byte one does not");
    let near = "n".repeat(19_000);
    assert_eq!(
        send(&producer, FutureRecord::to(&topic).payload(&near)),
        (0, 0)
    );
    let over = "o".repeat(25_000);
    let refused = block_on(
        WAIT * 2,
        producer.send(FutureRecord::<str, str>::to(&topic).payload(&over), WAIT),
    );
    match refused {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge), _)) => {}
        other => panic!("expected MESSAGE_TOO_LARGE, got {other:?}"),
    }
}

#[test]
fn a_fetch_short_of_min_bytes_answers_at_max_wait_with_what_there_is() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("minbytes");
    create_topic(&target, &topic, 1, &[]);
    let producer = future_producer(&target, &[("linger.ms", "0")]);
    send(&producer, FutureRecord::to(&topic).payload("only"));
    info!("fetch.min.bytes=1 MB with 1 s max wait: the few bytes there come after about 1 s");
    let consumer = consumer(
        &target,
        &[
            ("fetch.min.bytes", "1000000"),
            ("fetch.wait.max.ms", "1000"),
        ],
    );
    let started = Instant::now();
    assign(&consumer, &topic, &[(0, Offset::Beginning)]);
    let got = consume(&consumer, 1, WAIT);
    let waited = started.elapsed();
    assert_eq!(got[0].payload(), Some(&b"only"[..]));
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "answered after {waited:?}, expected about the 1 s max wait"
    );
}

/// librdkafka's fetch debug log, kept to see which partitions each Fetch request names.
#[derive(Clone, Default)]
struct FetchLog(Arc<Mutex<Vec<String>>>);

impl ClientContext for FetchLog {
    fn log(&self, _level: RDKafkaLogLevel, _fac: &str, message: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(message.to_string());
        }
    }
}

impl ConsumerContext for FetchLog {}

impl FetchLog {
    /// Polls `consumer` (which delivers its logs) until librdkafka has sent a Fetch naming
    /// `partitions` partitions; no message may arrive meanwhile.
    fn wait_for_fetch_of(
        &self,
        consumer: &BaseConsumer<FetchLog>,
        partitions: usize,
        within: Duration,
    ) {
        let needle = format!("Fetch {partitions}/");
        let deadline = Instant::now() + within;
        loop {
            let seen = self
                .0
                .lock()
                .map(|l| l.iter().any(|m| m.contains(&needle)))
                .unwrap_or(false);
            if seen {
                return;
            }
            if Instant::now() > deadline {
                let lines = self.0.lock().map(|l| l.join("\n")).unwrap_or_default();
                panic!(
                    "no Fetch of {partitions} partitions within {within:?}; fetch log:\n{lines}"
                );
            }
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(10)) {
                panic!(
                    "message at {}/{} before any was produced",
                    m.partition(),
                    m.offset()
                );
            }
        }
    }
}

#[test]
fn a_waiting_consumer_is_woken_by_new_data() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("longpoll");
    create_topic(&target, &topic, 2, &[]);
    let producer = future_producer(&target, &[("linger.ms", "0")]);
    for p in 0..2 {
        send(
            &producer,
            FutureRecord::to(&topic).partition(p).payload("first"),
        );
    }

    info!("a consumer at the end of two partitions sends a Fetch for both that may wait 10 s");
    let log = FetchLog::default();
    let consumer: BaseConsumer<FetchLog> = consumer_config(
        &target,
        &[
            ("fetch.wait.max.ms", "10000"),
            ("socket.timeout.ms", "20000"),
            ("debug", "fetch"),
        ],
    )
    .set_log_level(RDKafkaLogLevel::Debug)
    .create_with_context(log.clone())
    .expect("create consumer");
    // Explicit end offsets: both partitions are ready to fetch at once (no offset lookups), so
    // the first Fetch names both rather than one that then holds the other back for 10 s.
    assign(
        &consumer,
        &topic,
        &[(0, Offset::Offset(1)), (1, Offset::Offset(1))],
    );
    // Were it to name only one, the Fetch for both follows that one's 10 s wait.
    log.wait_for_fetch_of(&consumer, 2, WAIT * 2);

    info!("while it waits, the broker spends (almost) no CPU: no busy polling");
    let cpu_before = target.pid().and_then(cpu_time);
    assert_nothing_more(&consumer, Duration::from_millis(1500));
    if let (Some(a), Some(b)) = (cpu_before, target.pid().and_then(cpu_time)) {
        assert!(
            b.saturating_sub(a) < Duration::from_millis(300),
            "the broker used {:?} of CPU in 1.5 s of an idle long poll",
            b.saturating_sub(a)
        );
    }

    info!("a message produced now, to the second partition, arrives well before the 10 s are up");
    let started = Instant::now();
    send(
        &producer,
        FutureRecord::to(&topic).partition(1).payload("second"),
    );
    let got = consume(&consumer, 1, WAIT);
    let latency = started.elapsed();
    info!(?latency, "produce to consume while a fetch was waiting");
    assert_eq!(got[0].payload(), Some(&b"second"[..]));
    assert_eq!((got[0].partition(), got[0].offset()), (1, 1));
    assert!(
        latency < Duration::from_secs(3),
        "the waiting fetch answered after {latency:?}: not woken by the new data"
    );
}

/// User plus system CPU time of a process, from /proc (Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    Some(Duration::from_millis((utime + stime) * 1000 / ticks))
}
