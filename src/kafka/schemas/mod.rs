//! Wire schemas of the request header and of every request body the broker decodes, transcribed
//! field by field from `kafka-protocol`'s generated request types (which follow Kafka's JSON message
//! definitions, `clients/src/main/resources/common/message/*.json`). `walk.rs` walks them;
//! `versions.rs` pairs each served API with its schema. The schemas are grouped by API family:
//! `produce_fetch.rs` (data path), `admin.rs` (topics, configs, cluster) and `groups.rs` (consumer
//! groups); this file holds the header, ApiVersions and Metadata.
//!
//! Adding an API: copy its request struct by struct from
//! `kafka-protocol/src/messages/<api>_request.rs` (field versions, compact-from version, known tags;
//! nullable versions from Kafka's JSON, where an `Option` field says only that the field is nullable
//! in some version), give each struct that appears in an array
//! `decoded_bytes: size_of::<T>()` of the crate's type, add it to the catalogue in `tests.rs` and a
//! sample to `samples/`. The tests there walk a populated sample, encoded by the crate, at every
//! version the crate knows and fail if the schema and the encoder disagree on a single byte; they
//! also feed every schema hostile bodies and compare real decode allocations with the estimate.
//! Serving the API is then one `api!` line in `versions.rs`, naming the schema below.

use std::mem::size_of;

mod admin;
mod groups;
mod produce_fetch;
#[cfg(test)]
pub(crate) mod samples;
#[cfg(test)]
mod tests;

#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use admin::{
    ALTER_CONFIGS_REQUEST, CREATE_PARTITIONS_REQUEST, CREATE_TOPICS_REQUEST, DELETE_TOPICS_REQUEST,
    DESCRIBE_CLUSTER_REQUEST, DESCRIBE_CONFIGS_REQUEST, INCREMENTAL_ALTER_CONFIGS_REQUEST,
};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use groups::{
    DELETE_GROUPS_REQUEST, DESCRIBE_GROUPS_REQUEST, FIND_COORDINATOR_REQUEST, HEARTBEAT_REQUEST,
    JOIN_GROUP_REQUEST, LEAVE_GROUP_REQUEST, LIST_GROUPS_REQUEST, OFFSET_COMMIT_REQUEST,
    OFFSET_DELETE_REQUEST, OFFSET_FETCH_REQUEST, SYNC_GROUP_REQUEST,
};
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use produce_fetch::{
    DELETE_RECORDS_REQUEST, DESCRIBE_PRODUCERS_REQUEST, FETCH_REQUEST, INIT_PRODUCER_ID_REQUEST,
    LIST_OFFSETS_REQUEST, OFFSET_FOR_LEADER_EPOCH_REQUEST, PRODUCE_REQUEST,
};

use super::schema::{Field, MessageSchema, Struct, Ty, range, since};

/// Request header v1 (classic) and v2 (flexible: tagged fields; the client id stays classic).
pub(crate) static REQUEST_HEADER: MessageSchema = MessageSchema {
    flexible: since(2),
    body: Struct {
        name: "RequestHeader",
        decoded_bytes: size_of::<kafka_protocol::messages::RequestHeader>(),
        fields: &[
            Field::new("request_api_key", Ty::Int16, since(0)),
            Field::new("request_api_version", Ty::Int16, since(0)),
            Field::new("correlation_id", Ty::Int32, since(0)),
            Field::new("client_id", Ty::String, since(1))
                .nullable(since(1))
                .classic(),
        ],
    },
};

/// ApiVersionsRequest v0-v4.
pub(crate) static API_VERSIONS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(3),
    body: Struct {
        name: "ApiVersionsRequest",
        decoded_bytes: size_of::<kafka_protocol::messages::ApiVersionsRequest>(),
        fields: &[
            Field::new("client_software_name", Ty::String, since(3)),
            Field::new("client_software_version", Ty::String, since(3)),
        ],
    },
};

/// MetadataRequest v0-v13 (the crate's range). Not served yet (not in `versions.rs`); also used by
/// the bounds tests, since kafka-protocol-rs #152's hostile frame is a Metadata v0 body.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static METADATA_REQUEST: MessageSchema = MessageSchema {
    flexible: since(9),
    body: Struct {
        name: "MetadataRequest",
        decoded_bytes: size_of::<kafka_protocol::messages::MetadataRequest>(),
        fields: &[
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&METADATA_REQUEST_TOPIC)),
                since(0),
            )
            .nullable(since(1)),
            Field::new("allow_auto_topic_creation", Ty::Bool, since(4)),
            Field::new(
                "include_cluster_authorized_operations",
                Ty::Bool,
                range(8, 10),
            ),
            Field::new("include_topic_authorized_operations", Ty::Bool, since(8)),
        ],
    },
};

static METADATA_REQUEST_TOPIC: Struct = Struct {
    name: "MetadataRequestTopic",
    decoded_bytes: size_of::<kafka_protocol::messages::metadata_request::MetadataRequestTopic>(),
    fields: &[
        Field::new("topic_id", Ty::Uuid, since(10)),
        Field::new("name", Ty::String, since(0)).nullable(since(10)),
    ],
};
