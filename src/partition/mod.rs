//! A partition replica: one Raft instance plus its Kafka view (offsets, high watermark, reads,
//! appends). Kafka words above this module, Raft words below it.
//! `registry.rs` keeps the replicas this broker hosts.

mod config;
mod error;
pub mod leftovers;
mod registry;
mod replica;
mod sequencer;

pub use config::{CleanupPolicy, EffectiveConfig};
pub use error::{Error, Shared, StopReason, StorageError};
pub use registry::{Partitions, partition_dir, raft_name};
pub use replica::{
    Appended, FetchData, PartitionLeader, Prepared, ProducerSummary, Replica, ReplicaSpec,
};
