//! This node's member of one partition's Raft cluster, behind an interface free of openraft
//! types: start it on a directory, propose batches, see who leads in which term, stop it.
//! `node_error.rs` says why one refused or failed.
//! `partition/` builds the Kafka view of a replica on top of this.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::BasicNode;
use openraft::Instant as _;
use openraft::errors::{ClientWriteError, InitializeError, RaftError};
use openraft::impls::ProgressResponder;
use openraft::raft::ClientWriteResult;
use openraft::type_config::alias::{InstantOf, OneshotReceiverOf};
use openraft::type_config::async_runtime::WatchReceiver;
use tokio::sync::watch;

use super::applied_view::{DeletedBelow, SharedProducers};
use super::codec;
use super::compaction::CleanerCheckpoint;
use super::log_store::LogMaintenance;
use super::network::NoPeers;
use super::node_error::{RaftFailure, RaftNodeError, StartError, WriteError};
use super::progress::LeaderProgress;
use super::state_machine::StateMachine;
use super::timing::RaftTiming;
use super::transport::{Registration, Transport};
use super::types::{Applied, NodeId, Raft, Request, TypeConfig};
use super::{LogStoreReader, PartitionStorage};
use crate::record::RecordBatch;
use crate::storage::{LogConfig, RetentionPolicy};
use crate::types::{KafkaOffset, Term};

/// A write queued by [`RaftNode::submit`].
pub struct Submitted(OneshotReceiverOf<TypeConfig, ClientWriteResult<TypeConfig>>);

impl Submitted {
    /// Waits until the batch is committed and applied, or refused.
    pub async fn outcome(self) -> Result<Applied, WriteError> {
        match self.0.await {
            Ok(Ok(resp)) => Ok(resp.data),
            Ok(Err(e)) => Err(refused_write(e)),
            // The responder was dropped: the Raft instance stopped.
            Err(e) => Err(WriteError::Stopped(RaftFailure::new(e))),
        }
    }
}

fn refused_write(err: ClientWriteError<TypeConfig>) -> WriteError {
    match err {
        ClientWriteError::ForwardToLeader(f) => WriteError::NotLeader {
            leader: f.leader_id,
        },
        e => WriteError::Stopped(RaftFailure::new(e)),
    }
}

/// Where and as whom a group runs.
#[derive(Debug, Clone)]
pub struct RaftNodeSpec {
    pub node_id: NodeId,
    /// Every voter with its Raft address.
    pub members: BTreeMap<NodeId, String>,
    pub log: LogConfig,
    /// Names the group in logs and in openraft's cluster name.
    pub name: String,
    /// The member that initializes the group and so leads it first; the lowest id when
    /// `None` or not a member.
    pub preferred_leader: Option<NodeId>,
}

/// How a group reaches its peers, and its timing.
#[derive(Debug, Clone, Default)]
pub struct RaftNodeOptions {
    /// `None`: a group of this node alone ([`NoPeers`]). `Some`: RPCs go over the transport and
    /// the group is served there while it runs.
    pub transport: Option<Transport>,
    pub timing: RaftTiming,
}

/// Who leads the group, as this replica last heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    pub leader: Option<NodeId>,
    /// The Raft term: Kafka's leader epoch.
    pub term: Term,
    pub voters: Vec<NodeId>,
}

pub struct RaftNode {
    raft: Raft,
    reader: LogStoreReader,
    high_watermark: watch::Receiver<KafkaOffset>,
    /// The state machine's idempotent producers, for the leader's checks.
    producers: SharedProducers,
    /// The state machine's log start offset set by DeleteRecords.
    deleted_below: DeletedBelow,
    stopping: Arc<std::sync::atomic::AtomicBool>,
    /// Time rolls and compaction of the log.
    maintenance: LogMaintenance,
    cleaner: Arc<CleanerCheckpoint>,
    name: String,
    node_id: NodeId,
    /// How writes reach the leader from a follower ([`RaftNode::write_via_leader`]).
    transport: Option<Transport>,
    /// This group's entry on the transport; taken out at shutdown.
    registration: Mutex<Option<Registration>>,
    /// Samples of this leader's log end, for [`RaftNode::in_sync_voters`].
    progress: Mutex<LeaderProgress>,
    /// How long a leader may go without a quorum's acknowledgement and still say it leads.
    quorum_lease: Duration,
}

/// How far behind the leader's log a voter may be when leadership is handed to it.
const TRANSFER_MAX_BEHIND: u64 = 64;

impl std::fmt::Debug for RaftNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RaftNode")
            .field("name", &self.name)
            .finish()
    }
}

/// How long building a snapshot for retention may take.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(30);

/// How long a single-member group may take to elect itself after start.
const SELF_ELECTION_WAIT: Duration = Duration::from_secs(10);

impl RaftNode {
    /// Opens the replica's storage in `dir` and starts its Raft instance of this node alone (no
    /// network); a group of one is its own leader when this returns.
    pub async fn start(dir: &Path, spec: RaftNodeSpec) -> Result<RaftNode, StartError> {
        Self::start_with(dir, spec, RaftNodeOptions::default()).await
    }

    /// Opens the replica's storage in `dir` and starts its Raft instance with `options`.
    ///
    /// Initialization happens once cluster-wide: a replica whose Raft state is empty (no log,
    /// no vote) initializes the group with `spec.members` only if it is the preferred leader
    /// (else the member with the lowest node id); it then stands for election at once, so it
    /// leads first. The others wait to be contacted by a leader. A group of one is its own
    /// leader when this returns; a larger group returns at once and elects on its own.
    /// (Should the initializer lose its directory, it initializes again with the same
    /// membership at log index 0, which matches the others' first entry; their longer logs win
    /// the next election and overwrite whatever else it holds.)
    pub async fn start_with(
        dir: &Path,
        spec: RaftNodeSpec,
        options: RaftNodeOptions,
    ) -> Result<RaftNode, StartError> {
        let fail = |source: RaftFailure| StartError::Raft {
            name: spec.name.clone(),
            source,
        };
        let PartitionStorage {
            log_store,
            state_machine,
            reader,
            high_watermark,
            stopping,
            maintenance,
        } = super::open(dir, spec.log)?;
        let producers = state_machine.producers();
        let deleted_below = state_machine.deleted_below();
        let timing = options.timing;
        let config = openraft::Config {
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_timeout_min_ms,
            election_timeout_max: timing.election_timeout_max_ms,
            // Snapshots are metadata only; installing one is a small file write.
            install_snapshot_timeout: timing.election_timeout_max_ms,
            enable_pre_vote: Some(options.transport.is_some()),
            // A group of this node alone has nobody to heartbeat and nobody to wait for: it
            // elects itself once ([`RaftNode::initialize`]) and never needs a timer after.
            enable_tick: spec.members.len() > 1,
            ..super::partition_raft_config(&spec.name)
        }
        .validate()
        .map_err(|e| fail(RaftFailure::new(e)))?;
        let config = Arc::new(config);
        let raft = match &options.transport {
            None => Raft::new(spec.node_id, config, NoPeers, log_store, state_machine).await,
            Some(transport) => {
                let network = transport.network(&spec.name);
                Raft::new(spec.node_id, config, network, log_store, state_machine).await
            }
        }
        .map_err(|e| fail(RaftFailure::new(e)))?;
        let registration = options
            .transport
            .as_ref()
            .map(|t| t.register(&spec.name, raft.clone()));
        if let Err(e) = Self::initialize(&raft, &spec).await {
            // Stop the group's tasks, so a later start on the same files is the only one.
            drop(registration);
            if let Err(stop) = raft.shutdown().await {
                tracing::warn!(group = %spec.name, error = %stop, "raft shutdown after a failed start");
            }
            return Err(fail(e));
        }
        Ok(RaftNode {
            raft,
            reader,
            high_watermark,
            producers,
            deleted_below,
            stopping,
            maintenance,
            cleaner: Arc::new(CleanerCheckpoint::open(dir)),
            name: spec.name,
            node_id: spec.node_id,
            transport: options.transport,
            registration: Mutex::new(registration),
            progress: Mutex::new(LeaderProgress::default()),
            quorum_lease: Duration::from_millis(timing.election_timeout_max_ms),
        })
    }

    /// Initializes the group if this member is the one to (see [`RaftNode::start_with`]); a
    /// group of one waits until it leads.
    async fn initialize(raft: &Raft, spec: &RaftNodeSpec) -> Result<(), RaftFailure> {
        let initializer = spec
            .preferred_leader
            .filter(|p| spec.members.contains_key(p))
            .or_else(|| spec.members.keys().next().copied());
        let initializes = initializer == Some(spec.node_id);
        if initializes && !raft.is_initialized().await.map_err(RaftFailure::new)? {
            let members: BTreeMap<NodeId, BasicNode> = spec
                .members
                .iter()
                .map(|(id, addr)| (*id, BasicNode::new(addr)))
                .collect();
            match raft.initialize(members).await {
                Ok(()) | Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(RaftFailure::new(e)),
            }
        }
        if spec.members.len() == 1 {
            // Without ticks nothing campaigns on its own; a leader of before restores itself.
            if !raft.is_leader() {
                raft.trigger()
                    .elect(false)
                    .await
                    .map_err(RaftFailure::new)?;
            }
            raft.wait(Some(SELF_ELECTION_WAIT))
                .state(openraft::ServerState::Leader, "single member leads")
                .await
                .map_err(RaftFailure::new)?;
        }
        Ok(())
    }

    /// Proposes one batch; returns once it is committed and applied.
    pub async fn write(&self, batch: RecordBatch) -> Result<Applied, WriteError> {
        match self.raft.client_write(Request::Records(batch)).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(e)) => Err(refused_write(e)),
            Err(e) => Err(WriteError::Stopped(RaftFailure::new(e))),
        }
    }

    /// The term in which this node leads, once its state machine has applied an entry of that
    /// term (the leader's first entry): from then on the applied state covers every entry of
    /// earlier terms that will ever commit, and what this leader appends in the term comes after.
    /// Waits at most `within` for that; `NotLeader` if this node does not lead by then.
    pub async fn leading_term_applied(&self, within: Duration) -> Result<Term, WriteError> {
        let node_id = self.node_id;
        // Whether this node leads with its own term applied (`Some(term)`), leads without it
        // yet (`None`), or does not lead (`Err`).
        let state = |m: &openraft::RaftMetrics<TypeConfig>| -> Result<Option<Term>, ()> {
            if m.current_leader != Some(node_id) {
                return Err(());
            }
            Ok(m.last_applied
                .filter(|a| a.leader_id.term == m.current_term)
                .map(|_| Term(m.current_term)))
        };
        let not_leader = || WriteError::NotLeader {
            leader: self.leadership().leader.filter(|l| *l != node_id),
        };
        // The usual case, read in place: a leader that has long applied its own term.
        if let Ok(Some(term)) = state(&self.raft.metrics().borrow_watched()) {
            return Ok(term);
        }
        let metrics = self
            .raft
            .wait(Some(within))
            .metrics(
                |m| !matches!(state(m), Ok(None)),
                "leader applied its own term",
            )
            .await
            .map_err(|_| not_leader())?;
        match state(&metrics) {
            Ok(Some(term)) => Ok(term),
            _ => Err(not_leader()),
        }
    }

    /// The idempotent producers' table as of last applied.
    pub fn producers(&self) -> &SharedProducers {
        &self.producers
    }

    /// The log start offset DeleteRecords set, as of last applied (0 if never).
    pub fn deleted_below(&self) -> KafkaOffset {
        self.deleted_below.get()
    }

    /// Proposes moving the log start offset up to `offset`; returns once it is committed and
    /// applied here.
    pub async fn move_log_start(&self, offset: KafkaOffset) -> Result<Applied, WriteError> {
        match self.raft.client_write(Request::MoveLogStart(offset)).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(e)) => Err(refused_write(e)),
            Err(e) => Err(WriteError::Stopped(RaftFailure::new(e))),
        }
    }

    /// Proposes one batch if this node still leads in `term`, and returns once it is queued
    /// (so batches submitted one after the other take log positions in that order), with what
    /// gives its outcome.
    pub async fn submit(&self, batch: RecordBatch, term: Term) -> Result<Submitted, WriteError> {
        let (responder, outcome) = ProgressResponder::complete_only();
        self.raft
            .write(Request::Records(batch))
            .with_leader(term.0)
            .responder(responder)
            .await
            .map_err(|e| WriteError::Stopped(RaftFailure::new(e)))?;
        Ok(Submitted(outcome))
    }

    /// Proposes one batch here if this replica leads, else has the leader it knows propose it
    /// over the transport (at most `timeout` for that answer; a leader that cannot be reached
    /// or does not answer in time is reported as `NotLeader { leader: None }`: the outcome is
    /// unknown, the caller retries). For internal logs whose writers run on every broker; Kafka
    /// produce requests use [`RaftNode::write`].
    pub async fn write_via_leader(
        &self,
        batch: RecordBatch,
        timeout: Duration,
    ) -> Result<Applied, WriteError> {
        let bytes = batch.bytes().clone();
        match self.write(batch).await {
            Err(WriteError::NotLeader {
                leader: Some(leader),
            }) if leader != self.node_id => match &self.transport {
                // An unreachable leader is, for the caller, no known leader: it retries later.
                Some(transport) => transport
                    .forward_write(leader, &self.name, bytes, timeout)
                    .await
                    .map_err(|e| match e {
                        WriteError::Unreachable { .. } => {
                            tracing::info!(group = %self.name, leader, error = %e, "forwarded write failed");
                            WriteError::NotLeader { leader: None }
                        }
                        other => other,
                    }),
                None => Err(WriteError::NotLeader {
                    leader: Some(leader),
                }),
            },
            other => other,
        }
    }

    /// Who leads as this replica knows it. A leader that has not heard from a quorum within
    /// the longest election timeout reports no leader: it is likely cut off and replaced on
    /// the other side, and clients should look there (its writes could not commit anyway).
    pub fn leadership(&self) -> Leadership {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        let cut_off = m.current_leader == Some(self.node_id)
            && m.membership_config.voter_ids().nth(1).is_some()
            && m.last_quorum_acked.as_ref().is_some_and(|at| {
                InstantOf::<TypeConfig>::now().saturating_duration_since(**at) > self.quorum_lease
            });
        Leadership {
            leader: m.current_leader.filter(|_| !cut_off),
            term: Term(m.current_term),
            voters: m.membership_config.voter_ids().collect(),
        }
    }

    /// The voters in sync with this leader, this node first: those holding every entry this
    /// node held `lag` ago that also answered within `lag` (Kafka's `replica.lag.time.max.ms`
    /// rule). `None` unless this node leads.
    pub fn in_sync_voters(&self, lag: Duration) -> Option<Vec<NodeId>> {
        let metrics = self.raft.metrics();
        let m = metrics.borrow_watched();
        if m.state != openraft::ServerState::Leader || m.current_leader != Some(self.node_id) {
            return None;
        }
        let reference = self
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .reference(
                m.current_term,
                Instant::now(),
                m.last_log_index.unwrap_or(0),
                lag,
            );
        let now = InstantOf::<TypeConfig>::now();
        let mut in_sync = vec![self.node_id];
        for voter in m.membership_config.voter_ids() {
            if voter == self.node_id {
                continue;
            }
            let matched = m
                .replication
                .as_ref()
                .and_then(|r| r.get(&voter).cloned().flatten())
                .map(|log_id| log_id.index);
            let answered = m
                .heartbeat
                .as_ref()
                .and_then(|h| h.get(&voter).cloned().flatten())
                .is_some_and(|at| now.saturating_duration_since(*at) <= lag);
            if answered && matched.is_some_and(|index| index >= reference) {
                in_sync.push(voter);
            }
        }
        Some(in_sync)
    }

    /// Hands leadership to voter `to` if this node leads and `to` is at most
    /// [`TRANSFER_MAX_BEHIND`] entries behind; returns whether the hand-over started. Writes
    /// pause until `to` has caught up and been elected, so a lagging voter is not asked.
    pub async fn transfer_leadership(&self, to: NodeId) -> Result<bool, RaftFailure> {
        let ready = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            let last = m.last_log_index.unwrap_or(0);
            m.state == openraft::ServerState::Leader
                && m.current_leader == Some(self.node_id)
                && m.membership_config.voter_ids().any(|v| v == to)
                && m.replication
                    .as_ref()
                    .and_then(|r| r.get(&to).cloned().flatten())
                    .is_some_and(|matched| matched.index + TRANSFER_MAX_BEHIND >= last)
        };
        if !ready {
            return Ok(false);
        }
        self.raft
            .trigger()
            .transfer_leader(to)
            .await
            .map_err(RaftFailure::new)?;
        Ok(true)
    }

    pub(super) fn maintenance(&self) -> &LogMaintenance {
        &self.maintenance
    }

    pub(super) fn cleaner_checkpoint(&self) -> Arc<CleanerCheckpoint> {
        Arc::clone(&self.cleaner)
    }

    /// The log index of the last entry the state machine applied.
    pub(super) fn last_applied_index(&self) -> Option<crate::types::LogIndex> {
        let metrics = self.raft.metrics();
        let applied = metrics.borrow_watched().last_applied;
        applied.map(|l| crate::types::LogIndex(l.index))
    }

    pub fn reader(&self) -> &LogStoreReader {
        &self.reader
    }

    /// The high watermark: the end offset of what is committed and applied.
    pub fn high_watermark(&self) -> watch::Receiver<KafkaOffset> {
        self.high_watermark.clone()
    }

    /// Deletes the whole segments `policy` lets go at `now_ms`, on this replica (leader or
    /// follower): the boundary is the last entry of those segments. Has the state machine build
    /// the snapshot exactly there unless one already covers it, then has Raft purge up to it.
    /// Returns the offset the log starts at once the purge is done.
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
        now_ms: i64,
    ) -> Result<Option<KafkaOffset>, RaftNodeError> {
        let Some(point) = self.reader.log().retention_point(policy, now_ms)? else {
            return Ok(None);
        };
        let boundary = codec::log_id(point.id());
        let (applied, snapshot) = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow_watched();
            (m.last_applied.map(|l| l.index), m.snapshot.map(|l| l.index))
        };
        // Only applied entries can be covered by a snapshot; sealed segments nearly always are.
        if applied.is_none_or(|a| a < boundary.index) {
            return Ok(None);
        }
        if snapshot.is_none_or(|s| s < boundary.index) {
            let prepared = self
                .raft
                .with_state_machine(move |sm: &mut StateMachine| {
                    Box::pin(std::future::ready(sm.prepare_snapshot(boundary)))
                })
                .await
                .map_err(RaftFailure::new)?
                .map_err(RaftNodeError::Snapshot)?;
            if prepared {
                self.raft
                    .trigger()
                    .snapshot()
                    .await
                    .map_err(RaftFailure::new)?;
            }
            self.raft
                .wait(Some(SNAPSHOT_WAIT))
                .metrics(
                    |m| m.snapshot.is_some_and(|s| s.index >= boundary.index),
                    "snapshot covers the retention point",
                )
                .await
                .map_err(RaftFailure::new)?;
        }
        self.raft
            .trigger()
            .purge_log(boundary.index)
            .await
            .map_err(RaftFailure::new)?;
        Ok(Some(point.end_offset()))
    }

    /// Stops serving the group on the transport (peers see it as unreachable), then stops Raft
    /// (an append waiting for disk space gives up first).
    pub async fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
        drop(
            self.registration
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take(),
        );
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(group = %self.name, error = %e, "raft shutdown");
        }
    }
}
