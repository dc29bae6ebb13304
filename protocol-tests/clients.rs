//! rdkafka clients for the protocol suite: producers, an `assign`-only consumer (one that reads
//! given partitions without joining its group), topic creation through the admin API, and
//! bounded waits around all of it. `harness.rs` owns the broker under test; this file only talks
//! to it as a client would.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::common::{WAIT, block_on, unique_name};
use crate::harness::Target;

/// Client settings every test shares, plus `extra`.
pub fn config(target: &Target, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", target.addr.to_string())
        .set("socket.timeout.ms", "10000")
        .set("message.timeout.ms", "20000");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

pub fn future_producer(target: &Target, extra: &[(&str, &str)]) -> FutureProducer {
    config(target, extra).create().expect("create producer")
}

/// A consumer that reads only what it is assigned and never commits. librdkafka refuses
/// `assign` without a `group.id`, but with `assign` and no commits it never joins the group.
pub fn consumer(target: &Target, extra: &[(&str, &str)]) -> BaseConsumer {
    consumer_config(target, extra)
        .create()
        .expect("create consumer")
}

/// The settings of [`consumer`], for a consumer with a context of its own.
pub fn consumer_config(target: &Target, extra: &[(&str, &str)]) -> ClientConfig {
    let group = unique_name("assign-only");
    let mut settings = vec![
        ("group.id", group.as_str()),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
    ];
    settings.extend_from_slice(extra);
    config(target, &settings)
}

/// Assigns `(partition, offset)` pairs of `topic`.
pub fn assign<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partitions: &[(i32, Offset)],
) {
    let mut list = TopicPartitionList::new();
    for (partition, offset) in partitions {
        list.add_partition_offset(topic, *partition, *offset)
            .expect("partition offset");
    }
    consumer.assign(&list).expect("assign");
}

/// Polls until `count` messages arrived or `within` passed; a consumer error fails the test
/// (partition EOF events, when enabled, are skipped).
pub fn consume<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    count: usize,
    within: Duration,
) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + within;
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "consumed {} of {count} messages within {within:?}",
            got.len()
        );
        match consumer.poll(left.min(Duration::from_millis(200))) {
            None => {}
            Some(Ok(message)) => got.push(message.detach()),
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => panic!("consumer error after {} messages: {e}", got.len()),
        }
    }
    got
}

/// Polls for `quiet` and fails on any message: nothing more is there to read.
pub fn assert_nothing_more<C: ConsumerContext>(consumer: &BaseConsumer<C>, quiet: Duration) {
    let deadline = Instant::now() + quiet;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match consumer.poll(left.min(Duration::from_millis(100))) {
            Some(Ok(message)) => panic!("unexpected message {}", describe(&message)),
            Some(Err(KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => panic!("consumer error: {e}"),
        }
    }
}

/// Polls until partition EOF of `partition` is reported (needs `enable.partition.eof=true`);
/// messages before it are returned.
pub fn consume_to_eof<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    partition: i32,
    within: Duration,
) -> Vec<OwnedMessage> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no partition EOF within {within:?}");
        match consumer.poll(left.min(Duration::from_millis(200))) {
            None => {}
            Some(Ok(message)) => got.push(message.detach()),
            Some(Err(KafkaError::PartitionEOF(p))) if p == partition => return got,
            Some(Err(KafkaError::PartitionEOF(_))) => {}
            Some(Err(e)) => panic!("consumer error after {} messages: {e}", got.len()),
        }
    }
}

fn describe(message: &BorrowedMessage<'_>) -> String {
    format!(
        "{}/{}@{}",
        message.topic(),
        message.partition(),
        message.offset()
    )
}

/// Creates `topic` with `partitions` partitions and `configs` through CreateTopics.
pub fn create_topic(target: &Target, topic: &str, partitions: i32, configs: &[(&str, &str)]) {
    let admin: AdminClient<DefaultClientContext> =
        config(target, &[]).create().expect("create admin client");
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    for (key, value) in configs {
        new = new.set(key, value);
    }
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let results =
        block_on(WAIT * 2, admin.create_topics([&new], &options)).expect("CreateTopics request");
    for result in results {
        if let Err((name, code)) = result {
            panic!("creating {name} failed: {code}");
        }
    }
}

/// A record for [`produce_raw`]: its timestamp and value.
fn raw_record(i: usize, timestamp: i64, value: bytes::Bytes) -> kafka_protocol::records::Record {
    kafka_protocol::records::Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset: i as i64,
        sequence: i as i32,
        timestamp,
        key: Some(bytes::Bytes::from(format!("key-{i}"))),
        value: Some(value),
        headers: kafka_protocol::indexmap::IndexMap::new(),
    }
}

/// Writes one RecordBatch of `timestamps.len()` records (record `i` has timestamp
/// `timestamps[i]`), compressed with `compression`, to partition 0 of `topic` with a raw
/// Produce (acks=all): clients choose their own batch boundaries, this fixes them. Returns the
/// batch's base offset.
pub fn produce_one_batch(
    target: &Target,
    topic: &str,
    timestamps: &[i64],
    compression: kafka_protocol::records::Compression,
) -> i64 {
    let records = timestamps
        .iter()
        .enumerate()
        .map(|(i, ts)| raw_record(i, *ts, bytes::Bytes::from(format!("value-{i}"))))
        .collect();
    produce_raw(target, topic, 0, records, compression)
}

/// Writes one uncompressed batch of a single record holding `value` to `partition` of `topic`.
pub fn produce_one_record(target: &Target, topic: &str, partition: i32, value: &[u8]) -> i64 {
    let record = raw_record(0, 1_700_000_000_000, bytes::Bytes::copy_from_slice(value));
    produce_raw(
        target,
        topic,
        partition,
        vec![record],
        kafka_protocol::records::Compression::None,
    )
}

/// One raw Produce v8 (acks=all) of `records` as one batch; returns its base offset.
fn produce_raw(
    target: &Target,
    topic: &str,
    partition: i32,
    records: Vec<kafka_protocol::records::Record>,
    compression: kafka_protocol::records::Compression,
) -> i64 {
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse, TopicName};
    use kafka_protocol::protocol::StrBytes;
    use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};

    let mut batch = bytes::BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut batch, &records, &options).expect("encode the batch");
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(WAIT.as_millis() as i32)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch.freeze())),
                ]),
        ]);
    let mut stream = crate::common::wire::connect(target.addr);
    let response: ProduceResponse =
        crate::common::wire::call(&mut stream, ApiKey::Produce, 8, &request);
    let answer = &response.responses[0].partition_responses[0];
    assert_eq!(
        answer.error_code, 0,
        "produce of one batch to {topic}-{partition}"
    );
    answer.base_offset
}
