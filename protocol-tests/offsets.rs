//! What librdkafka learns about topics and offsets: Metadata (brokers, leaders), watermarks and
//! offsets for times (ListOffsets), and `auto.offset.reset` after fetching past the end.
//! Producing and consuming themselves are in `produce_consume.rs`.

use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use kafka_protocol::records::Compression;
use rdkafka::consumer::BaseConsumer;

use crate::clients::{
    assign, consume, consume_to_eof, consumer, create_topic, future_producer, produce_one_batch,
};
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

fn send(producer: &FutureProducer, topic: &str, payload: &str, timestamp: Option<i64>) -> i64 {
    let mut record = FutureRecord::<str, str>::to(topic)
        .partition(0)
        .payload(payload);
    if let Some(ts) = timestamp {
        record = record.timestamp(ts);
    }
    match block_on(WAIT * 2, producer.send(record, WAIT)) {
        Ok(delivery) => delivery.offset,
        Err((e, _)) => panic!("delivery of {payload} failed: {e}"),
    }
}

#[test]
fn metadata_names_the_broker_and_leads_every_partition() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("metadata");
    create_topic(&target, &topic, 3, &[]);
    let consumer = consumer(&target, &[]);

    info!("the broker is listed at the address clients were given");
    let metadata = consumer
        .fetch_metadata(Some(&topic), WAIT)
        .expect("Metadata for one topic");
    let brokers = metadata.brokers();
    let ours = brokers
        .iter()
        .find(|b| format!("{}:{}", b.host(), b.port()) == target.addr.to_string())
        .unwrap_or_else(|| {
            let listed: Vec<_> = brokers
                .iter()
                .map(|b| format!("{}:{}", b.host(), b.port()))
                .collect();
            panic!(
                "{} not among the advertised brokers {listed:?}",
                target.addr
            )
        });

    info!("the topic has its 3 partitions, each led by that broker, which is its replica and ISR");
    assert_eq!(metadata.topics().len(), 1);
    let t = &metadata.topics()[0];
    assert_eq!(t.name(), topic);
    assert!(t.error().is_none(), "topic error {:?}", t.error());
    let mut indexes: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [0, 1, 2]);
    for p in t.partitions() {
        assert!(
            p.error().is_none(),
            "partition {} error {:?}",
            p.id(),
            p.error()
        );
        assert_eq!(p.leader(), ours.id(), "leader of partition {}", p.id());
        assert_eq!(p.replicas(), [ours.id()]);
        assert_eq!(p.isr(), [ours.id()]);
    }

    info!("a request for all topics includes it");
    let all = consumer
        .fetch_metadata(None, WAIT)
        .expect("Metadata for all topics");
    assert!(all.topics().iter().any(|t| t.name() == topic));
}

#[test]
fn watermarks_and_offsets_for_times() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("times");
    create_topic(&target, &topic, 1, &[]);
    let consumer = consumer(&target, &[]);

    info!("an empty partition's watermarks are (0, 0)");
    assert_eq!(
        consumer
            .fetch_watermarks(&topic, 0, WAIT)
            .expect("watermarks"),
        (0, 0)
    );

    info!("five batches of one message, a second apart in their timestamps");
    let producer = future_producer(&target, &[("linger.ms", "0")]);
    let t0 = 1_600_000_000_000i64;
    for k in 0..5i64 {
        let offset = send(&producer, &topic, &format!("at-{k}"), Some(t0 + k * 1000));
        assert_eq!(offset, k);
        producer.flush(WAIT).expect("flush");
    }
    assert_eq!(
        consumer
            .fetch_watermarks(&topic, 0, WAIT)
            .expect("watermarks"),
        (0, 5)
    );

    info!("each time maps to the first message at or after it; after the last, to the end");
    let cases = [
        (t0 - 1, Offset::Offset(0)),
        (t0, Offset::Offset(0)),
        (t0 + 1, Offset::Offset(1)),
        (t0 + 1000, Offset::Offset(1)),
        (t0 + 2500, Offset::Offset(3)),
        (t0 + 4000, Offset::Offset(4)),
        (t0 + 4001, Offset::End),
    ];
    for (time, expected) in cases {
        let mut wanted = TopicPartitionList::new();
        wanted
            .add_partition_offset(&topic, 0, Offset::Offset(time))
            .expect("timestamp");
        let found = consumer
            .offsets_for_times(wanted, WAIT)
            .expect("offsets for times");
        let element = found
            .find_partition(&topic, 0)
            .expect("partition in answer");
        assert!(element.error().is_ok(), "{time}: {:?}", element.error());
        assert_eq!(
            element.offset(),
            expected,
            "offset for time t0{:+}",
            time - t0
        );
    }

    info!("a consumer started at a found offset reads from that message");
    assign(&consumer, &topic, &[(0, Offset::Offset(3))]);
    let got = consume(&consumer, 2, WAIT);
    assert_eq!(got[0].payload(), Some(&b"at-3"[..]));
    assert_eq!(got[1].offset(), 4);
}

/// The first offset whose record timestamp is at or after `time`, as librdkafka's
/// `offsets_for_times` reports it.
fn offset_for_time(consumer: &BaseConsumer, topic: &str, time: i64) -> Offset {
    let mut wanted = TopicPartitionList::new();
    wanted
        .add_partition_offset(topic, 0, Offset::Offset(time))
        .expect("timestamp");
    let found = consumer
        .offsets_for_times(wanted, WAIT)
        .expect("offsets for times");
    let element = found.find_partition(topic, 0).expect("partition in answer");
    assert!(element.error().is_ok(), "{time}: {:?}", element.error());
    element.offset()
}

#[test]
fn offsets_for_times_are_exact_to_the_record_inside_one_batch_of_every_codec() {
    init_logs();
    let target = Target::any();
    let consumer = consumer(&target, &[]);
    let t0 = 1_650_000_000_000i64;
    // 100 records 10 ms apart, except that record 70 is out of order (older than its
    // neighbours), as records of one batch may be: Kafka answers the first record at or after
    // the time in offset order.
    let mut timestamps: Vec<i64> = (0..100).map(|i| t0 + i * 10).collect();
    timestamps[70] = t0 + 5;
    for (name, compression) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ] {
        info!(
            codec = name,
            "one batch of 100 records with their own timestamps"
        );
        let topic = unique_name(&format!("times-{name}"));
        create_topic(&target, &topic, 1, &[]);
        let ahead = produce_one_batch(&target, &topic, &[t0 - 1000], Compression::None);
        assert_eq!(ahead, 0);
        assert_eq!(
            produce_one_batch(&target, &topic, &timestamps, compression),
            1
        );
        let cases = [
            (t0 - 2000, Offset::Offset(0)),
            (t0, Offset::Offset(1)),
            (t0 + 1, Offset::Offset(2)),
            (t0 + 500, Offset::Offset(51)),
            (t0 + 505, Offset::Offset(52)),
            (t0 + 690, Offset::Offset(70)),
            (t0 + 700, Offset::Offset(72)),
            (t0 + 990, Offset::Offset(100)),
            (t0 + 991, Offset::End),
        ];
        for (time, expected) in cases {
            assert_eq!(
                offset_for_time(&consumer, &topic, time),
                expected,
                "{name}: offset for time t0{:+}",
                time - t0
            );
        }
    }
}

#[test]
fn fetching_past_the_end_follows_auto_offset_reset() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("reset");
    create_topic(&target, &topic, 1, &[]);
    let producer = future_producer(&target, &[("linger.ms", "0")]);
    for i in 0..10 {
        assert_eq!(send(&producer, &topic, &format!("old-{i}"), None), i);
    }

    info!("earliest: an offset past the end restarts the consumer at 0");
    let early = consumer(
        &target,
        &[
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "true"),
        ],
    );
    assign(&early, &topic, &[(0, Offset::Offset(100))]);
    let got = consume_to_eof(&early, 0, WAIT);
    let offsets: Vec<i64> = got.iter().map(|m| m.offset()).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    assert_eq!(got[0].payload(), Some(&b"old-0"[..]));

    info!("latest: an offset past the end moves the consumer to the end; it gets only new data");
    let late = consumer(
        &target,
        &[
            ("auto.offset.reset", "latest"),
            ("enable.partition.eof", "true"),
        ],
    );
    assign(&late, &topic, &[(0, Offset::Offset(100))]);
    // End of partition is reported once the reset has put the consumer at offset 10.
    let got = consume_to_eof(&late, 0, WAIT);
    assert!(
        got.is_empty(),
        "old messages after a reset to latest: {}",
        got.len()
    );
    for i in 0..3 {
        assert_eq!(send(&producer, &topic, &format!("new-{i}"), None), 10 + i);
    }
    let got = consume(&late, 3, WAIT);
    let offsets: Vec<i64> = got.iter().map(|m| m.offset()).collect();
    assert_eq!(offsets, [10, 11, 12]);
    assert_eq!(got[0].payload(), Some(&b"new-0"[..]));
    crate::clients::assert_nothing_more(&late, Duration::from_millis(300));
}

#[test]
#[ignore = "needs a broker of its own: sets num.partitions"]
fn producing_to_an_unknown_topic_creates_it_with_num_partitions() {
    init_logs();
    let target = Target::own(&[("num.partitions", "3")]);
    let consumer = consumer(&target, &[]);

    info!("a consumer's Metadata request does not create a topic");
    let untouched = unique_name("not-created");
    let metadata = consumer
        .fetch_metadata(Some(&untouched), WAIT)
        .expect("Metadata");
    let t = &metadata.topics()[0];
    assert_eq!(
        t.error().map(rdkafka::error::RDKafkaErrorCode::from),
        Some(rdkafka::error::RDKafkaErrorCode::UnknownTopicOrPartition),
        "{untouched}"
    );

    info!("a producer's first message creates the topic with num.partitions=3");
    let topic = unique_name("auto");
    let producer = future_producer(&target, &[("linger.ms", "0")]);
    for p in 0..3 {
        let record = FutureRecord::<str, str>::to(&topic)
            .partition(p)
            .payload("x");
        match block_on(WAIT * 2, producer.send(record, WAIT)) {
            Ok(delivery) => assert_eq!((delivery.partition, delivery.offset), (p, 0)),
            Err((e, _)) => panic!("produce to auto-created partition {p}: {e}"),
        }
    }
    let metadata = consumer.fetch_metadata(None, WAIT).expect("Metadata");
    let names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    assert!(
        !names.contains(&untouched.as_str()),
        "{untouched} was created"
    );
    let created = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .unwrap_or_else(|| panic!("{topic} not listed among {names:?}"));
    assert_eq!(created.partitions().len(), 3);
}
