//! Fetch sizes as Kafka bounds them (KIP-74): a response holds at most `max_bytes` and each
//! partition at most its `partition_max_bytes`, except that the first batch of the first
//! partition with data comes whole if it alone is larger, so a consumer always moves on. No
//! other partition adds a batch past the limits.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use tracing::info;

use crate::clients::{consumer, create_topic, produce_one_record};
use crate::common::wire::{call, connect};
use crate::common::{WAIT, init_logs, unique_name};
use crate::harness::Target;

const PARTITIONS: i32 = 4;
const RECORDS_PER_PARTITION: usize = 3;
const VALUE_BYTES: usize = 400 << 10;

/// A topic of 4 partitions holding 3 batches of one 400 KiB record each.
fn topic_of_large_batches(target: &Target) -> String {
    let topic = unique_name("fetch-limits");
    create_topic(target, &topic, PARTITIONS, &[]);
    let value = vec![b'v'; VALUE_BYTES];
    for partition in 0..PARTITIONS {
        for _ in 0..RECORDS_PER_PARTITION {
            produce_one_record(target, &topic, partition, &value);
        }
    }
    topic
}

/// Bytes of records each partition answers to a Fetch from offset 0 of every partition.
fn fetch_sizes(
    target: &Target,
    topic: &str,
    max_bytes: i32,
    partition_max_bytes: i32,
) -> Vec<usize> {
    let partitions = (0..PARTITIONS)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_fetch_offset(0)
                .with_current_leader_epoch(-1)
                .with_partition_max_bytes(partition_max_bytes)
        })
        .collect();
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(max_bytes)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(partitions),
        ]);
    let mut conn = connect(target.addr);
    let response: FetchResponse = call(&mut conn, ApiKey::Fetch, 11, &request);
    response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            assert_eq!(p.error_code, 0, "{p:?}");
            p.records.as_ref().map_or(0, |r| r.len())
        })
        .collect()
}

#[test]
fn fetch_responses_hold_to_max_bytes_but_for_the_first_batch() {
    init_logs();
    let target = Target::any();
    let topic = topic_of_large_batches(&target);
    let batch = fetch_sizes(&target, &topic, 1 << 30, 1)[0];
    assert!(batch > VALUE_BYTES, "one batch is {batch} bytes");

    info!("max_bytes below one batch: the first partition's first batch, nothing else");
    assert_eq!(
        fetch_sizes(&target, &topic, 100 << 10, 1 << 20),
        [batch, 0, 0, 0]
    );

    info!("room for one batch and a bit: no other partition adds an oversized batch");
    assert_eq!(
        fetch_sizes(&target, &topic, (batch + (100 << 10)) as i32, 1 << 20),
        [batch, 0, 0, 0]
    );

    info!("room for five batches: whole batches while they fit, in partition order");
    assert_eq!(
        fetch_sizes(&target, &topic, (batch * 5) as i32, 1 << 20),
        [2 * batch, 2 * batch, batch, 0]
    );

    info!("partition_max_bytes below one batch: only the first partition's first batch");
    assert_eq!(
        fetch_sizes(&target, &topic, 1 << 30, 100 << 10),
        [batch, 0, 0, 0]
    );

    info!("librdkafka with fetch.max.bytes of 1 MB reads every record, never a response too large");
    let consumer = consumer(
        &target,
        &[
            ("fetch.max.bytes", "1000000"),
            ("max.partition.fetch.bytes", "1000000"),
            ("receive.message.max.bytes", "1100000"),
        ],
    );
    let mut assignment = rdkafka::TopicPartitionList::new();
    for p in 0..PARTITIONS {
        assignment
            .add_partition_offset(&topic, p, rdkafka::Offset::Beginning)
            .expect("assign");
    }
    consumer.assign(&assignment).expect("assign");
    let wanted = PARTITIONS as usize * RECORDS_PER_PARTITION;
    let deadline = std::time::Instant::now() + WAIT;
    let mut read = 0;
    while read < wanted {
        assert!(
            std::time::Instant::now() < deadline,
            "read {read} of {wanted} records within {WAIT:?}"
        );
        if let Some(message) = consumer.poll(std::time::Duration::from_millis(200)) {
            let message = message.expect("no consumer error (a response too large is one)");
            assert_eq!(message.payload().map(<[u8]>::len), Some(VALUE_BYTES));
            read += 1;
        }
    }
}
