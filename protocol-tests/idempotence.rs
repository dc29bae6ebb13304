//! Idempotent producers (KIP-98): InitProducerId hands out ids, and each partition checks every
//! batch's producer epoch and sequence. Raw frames for each answer Kafka gives (a duplicate
//! answered with its original offset, a gap, a fenced epoch, a new epoch, an unknown producer),
//! the same after a `kill -9`, and librdkafka's idempotent producer end to end.

use std::collections::{BTreeMap, HashSet};
use std::net::TcpStream;

use bytes::Bytes;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::Offset;
use tracing::info;

use crate::clients::{assign, consume, consumer, create_topic, future_producer};
use crate::common::raw::{
    self, NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, Producer, init_producer_id, produce, produce_acks,
    produce_request,
};
use crate::common::wire::{call, connect, receive, send};
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_RECORD: i16 = 87;

/// Records per batch in the raw tests.
const RECORDS: i32 = 10;

/// One batch of [`RECORDS`] records of `producer`, sequences from `first_sequence`.
fn batch(producer: Producer, first_sequence: i32) -> Bytes {
    let values = (0..RECORDS).map(|i| Bytes::from(format!("seq-{}", first_sequence + i)));
    raw::batch(producer, first_sequence, values, 1_700_000_000_000)
}

/// The producers DescribeProducers lists for partition 0 of `topic`: id, epoch, last sequence.
fn describe_producers(conn: &mut TcpStream, topic: &str) -> Vec<(i64, i32, i32)> {
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partition_indexes(vec![0]),
    ]);
    let response: DescribeProducersResponse = call(conn, ApiKey::DescribeProducers, 0, &request);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, NONE, "{response:?}");
    let mut producers: Vec<(i64, i32, i32)> = partition
        .active_producers
        .iter()
        .map(|p| (p.producer_id.0, p.producer_epoch, p.last_sequence))
        .collect();
    producers.sort_unstable();
    producers
}

#[test]
fn producer_ids_are_unique_and_start_at_epoch_zero() {
    init_logs();
    let target = Target::any();
    let mut conn = connect(target.addr);
    let mut seen = HashSet::new();
    for version in 0..=5 {
        for _ in 0..3 {
            let producer = init_producer_id(&mut conn, version);
            assert!(producer.id >= 0);
            assert!(
                seen.insert(producer.id),
                "id {} handed out twice",
                producer.id
            );
        }
    }
}

#[test]
fn sequences_are_checked_as_kafka_checks_them() {
    init_logs();
    let target = Target::any();
    let mut conn = connect(target.addr);
    let topic = unique_name("idempotent");
    create_topic(&target, &topic, 1, &[]);
    let producer = init_producer_id(&mut conn, 4);

    info!("a first batch, then its retry: the original offset, nothing appended");
    assert_eq!(produce(&mut conn, &topic, batch(producer, 0)), (NONE, 0));
    assert_eq!(produce(&mut conn, &topic, batch(producer, 0)), (NONE, 0));
    assert_eq!(produce(&mut conn, &topic, batch(producer, 10)), (NONE, 10));
    assert_eq!(produce(&mut conn, &topic, batch(producer, 0)), (NONE, 0));
    assert_eq!(produce(&mut conn, &topic, batch(producer, 10)), (NONE, 10));

    info!("a gap in the sequence");
    let (code, _) = produce(&mut conn, &topic, batch(producer, 30));
    assert_eq!(code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(produce(&mut conn, &topic, batch(producer, 20)), (NONE, 20));

    info!("a bumped epoch starts at sequence 0; the old epoch is fenced");
    let bumped = Producer {
        epoch: producer.epoch + 1,
        ..producer
    };
    let (code, _) = produce(&mut conn, &topic, batch(bumped, 30));
    assert_eq!(
        code, OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a new epoch at sequence 30"
    );
    assert_eq!(produce(&mut conn, &topic, batch(bumped, 0)), (NONE, 30));
    let (code, _) = produce(&mut conn, &topic, batch(producer, 30));
    assert_eq!(code, INVALID_PRODUCER_EPOCH);

    info!("a producer this partition has no state of may start anywhere (KIP-360)");
    let unknown = init_producer_id(&mut conn, 4);
    assert_eq!(produce(&mut conn, &topic, batch(unknown, 500)), (NONE, 40));
    assert_eq!(produce(&mut conn, &topic, batch(unknown, 500)), (NONE, 40));

    info!("a producer id with a negative sequence is not a valid batch");
    let other = init_producer_id(&mut conn, 4);
    let (code, _) = produce(&mut conn, &topic, batch(other, -5));
    assert_eq!(code, INVALID_RECORD);

    info!("DescribeProducers lists each producer with its epoch and last sequence");
    assert_eq!(
        describe_producers(&mut conn, &topic),
        vec![
            (producer.id, 1, RECORDS - 1),
            (unknown.id, 0, 500 + RECORDS - 1)
        ]
    );
    let request = DescribeProducersRequest::default().with_topics(vec![
        TopicRequest::default()
            .with_name(TopicName(StrBytes::from_string(topic.clone())))
            .with_partition_indexes(vec![7]),
    ]);
    let response: DescribeProducersResponse =
        call(&mut conn, ApiKey::DescribeProducers, 0, &request);
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        UNKNOWN_TOPIC_OR_PARTITION
    );

    info!("a batch without a producer id is never deduplicated");
    let anonymous = Producer { id: -1, epoch: -1 };
    assert_eq!(produce(&mut conn, &topic, batch(anonymous, -1)), (NONE, 50));
    assert_eq!(produce(&mut conn, &topic, batch(anonymous, -1)), (NONE, 60));
}

#[test]
fn acks_one_and_zero_deduplicate_too() {
    init_logs();
    let target = Target::any();
    let mut conn = connect(target.addr);
    let topic = unique_name("idempotent-acks");
    create_topic(&target, &topic, 1, &[]);
    let producer = init_producer_id(&mut conn, 4);
    info!("acks=1: a retry gets the original offset");
    assert_eq!(
        produce_acks(&mut conn, &topic, batch(producer, 0), 1),
        (NONE, 0)
    );
    assert_eq!(
        produce_acks(&mut conn, &topic, batch(producer, 0), 1),
        (NONE, 0)
    );
    info!("acks=0: no answers, and the retries are not appended either");
    for first in [10, 10, 20, 10, 20] {
        let request = produce_request(&topic, batch(producer, first)).with_acks(0);
        send(&mut conn, ApiKey::Produce, 9, first, &request);
    }
    assert_eq!(produce(&mut conn, &topic, batch(producer, 30)), (NONE, 30));
    assert_eq!(
        describe_producers(&mut conn, &topic),
        vec![(producer.id, 0, 30 + RECORDS - 1)]
    );
}

#[test]
#[ignore = "needs a broker of its own: producer.id.expiration.ms of a second"]
fn idle_producers_expire() {
    init_logs();
    let target = Target::own(&[
        ("producer.id.expiration.ms", "1000"),
        ("producer.id.expiration.check.interval.ms", "100"),
    ]);
    let mut conn = connect(target.addr);
    let topic = unique_name("idempotent-expiry");
    create_topic(&target, &topic, 1, &[]);
    let producer = init_producer_id(&mut conn, 4);
    assert_eq!(produce(&mut conn, &topic, batch(producer, 0)), (NONE, 0));
    assert_eq!(
        describe_producers(&mut conn, &topic),
        vec![(producer.id, 0, RECORDS - 1)]
    );
    let deadline = std::time::Instant::now() + WAIT;
    while !describe_producers(&mut conn, &topic).is_empty() {
        assert!(std::time::Instant::now() < deadline, "never expired");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    info!("forgotten: its next batch may start anywhere");
    assert_eq!(produce(&mut conn, &topic, batch(producer, 700)), (NONE, 10));
}

#[test]
fn retries_pipelined_behind_their_original_get_its_offset() {
    init_logs();
    let target = Target::any();
    let mut conn = connect(target.addr);
    let topic = unique_name("idempotent-pipelined");
    create_topic(&target, &topic, 1, &[]);
    let producer = init_producer_id(&mut conn, 4);
    // Each batch twice in a row, all sent before any answer is read: a repeat finds its
    // original in flight or just applied, and must be answered with its offset either way.
    let sequences = [0, 0, 10, 10, 20, 20, 20];
    for (i, first) in sequences.iter().enumerate() {
        let request = produce_request(&topic, batch(producer, *first));
        send(&mut conn, ApiKey::Produce, 9, i as i32, &request);
    }
    for (i, first) in sequences.iter().enumerate() {
        let response: ProduceResponse = receive(&mut conn, ApiKey::Produce, 9, i as i32);
        let answer = &response.responses[0].partition_responses[0];
        assert_eq!(
            (answer.error_code, answer.base_offset),
            (NONE, i64::from(*first)),
            "request {i}"
        );
    }
    let reader = consumer(&target, &[]);
    let (_, high) = reader
        .fetch_watermarks(&topic, 0, WAIT)
        .expect("watermarks");
    assert_eq!(high, 30, "three batches of ten in the log");
}

#[test]
#[ignore = "needs a broker of its own: kill -9 and restart"]
fn producer_state_survives_a_kill() {
    init_logs();
    let mut target = Target::own(&[]);
    let topic = unique_name("idempotent-restart");
    create_topic(&target, &topic, 1, &[]);
    let mut conn = connect(target.addr);
    let producer = init_producer_id(&mut conn, 4);
    for i in 0..3 {
        assert_eq!(
            produce(&mut conn, &topic, batch(producer, i * RECORDS)),
            (NONE, i64::from(i * RECORDS))
        );
    }
    target.kill9_and_restart();
    let mut conn = connect(target.addr);
    info!("after the restart a retry of the last batch gets its offset, not a copy");
    assert_eq!(
        produce(&mut conn, &topic, batch(producer, 2 * RECORDS)),
        (NONE, 20)
    );
    let (code, _) = produce(&mut conn, &topic, batch(producer, 5 * RECORDS));
    assert_eq!(code, OUT_OF_ORDER_SEQUENCE_NUMBER);
    assert_eq!(
        produce(&mut conn, &topic, batch(producer, 3 * RECORDS)),
        (NONE, 30)
    );
    let fresh = init_producer_id(&mut conn, 4);
    assert_ne!(fresh.id, producer.id, "a restarted broker reuses no id");
}

#[test]
fn librdkafka_idempotent_producer_writes_each_message_once() {
    init_logs();
    const MESSAGES: usize = 5_000;
    const PARTITIONS: i32 = 3;
    let target = Target::any();
    let topic = unique_name("idempotent-rdkafka");
    create_topic(&target, &topic, PARTITIONS, &[]);
    let producer: FutureProducer = future_producer(
        &target,
        &[
            ("enable.idempotence", "true"),
            ("linger.ms", "5"),
            ("batch.num.messages", "100"),
        ],
    );
    let values: Vec<String> = (0..MESSAGES).map(|i| i.to_string()).collect();
    let deliveries: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let record = FutureRecord::<str, str>::to(&topic)
                .payload(value)
                .partition(i as i32 % PARTITIONS);
            producer.send_result(record).expect("queue a message")
        })
        .collect();
    for delivery in deliveries {
        match block_on(WAIT * 2, delivery) {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => panic!("delivery failed: {e}"),
            Err(_) => panic!("delivery report dropped"),
        }
    }

    let reader = consumer(&target, &[]);
    let from_start: Vec<(i32, Offset)> = (0..PARTITIONS).map(|p| (p, Offset::Beginning)).collect();
    assign(&reader, &topic, &from_start);
    let messages = consume(&reader, MESSAGES, WAIT * 2);
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut ids = HashSet::new();
    for m in &messages {
        offsets.entry(m.partition()).or_default().push(m.offset());
        let id = std::str::from_utf8(m.payload().expect("a value")).expect("utf-8");
        assert!(ids.insert(id.to_string()), "message {id} twice");
    }
    assert_eq!(ids.len(), MESSAGES);
    for (partition, offsets) in offsets {
        let expected: Vec<i64> = (0..offsets.len() as i64).collect();
        assert_eq!(offsets, expected, "offsets of partition {partition}");
    }
}
