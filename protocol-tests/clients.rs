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
