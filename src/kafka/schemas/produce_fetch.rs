//! Wire schemas of the data-path requests: Produce, Fetch, ListOffsets, OffsetForLeaderEpoch and
//! InitProducerId. `mod.rs` says how a schema is transcribed; `tests.rs` checks each against the
//! crate's encoder at every version the crate knows.

use std::mem::size_of;

use kafka_protocol::messages::{
    DeleteRecordsRequest, DescribeProducersRequest, FetchRequest, InitProducerIdRequest,
    ListOffsetsRequest, OffsetForLeaderEpochRequest, ProduceRequest,
    delete_records_request as delete_records, describe_producers_request as describe_producers,
    fetch_request as fetch, list_offsets_request as list_offsets,
    offset_for_leader_epoch_request as epoch, produce_request as produce,
};

use crate::kafka::schema::{Field, MessageSchema, Struct, Ty, range, since};

/// ProduceRequest v3-v13 (the crate's range; served: v3-v11). Record batches are `Ty::Records`:
/// checked for length only and decoded as zero-copy slices of the frame.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static PRODUCE_REQUEST: MessageSchema = MessageSchema {
    flexible: since(9),
    body: Struct {
        name: "ProduceRequest",
        decoded_bytes: size_of::<ProduceRequest>(),
        fields: &[
            Field::new("transactional_id", Ty::String, since(3)).nullable(since(3)),
            Field::new("acks", Ty::Int16, since(0)),
            Field::new("timeout_ms", Ty::Int32, since(0)),
            Field::new(
                "topic_data",
                Ty::Array(&Ty::Struct(&TOPIC_PRODUCE_DATA)),
                since(0),
            ),
        ],
    },
};

static TOPIC_PRODUCE_DATA: Struct = Struct {
    name: "TopicProduceData",
    decoded_bytes: size_of::<produce::TopicProduceData>(),
    fields: &[
        Field::new("name", Ty::String, range(0, 12)),
        Field::new("topic_id", Ty::Uuid, since(13)),
        Field::new(
            "partition_data",
            Ty::Array(&Ty::Struct(&PARTITION_PRODUCE_DATA)),
            since(0),
        ),
    ],
};

static PARTITION_PRODUCE_DATA: Struct = Struct {
    name: "PartitionProduceData",
    decoded_bytes: size_of::<produce::PartitionProduceData>(),
    fields: &[
        Field::new("index", Ty::Int32, since(0)),
        Field::new("records", Ty::Records, since(0)).nullable(since(0)),
    ],
};

/// FetchRequest v4-v18 (the crate's range; served: v4-v15). Two known tagged fields at the top
/// (cluster id, replica state) and two per partition (replica directory id, high watermark).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static FETCH_REQUEST: MessageSchema = MessageSchema {
    flexible: since(12),
    body: Struct {
        name: "FetchRequest",
        decoded_bytes: size_of::<FetchRequest>(),
        fields: &[
            Field::new("cluster_id", Ty::String, since(12))
                .nullable(since(12))
                .tagged(0),
            Field::new("replica_id", Ty::Int32, range(0, 14)),
            Field::new("replica_state", Ty::Struct(&REPLICA_STATE), since(15)).tagged(1),
            Field::new("max_wait_ms", Ty::Int32, since(0)),
            Field::new("min_bytes", Ty::Int32, since(0)),
            Field::new("max_bytes", Ty::Int32, since(3)),
            Field::new("isolation_level", Ty::Int8, since(4)),
            Field::new("session_id", Ty::Int32, since(7)),
            Field::new("session_epoch", Ty::Int32, since(7)),
            Field::new("topics", Ty::Array(&Ty::Struct(&FETCH_TOPIC)), since(0)),
            Field::new(
                "forgotten_topics_data",
                Ty::Array(&Ty::Struct(&FORGOTTEN_TOPIC)),
                since(7),
            ),
            Field::new("rack_id", Ty::String, since(11)),
        ],
    },
};

/// Held inline in `FetchRequest` (not in a `Vec`), so its size is part of the request's.
static REPLICA_STATE: Struct = Struct {
    name: "ReplicaState",
    decoded_bytes: size_of::<fetch::ReplicaState>(),
    fields: &[
        Field::new("replica_id", Ty::Int32, since(15)),
        Field::new("replica_epoch", Ty::Int64, since(15)),
    ],
};

static FETCH_TOPIC: Struct = Struct {
    name: "FetchTopic",
    decoded_bytes: size_of::<fetch::FetchTopic>(),
    fields: &[
        Field::new("topic", Ty::String, range(0, 12)),
        Field::new("topic_id", Ty::Uuid, since(13)),
        Field::new(
            "partitions",
            Ty::Array(&Ty::Struct(&FETCH_PARTITION)),
            since(0),
        ),
    ],
};

static FETCH_PARTITION: Struct = Struct {
    name: "FetchPartition",
    decoded_bytes: size_of::<fetch::FetchPartition>(),
    fields: &[
        Field::new("partition", Ty::Int32, since(0)),
        Field::new("current_leader_epoch", Ty::Int32, since(9)),
        Field::new("fetch_offset", Ty::Int64, since(0)),
        Field::new("last_fetched_epoch", Ty::Int32, since(12)),
        Field::new("log_start_offset", Ty::Int64, since(5)),
        Field::new("partition_max_bytes", Ty::Int32, since(0)),
        Field::new("replica_directory_id", Ty::Uuid, since(17)).tagged(0),
        Field::new("high_watermark", Ty::Int64, since(18)).tagged(1),
    ],
};

static FORGOTTEN_TOPIC: Struct = Struct {
    name: "ForgottenTopic",
    decoded_bytes: size_of::<fetch::ForgottenTopic>(),
    fields: &[
        Field::new("topic", Ty::String, range(7, 12)),
        Field::new("topic_id", Ty::Uuid, since(13)),
        Field::new("partitions", Ty::Array(&Ty::Int32), since(7)),
    ],
};

/// ListOffsetsRequest v1-v10 (the crate's range; served: v1-v8).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static LIST_OFFSETS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(6),
    body: Struct {
        name: "ListOffsetsRequest",
        decoded_bytes: size_of::<ListOffsetsRequest>(),
        fields: &[
            Field::new("replica_id", Ty::Int32, since(0)),
            Field::new("isolation_level", Ty::Int8, since(2)),
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&LIST_OFFSETS_TOPIC)),
                since(0),
            ),
            Field::new("timeout_ms", Ty::Int32, since(10)),
        ],
    },
};

static LIST_OFFSETS_TOPIC: Struct = Struct {
    name: "ListOffsetsTopic",
    decoded_bytes: size_of::<list_offsets::ListOffsetsTopic>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new(
            "partitions",
            Ty::Array(&Ty::Struct(&LIST_OFFSETS_PARTITION)),
            since(0),
        ),
    ],
};

static LIST_OFFSETS_PARTITION: Struct = Struct {
    name: "ListOffsetsPartition",
    decoded_bytes: size_of::<list_offsets::ListOffsetsPartition>(),
    fields: &[
        Field::new("partition_index", Ty::Int32, since(0)),
        Field::new("current_leader_epoch", Ty::Int32, since(4)),
        Field::new("timestamp", Ty::Int64, since(0)),
    ],
};

/// OffsetForLeaderEpochRequest v2-v4 (the crate has no v0-v1).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static OFFSET_FOR_LEADER_EPOCH_REQUEST: MessageSchema = MessageSchema {
    flexible: since(4),
    body: Struct {
        name: "OffsetForLeaderEpochRequest",
        decoded_bytes: size_of::<OffsetForLeaderEpochRequest>(),
        fields: &[
            Field::new("replica_id", Ty::Int32, since(3)),
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&OFFSET_FOR_LEADER_TOPIC)),
                since(0),
            ),
        ],
    },
};

static OFFSET_FOR_LEADER_TOPIC: Struct = Struct {
    name: "OffsetForLeaderTopic",
    decoded_bytes: size_of::<epoch::OffsetForLeaderTopic>(),
    fields: &[
        Field::new("topic", Ty::String, since(0)),
        Field::new(
            "partitions",
            Ty::Array(&Ty::Struct(&OFFSET_FOR_LEADER_PARTITION)),
            since(0),
        ),
    ],
};

static OFFSET_FOR_LEADER_PARTITION: Struct = Struct {
    name: "OffsetForLeaderPartition",
    decoded_bytes: size_of::<epoch::OffsetForLeaderPartition>(),
    fields: &[
        Field::new("partition", Ty::Int32, since(0)),
        Field::new("current_leader_epoch", Ty::Int32, since(2)),
        Field::new("leader_epoch", Ty::Int32, since(0)),
    ],
};

/// InitProducerIdRequest v0-v5.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static INIT_PRODUCER_ID_REQUEST: MessageSchema = MessageSchema {
    flexible: since(2),
    body: Struct {
        name: "InitProducerIdRequest",
        decoded_bytes: size_of::<InitProducerIdRequest>(),
        fields: &[
            Field::new("transactional_id", Ty::String, since(0)).nullable(since(0)),
            Field::new("transaction_timeout_ms", Ty::Int32, since(0)),
            Field::new("producer_id", Ty::Int64, since(3)),
            Field::new("producer_epoch", Ty::Int16, since(3)),
        ],
    },
};

/// DescribeProducersRequest v0 (KIP-664).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DESCRIBE_PRODUCERS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(0),
    body: Struct {
        name: "DescribeProducersRequest",
        decoded_bytes: size_of::<DescribeProducersRequest>(),
        fields: &[Field::new(
            "topics",
            Ty::Array(&Ty::Struct(&DESCRIBE_PRODUCERS_TOPIC)),
            since(0),
        )],
    },
};

static DESCRIBE_PRODUCERS_TOPIC: Struct = Struct {
    name: "TopicRequest",
    decoded_bytes: size_of::<describe_producers::TopicRequest>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("partition_indexes", Ty::Array(&Ty::Int32), since(0)),
    ],
};

/// DeleteRecordsRequest v0-v2.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DELETE_RECORDS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(2),
    body: Struct {
        name: "DeleteRecordsRequest",
        decoded_bytes: size_of::<DeleteRecordsRequest>(),
        fields: &[
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&DELETE_RECORDS_TOPIC)),
                since(0),
            ),
            Field::new("timeout_ms", Ty::Int32, since(0)),
        ],
    },
};

static DELETE_RECORDS_TOPIC: Struct = Struct {
    name: "DeleteRecordsTopic",
    decoded_bytes: size_of::<delete_records::DeleteRecordsTopic>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new(
            "partitions",
            Ty::Array(&Ty::Struct(&DELETE_RECORDS_PARTITION)),
            since(0),
        ),
    ],
};

static DELETE_RECORDS_PARTITION: Struct = Struct {
    name: "DeleteRecordsPartition",
    decoded_bytes: size_of::<delete_records::DeleteRecordsPartition>(),
    fields: &[
        Field::new("partition_index", Ty::Int32, since(0)),
        Field::new("offset", Ty::Int64, since(0)),
    ],
};
