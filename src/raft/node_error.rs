//! Why a partition's Raft instance would not start, refused a write or failed to trim its log.
//! Each failure keeps its source; openraft's are wrapped in [`RaftFailure`] so no openraft type
//! leaves `raft/`. `node.rs` returns them.

use std::sync::Arc;
use std::time::Duration;

use super::transport::CallError;
use super::types::NodeId;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] super::Error),
    #[error("raft instance {name} failed to start: {source}")]
    Raft {
        name: String,
        #[source]
        source: RaftFailure,
    },
}

/// An openraft error kept whole as the source, so no openraft type leaves `raft/`. Shared, so
/// every waiter can be handed the same failure; two are equal when they are the same one.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct RaftFailure(Arc<dyn std::error::Error + Send + Sync + 'static>);

impl RaftFailure {
    pub(super) fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        RaftFailure(Arc::new(err))
    }
}

impl PartialEq for RaftFailure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RaftFailure {}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("this replica is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("raft instance stopped: {0}")]
    Stopped(#[source] RaftFailure),
    /// A write handed to the leader on another node got no answer from it.
    #[error("node {node}: {source}")]
    Unreachable {
        node: NodeId,
        #[source]
        source: ForwardError,
    },
}

/// Why a write forwarded to the leader got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("no connection")]
    NoConnection,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("undecodable answer: {0}")]
    Undecodable(#[source] serde_json::Error),
    /// The leader's transport answered with an error status and its text.
    #[error("{status} ({message})")]
    Refused {
        status: &'static str,
        message: String,
    },
}

/// Why deleting segments or handing leadership over failed on a running group.
#[derive(Debug, thiserror::Error)]
pub enum RaftNodeError {
    #[error(transparent)]
    Storage(#[from] crate::storage::Error),
    #[error("snapshot for retention: {0}")]
    Snapshot(#[source] std::io::Error),
    #[error("log upkeep (roll or compaction): {0}")]
    Upkeep(#[source] std::io::Error),
    #[error(transparent)]
    Raft(#[from] RaftFailure),
}
