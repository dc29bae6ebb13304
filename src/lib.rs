//! raftka: a Kafka-wire-compatible message broker. Every partition is a Raft group (openraft), and
//! its Raft log is the partition's mmap'd segment files.
//!
//! ```text
//!  Kafka client ──TCP──▶ kafka (frontend) ──▶ broker (routing) ──▶ partition replica
//!    (rdkafka, kcat)     frames, bounds,        metadata, groups     openraft group over
//!                        versions, errors                            segment files (storage)
//! ```
//!
//! Dependencies point one way: `main → broker → kafka → {group, metadata} → partition → raft →
//! storage → config`. Only `kafka` imports `kafka_protocol`; only `raft` imports `openraft`.
//!
//! Layout: [`config`] (settings and limits), [`kafka`] (the wire protocol frontend), [`broker`] (the
//! composition root), [`metadata`] (topics and assignments), [`storage`] (the segment log).

pub mod broker;
pub mod config;
pub mod kafka;
pub mod metadata;
pub mod partition;
pub mod raft;
pub mod storage;
