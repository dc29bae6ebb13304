//! Samples of the data-path requests (see `mod.rs` for what a sample holds).

use bytes::Bytes;
use kafka_protocol::messages::*;

use super::{Fill, ID_A, ID_B, only, s, unless};

pub(super) fn produce(v: i16, f: Fill) -> ProduceRequest {
    use produce_request::{PartitionProduceData, TopicProduceData};
    let t = f.tags(v >= 9);
    let partition = |index, null| {
        PartitionProduceData::default()
            .with_index(index)
            .with_records(unless(null, Bytes::from_static(b"a record batch")))
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name, id| {
        TopicProduceData::default()
            .with_name(only(v <= 12, s(name)))
            .with_topic_id(only(v >= 13, id))
            .with_partition_data(vec![partition(0, false), partition(1, f.nulls)])
            .with_unknown_tagged_fields(t.clone())
    };
    ProduceRequest::default()
        .with_transactional_id(unless(f.nulls, s("txn-1")))
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![topic("a", ID_A), topic("bb", ID_B)])
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn fetch(v: i16, f: Fill) -> FetchRequest {
    use fetch_request::{FetchPartition, FetchTopic, ForgottenTopic, ReplicaState};
    let t = f.tags(v >= 12);
    let partition = |index| {
        FetchPartition::default()
            .with_partition(index)
            .with_current_leader_epoch(3)
            .with_fetch_offset(100)
            .with_last_fetched_epoch(if v >= 12 { 2 } else { -1 })
            .with_log_start_offset(7)
            .with_partition_max_bytes(1 << 20)
            .with_replica_directory_id(only(v >= 17, ID_B))
            .with_high_watermark(if v >= 18 { 90 } else { i64::MAX })
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name, id| {
        FetchTopic::default()
            .with_topic(only(v <= 12, s(name)))
            .with_topic_id(only(v >= 13, id))
            .with_partitions(vec![partition(0), partition(1)])
            .with_unknown_tagged_fields(t.clone())
    };
    let forgotten = ForgottenTopic::default()
        .with_topic(only(v <= 12, s("gone")))
        .with_topic_id(only(v >= 13, ID_B))
        .with_partitions(vec![4, 5])
        .with_unknown_tagged_fields(t.clone());
    let replica_state = if v >= 15 {
        ReplicaState::default()
            .with_replica_id(BrokerId(2))
            .with_replica_epoch(9)
            .with_unknown_tagged_fields(t.clone())
    } else {
        ReplicaState::default()
    };
    FetchRequest::default()
        .with_cluster_id(unless(f.nulls || v < 12, s("cluster-1")))
        .with_replica_id(BrokerId(if v <= 14 { 2 } else { -1 }))
        .with_replica_state(replica_state)
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 << 20)
        .with_isolation_level(1)
        .with_session_id(11)
        .with_session_epoch(12)
        .with_topics(vec![topic("a", ID_A), topic("bb", ID_B)])
        .with_forgotten_topics_data(only(v >= 7, vec![forgotten]))
        .with_rack_id(s("rack-a"))
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn list_offsets(v: i16, f: Fill) -> ListOffsetsRequest {
    use list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
    let t = f.tags(v >= 6);
    let partition = |index| {
        ListOffsetsPartition::default()
            .with_partition_index(index)
            .with_current_leader_epoch(5)
            .with_timestamp(-1)
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name| {
        ListOffsetsTopic::default()
            .with_name(s(name))
            .with_partitions(vec![partition(0), partition(1)])
            .with_unknown_tagged_fields(t.clone())
    };
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(only(v >= 2, 1))
        .with_topics(vec![topic("a"), topic("bb")])
        .with_timeout_ms(1_000)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn offset_for_leader_epoch(v: i16, f: Fill) -> OffsetForLeaderEpochRequest {
    use offset_for_leader_epoch_request::{OffsetForLeaderPartition, OffsetForLeaderTopic};
    let t = f.tags(v >= 4);
    let partition = |index| {
        OffsetForLeaderPartition::default()
            .with_partition(index)
            .with_current_leader_epoch(4)
            .with_leader_epoch(3)
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name| {
        OffsetForLeaderTopic::default()
            .with_topic(s(name))
            .with_partitions(vec![partition(0), partition(1)])
            .with_unknown_tagged_fields(t.clone())
    };
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(1))
        .with_topics(vec![topic("a"), topic("bb")])
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn init_producer_id(v: i16, f: Fill) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(unless(f.nulls, s("txn-1")))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(if v >= 3 { 17 } else { -1 }))
        .with_producer_epoch(if v >= 3 { 2 } else { -1 })
        .with_unknown_tagged_fields(f.tags(v >= 2))
}

pub(super) fn describe_producers(_v: i16, f: Fill) -> DescribeProducersRequest {
    use describe_producers_request::TopicRequest;
    let t = f.tags(true);
    let topic = |name| {
        TopicRequest::default()
            .with_name(s(name))
            .with_partition_indexes(vec![0, 3])
            .with_unknown_tagged_fields(t.clone())
    };
    DescribeProducersRequest::default()
        .with_topics(vec![topic("a"), topic("bb")])
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn delete_records(v: i16, f: Fill) -> DeleteRecordsRequest {
    use delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic};
    let t = f.tags(v >= 2);
    let partition = |index, offset| {
        DeleteRecordsPartition::default()
            .with_partition_index(index)
            .with_offset(offset)
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name| {
        DeleteRecordsTopic::default()
            .with_name(s(name))
            .with_partitions(vec![partition(0, 17), partition(1, -1)])
            .with_unknown_tagged_fields(t.clone())
    };
    DeleteRecordsRequest::default()
        .with_topics(vec![topic("a"), topic("bb")])
        .with_timeout_ms(30_000)
        .with_unknown_tagged_fields(t.clone())
}
