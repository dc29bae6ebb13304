//! The Kafka frontend: frames, request checks, version table, handlers, connections and the listener.
//! The only module that imports `kafka_protocol`. Below it sit the broker's partitions and metadata
//! (reached through [`BrokerContext`]); it knows nothing of files or Raft.
//!
//! # Bounded decoding
//!
//! `kafka-protocol` 0.18 trusts the wire: arrays are decoded with `Vec::with_capacity(count)` on the
//! count read from the frame, and every unknown tagged field becomes a `BTreeMap` entry. A 12-byte
//! frame announcing 2^31-1 elements asks for hundreds of gigabytes and aborts the process; 20 million
//! tagged fields in an ApiVersions v3 header cost gigabytes. The defence is in three layers, and no
//! byte reaches the crate's decoder before all three have passed:
//!
//! 1. **Frame** (`frame.rs`): the 4-byte size is checked (not negative, at most
//!    `socket.request.max.bytes`) before anything is buffered, and the buffer grows only as body
//!    bytes arrive, so announcing a large frame costs nothing until it is sent.
//! 2. **Schema walk** (`walk.rs` over `schemas/`): every request we decode has a wire schema
//!    transcribed from Kafka's JSON definitions, and a walker checks the frame against it without
//!    allocating: each array count times the smallest wire size of one element must fit in the bytes
//!    left (the rule of KAFKA-14063), every string and bytes length must fit, strings must be UTF-8,
//!    non-nullable fields must not be null, known tagged fields must have the declared size, and the
//!    tagged-field count must fit at two bytes each. Anything else closes the connection.
//! 3. **Allocation budget**: while walking, the walker adds up what the decoder will allocate: for
//!    each array, `count * size_of` the Rust element type (taken with `size_of` from the crate's own
//!    types, so it follows the crate), plus `schema::TAGGED_FIELD_DECODED_BYTES` per unknown tagged
//!    field and `schema::TAGGED_MAP_NODE_BYTES` for each struct that has any. Strings, bytes and record batches decode as zero-copy slices of the frame and cost
//!    nothing more. The sum must stay within [`request::decode_budget`]: the frame's size, or 16 MiB
//!    for smaller frames. So a request never costs more than twice its frame (or frame + 16 MiB), and
//!    a connection never holds more than two maximum frames of requests in flight.
//!
//! Why a schema walk rather than patching the crate: capping `with_capacity` at the bytes left (the
//! fix proposed upstream in kafka-protocol-rs #152) still lets a frame of two-byte elements decode
//! into structs of seventy bytes each, 35 times the frame; only knowing the schema bounds that. The
//! walk is also where version-independent checks (UTF-8, nulls) happen once, with messages that name
//! the field. The cost is one pass over the frame (no allocation) and a schema to transcribe per
//! API; `schemas/tests.rs` tests each schema against the crate's encoder byte for byte at every
//! version and, with `tests/decode_memory.rs`, measures real allocations against the estimate.
//! Not yet modelled: nullable struct fields (none of the requests with a schema has one).

#[cfg(test)]
mod bounds_tests;
mod budget;
pub(crate) mod configs;
mod connection;
pub mod context;
pub(crate) mod error_map;
pub mod frame;
pub(crate) mod handlers;
pub mod request;
pub(crate) mod schema;
pub(crate) mod schemas;
pub mod server;
pub mod versions;
pub(crate) mod walk;

pub use context::BrokerContext;
pub use handlers::RequestContext;
pub use request::{RequestError, check_and_decode, decode_budget};
pub use schema::BoundsError;
pub use server::Server;
