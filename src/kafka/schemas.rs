//! Wire schemas of the request header and of every request body the broker decodes, transcribed
//! from Kafka's JSON message definitions (`clients/src/main/resources/common/message/*.json`).
//! `schema.rs` walks them; `versions.rs` pairs each API with its schema.
//!
//! Adding an API: copy its request JSON field by field (versions, nullableVersions, tag,
//! flexibleVersions), give each struct that appears in an array `decoded_bytes: size_of::<T>()` of the
//! `kafka-protocol` type, and add the API to the round-trip test in `versions.rs`, which fails if the
//! schema and the crate's encoder disagree on a single byte.

use std::mem::size_of;

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

/// MetadataRequest v0-v13. Not served yet (not in `versions.rs`); here for the Metadata handler
/// and for the bounds tests, since kafka-protocol-rs #152's hostile frame is a Metadata v0 body.
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
