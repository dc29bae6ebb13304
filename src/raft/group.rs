//! One running Raft group of a partition replica, behind an interface free of openraft types:
//! start it on a directory, propose batches, see who leads in which term, stop it.
//! `partition/` builds the Kafka view of a replica on top of this.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::errors::{ClientWriteError, InitializeError, RaftError};
use openraft::type_config::async_runtime::WatchReceiver;
use tokio::sync::watch;

use super::network::NoPeers;
use super::types::{Applied, NodeId, Raft, Request};
use super::{LogStoreReader, PartitionStorage, RecordBatch};
use crate::storage::{LogConfig, RetentionPolicy};

/// Where and as whom a group runs.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    pub node_id: NodeId,
    /// Every voter with its Raft address.
    pub members: BTreeMap<NodeId, String>,
    pub log: LogConfig,
    /// Names the group in logs and in openraft's cluster name.
    pub name: String,
}

/// Who leads the group, as this replica last heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub leader: Option<NodeId>,
    /// The Raft term: Kafka's leader epoch.
    pub term: u64,
    pub voters: Vec<NodeId>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] super::Error),
    #[error("raft group {name} failed to start: {reason}")]
    Raft { name: String, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("this replica is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("raft group stopped: {0}")]
    Stopped(String),
}

pub struct PartitionGroup {
    raft: Raft,
    reader: LogStoreReader,
    high_watermark: watch::Receiver<i64>,
    name: String,
}

impl std::fmt::Debug for PartitionGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionGroup")
            .field("name", &self.name)
            .finish()
    }
}

/// How long building a snapshot for retention may take.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// How long a single-member group may take to elect itself after start.
const SELF_ELECTION_WAIT: Duration = Duration::from_secs(10);

impl PartitionGroup {
    /// Opens the replica's storage in `dir` and starts its Raft group; a group of one is its
    /// own leader when this returns.
    pub async fn start(dir: &Path, spec: GroupSpec) -> Result<PartitionGroup, StartError> {
        let fail = |reason: String| StartError::Raft {
            name: spec.name.clone(),
            reason,
        };
        let PartitionStorage {
            log_store,
            state_machine,
            reader,
            high_watermark,
        } = super::open(dir, spec.log)?;
        let config = super::partition_raft_config(&spec.name)
            .validate()
            .map_err(|e| fail(e.to_string()))?;
        let raft = Raft::new(
            spec.node_id,
            Arc::new(config),
            NoPeers,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| fail(e.to_string()))?;
        if !raft
            .is_initialized()
            .await
            .map_err(|e| fail(e.to_string()))?
        {
            let members: BTreeMap<NodeId, BasicNode> = spec
                .members
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(fail(e.to_string())),
            }
        }
        if spec.members.len() == 1 {
            raft.wait(Some(SELF_ELECTION_WAIT))
                .state(openraft::ServerState::Leader, "single member leads")
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(PartitionGroup {
            raft,
            reader,
            high_watermark,
            name: spec.name,
        })
    }

    /// Proposes one batch; returns once it is committed and applied.
    pub async fn write(&self, batch: RecordBatch) -> Result<Applied, WriteError> {
        match self.raft.client_write(Request::Records(batch)).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(WriteError::NotLeader {
                    leader: f.leader_id,
                })
            }
            Err(e) => Err(WriteError::Stopped(e.to_string())),
        }
    }

    pub fn leadership(&self) -> Leadership {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        Leadership {
            leader: m.current_leader,
            term: m.current_term,
            voters: m.membership_config.voter_ids().collect(),
        }
    }

    pub fn reader(&self) -> &LogStoreReader {
        &self.reader
    }

    /// The high watermark: the end offset of what is committed and applied.
    pub fn high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.clone()
    }

    /// Deletes the whole segments `policy` lets go at `now_ms`: makes sure a snapshot covers
    /// the retention point, then has Raft purge up to it. Returns the purged log index.
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<Option<u64>, String> {
        let Some(point) = self
            .reader
            .log()
            .retention_point(policy, now_ms)
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let (applied, snapshot) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            (m.last_applied.map(|l| l.index), m.snapshot.map(|l| l.index))
        };
        // Only applied entries can be covered by a snapshot; sealed segments nearly always are.
        if applied.is_none_or(|a| a < point.index) {
            return Ok(None);
        }
        if snapshot.is_none_or(|s| s < point.index) {
            self.raft
                .trigger()
                .snapshot()
                .await
                .map_err(|e| e.to_string())?;
            self.raft
                .wait(Some(SNAPSHOT_WAIT))
                .metrics(
                    |m| m.snapshot.is_some_and(|s| s.index >= point.index),
                    "snapshot covers the retention point",
                )
                .await
                .map_err(|e| e.to_string())?;
        }
        self.raft
            .trigger()
            .purge_log(point.index)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(point.index))
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(group = %self.name, error = %e, "raft shutdown");
        }
    }
}
