//! The openraft type configuration of a partition group: what a client writes, what it gets
//! back, and the id types. `crate::record` owns the batch itself.
//!
//! One leader per term (`leader_id_std`), so a committed leader id is just the term and a log
//! id is `(term, index)`: exactly what a storage frame records.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::record::RecordBatch;
use crate::types::KafkaOffset;

openraft::declare_raft_types!(
    /// Type configuration of one partition's Raft instance.
    pub TypeConfig:
        D = Request,
        R = Applied,
        NodeId = u64,
        Node = openraft::BasicNode,
        Term = u64,
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, u64>,
);

pub use crate::types::NodeId;
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
pub type Raft = openraft::Raft<TypeConfig, super::state_machine::StateMachine>;

/// What a client proposes to a partition group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// One Kafka RecordBatch, appended raw; the log assigns its offsets.
    Records(RecordBatch),
    /// Moves the partition's log start offset up to this offset (Kafka's DeleteRecords): no
    /// record below it is served any more, and whole segments below it may go.
    MoveLogStart(KafkaOffset),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Records(batch) => write!(
                f,
                "records(offsets={}, bytes={})",
                batch.offset_count(),
                batch.bytes().len()
            ),
            Request::MoveLogStart(offset) => write!(f, "move-log-start({offset})"),
        }
    }
}

/// The answer to an applied entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// Offset of the batch's first record; `None` for entries without records.
    pub base_offset: Option<KafkaOffset>,
    /// The partition's high watermark once this entry is applied.
    pub high_watermark: KafkaOffset,
}
