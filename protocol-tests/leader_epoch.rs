//! Leader epochs as librdkafka uses them to detect truncation: every stored batch carries the
//! Raft term it was written in, OffsetForLeaderEpoch answers where an epoch ends, and stale or
//! future epochs are fenced. Epochs that change with a new leader are tested in the cluster suite.

use std::net::TcpStream;

use bytes::Buf;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::EpochEndOffset;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::info;

use crate::clients::{create_topic, future_producer};
use crate::common::wire::call;
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

fn send_all(producer: &FutureProducer, topic: &str, count: usize) {
    for i in 0..count {
        let key = i.to_string();
        let record = FutureRecord::<str, str>::to(topic)
            .partition(0)
            .payload("epoch")
            .key(&key);
        block_on(WAIT * 2, producer.send(record, WAIT))
            .unwrap_or_else(|(e, _)| panic!("delivery {i} failed: {e}"));
    }
}

/// The leader epoch Metadata reports for partition 0.
fn current_epoch(conn: &mut TcpStream, topic: &str) -> i32 {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = call(conn, ApiKey::Metadata, 9, &request);
    let partition = &response.topics[0].partitions[0];
    assert_eq!(partition.error_code, 0, "{response:?}");
    partition.leader_epoch
}

fn epoch_end(conn: &mut TcpStream, topic: &str, current: i32, epoch: i32) -> EpochEndOffset {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(0)
                        .with_current_leader_epoch(current)
                        .with_leader_epoch(epoch),
                ]),
        ]);
    let mut response: OffsetForLeaderEpochResponse =
        call(conn, ApiKey::OffsetForLeaderEpoch, 4, &request);
    response.topics.remove(0).partitions.remove(0)
}

/// `(base offset, partition leader epoch)` of every batch of partition 0.
fn batch_epochs(conn: &mut TcpStream, topic: &str) -> Vec<(i64, i32)> {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_current_leader_epoch(-1)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let response: FetchResponse = call(conn, ApiKey::Fetch, 11, &request);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0, "{partition:?}");
    let mut records = partition.records.clone().unwrap_or_default();
    let mut out = Vec::new();
    while records.remaining() >= 16 {
        let base_offset = records.get_i64();
        let length = records.get_i32() as usize;
        let epoch = records.get_i32();
        out.push((base_offset, epoch));
        records.advance(length - 4);
    }
    out
}

#[test]
fn leader_epochs_are_stored_in_batches_and_answered() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("epochs");
    create_topic(&target, &topic, 1, &[]);
    send_all(&future_producer(&target, &[]), &topic, 3);
    let mut conn = target.connect();
    let epoch = current_epoch(&mut conn, &topic);
    assert!(epoch >= 0);

    info!("each batch carries the epoch it was written in");
    let epochs = batch_epochs(&mut conn, &topic);
    assert_eq!(epochs, [(0, epoch), (1, epoch), (2, epoch)]);

    info!("the current epoch ends at the log end; a later one is unknown");
    let now = epoch_end(&mut conn, &topic, -1, epoch);
    assert_eq!(
        (now.error_code, now.leader_epoch, now.end_offset),
        (0, epoch, 3)
    );
    let future = epoch_end(&mut conn, &topic, -1, epoch + 10);
    assert_eq!(
        (future.error_code, future.leader_epoch, future.end_offset),
        (0, -1, -1)
    );

    info!("a client ahead of the leader's epoch is fenced, and so is one behind it");
    let ahead = epoch_end(&mut conn, &topic, epoch + 1, epoch);
    assert_eq!(ahead.error_code, ResponseError::UnknownLeaderEpoch.code());
    if epoch > 0 {
        let stale = epoch_end(&mut conn, &topic, epoch - 1, epoch);
        assert_eq!(stale.error_code, ResponseError::FencedLeaderEpoch.code());
    }
}
