//! raftka: a Kafka-wire-compatible message broker. Every partition is a Raft instance (openraft), and
//! its Raft log is the partition's mmap'd segment files.
//!
//! ```text
//!  Kafka client ──TCP──▶ kafka (frontend) ──▶ broker (routing) ──▶ partition replica
//!    (rdkafka, kcat)     frames, bounds,        metadata, groups     openraft instance over
//!                        versions, errors                            segment files (storage)
//! ```
//!
//! Dependencies point one way: `main → broker → kafka → {group, metadata} → internal_log →
//! partition → raft → storage → config`, with `record` (Kafka's batch format) and `producer`
//! (idempotent producers' state, which the state machine keeps) below partition and raft, and
//! `types` (offsets, indexes, epochs, ids) below everything. Only `kafka` and `record` import
//! `kafka_protocol`; only `raft` imports `openraft`; `tests/layering.rs` checks every module.
//!
//! Layout: [`config`] (settings and limits), [`kafka`] (the wire protocol frontend), [`broker`] (the
//! composition root), [`metadata`] (topics and assignments, replicated as records of the
//! `__cluster_metadata` partition), [`internal_log`] (state kept as records of an internal
//! partition and applied on every replica), [`partition`] (a replica's Kafka view: offsets, high
//! watermark, reads and appends), [`raft`] (openraft over the log; the TCP transport),
//! [`record`] (the RecordBatch v2 format: checked views, records, internal records),
//! [`producer`] (each partition's idempotent producers: epochs, sequences, duplicates),
//! [`storage`] (the segment log of opaque entries), [`types`] (the shared newtypes).
//!
//! The produce path: the frontend checks each batch (`record::split_checked`: framing, magic,
//! codec, CRC) → the partition's Raft leader appends it as one entry; the Raft log store stamps
//! its base offset (counted in `raft/offsets.rs`, the one place where log indexes and offsets
//! meet) and leader epoch into a fresh 16-byte prefix and the storage log writes it
//! once → group commit makes it durable → committed and applied → the high watermark moves,
//! Fetch long polls wake, and the producer gets its base offset.

pub mod broker;
pub mod config;
pub mod group;
pub mod internal_log;
pub mod kafka;
pub mod metadata;
pub mod partition;
pub mod producer;
pub mod raft;
pub mod record;
pub mod storage;
pub mod types;
