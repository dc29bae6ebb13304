//! The shared raw requests (`common/raw.rs`), with batches of this suite's payloads.

use bytes::Bytes;

pub use crate::common::raw::{
    NONE, OUT_OF_ORDER_SEQUENCE_NUMBER, Producer, delete_records, init_producer_id, produce,
};

/// One batch of `producer` holding a record for each of `ids` (value: `payload(id)`, then
/// `pad` bytes), every record stamped `timestamp`; sequences from `first_sequence`.
pub fn batch(
    producer: Producer,
    first_sequence: i32,
    ids: std::ops::Range<usize>,
    timestamp: i64,
    pad: usize,
) -> Bytes {
    let values = ids.map(|id| Bytes::from(format!("{}-{}", crate::payload(id), "r".repeat(pad))));
    crate::common::raw::batch(producer, first_sequence, values, timestamp)
}
