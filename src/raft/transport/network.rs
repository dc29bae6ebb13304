//! openraft's network over the transport: a factory per group, a client per (group, target),
//! both borrowing the node's one connection to the target. AppendEntries go out through a
//! pipelined `stream_append` (up to [`APPEND_WINDOW`] requests awaiting answers).
//! `dispatch.rs` answers these RPCs on the other side.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use openraft::BasicNode;
use openraft::errors::{
    NetworkError, RPCError, ReplicationClosed, StreamingError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RPCTypes, RaftNetworkFactory, v2::RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendError,
    StreamAppendResult, TransferLeaderRequest, TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::Shared;
use super::append::{self, AppendRequest, Piece};
use super::conn::{CallError, Connection, PendingCall, Response};
use super::dispatch::SnapshotRpc;
use super::frame::{
    APPEND, FRAME_MIN_LEN, PRE_VOTE, SNAPSHOT, STATUS_OK, STATUS_RESET, TRANSFER_LEADER, VOTE,
    status_name,
};
use crate::raft::snapshot::{Snapshot, SnapshotData};
use crate::raft::types::{LogId, NodeId, TypeConfig, Vote};

/// AppendEntries requests one stream keeps in flight before waiting for the oldest answer.
pub const APPEND_WINDOW: usize = 64;

type RpcError = RPCError<TypeConfig>;
type AppendResult = StreamAppendResult<TypeConfig>;

/// The network factory of one group: what `Raft::new` takes.
#[derive(Clone)]
pub struct TransportNetwork {
    shared: Arc<Shared>,
    group: Arc<str>,
}

impl TransportNetwork {
    pub(super) fn new(shared: Arc<Shared>, group: &str) -> TransportNetwork {
        TransportNetwork {
            shared,
            group: group.into(),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for TransportNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> PeerClient {
        PeerClient {
            shared: Arc::clone(&self.shared),
            group: Arc::clone(&self.group),
            target,
        }
    }
}

/// One group's RPCs to one target node.
pub struct PeerClient {
    shared: Arc<Shared>,
    group: Arc<str>,
    target: NodeId,
}

fn unreachable(msg: impl ToString) -> RpcError {
    RPCError::Unreachable(Unreachable::from_string(msg))
}

fn call_error(e: CallError) -> RpcError {
    unreachable(e)
}

/// Turns a non-OK answer into the error openraft acts on: unknown or stopped groups and
/// closed connections are `Unreachable` (back off, retry); a reset stream is a `Network`
/// error (retry at once).
fn status_error(target: NodeId, group: &str, resp: &Response) -> RpcError {
    let reason = String::from_utf8_lossy(&resp.payload);
    let msg = format!(
        "node {target}, group {group}: status {} ({reason})",
        resp.status
    );
    if resp.status == STATUS_RESET {
        RPCError::Network(NetworkError::from_string(msg))
    } else {
        unreachable(msg)
    }
}

impl PeerClient {
    fn link(&self) -> Result<Arc<Connection>, RpcError> {
        self.shared
            .link(self.target)
            .ok_or_else(|| unreachable(format!("no connection to node {}", self.target)))
    }

    fn timeout(&self, action: RPCTypes, after: Duration) -> Timeout<TypeConfig> {
        Timeout {
            action,
            id: self.shared.config.node_id,
            target: self.target,
            timeout: after,
        }
    }

    /// One JSON request, one JSON answer, within `option.soft_ttl()`.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        kind: u8,
        action: RPCTypes,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RpcError> {
        let body = serde_json::to_vec(req).map_err(|e| unreachable(e))?;
        let conn = self.link()?;
        let ttl = option.soft_ttl();
        let answer = tokio::time::timeout(ttl, async {
            let mut call = conn
                .request(kind, &self.group, vec![body.into()])
                .await
                .map_err(call_error)?;
            call.response().await.map_err(call_error)
        })
        .await
        .map_err(|_| RPCError::Timeout(self.timeout(action, ttl)))??;
        if answer.status != STATUS_OK {
            return Err(status_error(self.target, &self.group, &answer));
        }
        serde_json::from_slice(&answer.payload).map_err(|e| {
            RPCError::Network(NetworkError::from_string(format!(
                "node {}: undecodable answer: {e}",
                self.target
            )))
        })
    }

    fn max_body_bytes(&self) -> usize {
        (self.shared.config.max_frame_bytes as usize)
            .saturating_sub(FRAME_MIN_LEN as usize + self.group.len())
    }

    /// Sends every piece of `req` back to back.
    async fn send_append(
        &self,
        conn: &Arc<Connection>,
        req: AppendRequest,
    ) -> Result<InFlight, RpcError> {
        let last = req.entries.last().map(|e| e.log_id).or(req.prev_log_id);
        let pieces = append::encode(req, self.max_body_bytes()).map_err(|e| unreachable(e))?;
        if pieces.len() > 1 {
            tracing::debug!(target_node = self.target, group = %self.group, pieces = pieces.len(), "append split over frames");
        }
        let mut calls = VecDeque::with_capacity(pieces.len());
        for Piece {
            body,
            prev_log_id,
            last_log_id,
        } in pieces
        {
            let call = conn
                .request(APPEND, &self.group, body)
                .await
                .map_err(call_error)?;
            calls.push_back((call, prev_log_id, last_log_id));
        }
        Ok(InFlight {
            calls,
            last,
            sent_at: Instant::now(),
        })
    }
}

/// The pieces of one AppendEntries request awaiting their answers.
struct InFlight {
    calls: VecDeque<(PendingCall, Option<LogId>, Option<LogId>)>,
    /// The last log id of the whole request.
    last: Option<LogId>,
    sent_at: Instant,
}

impl InFlight {
    /// The request's result: the first piece that is not a full success decides, else the last.
    /// Cancel-safe: a piece is consumed only once its answer is in hand.
    async fn finish(&mut self, target: NodeId, group: &str) -> Result<AppendResult, RpcError> {
        loop {
            let Some((call, prev, last)) = self.calls.front_mut() else {
                return Err(unreachable("append request without pieces"));
            };
            let answer = call.response().await.map_err(call_error)?;
            let (prev, last) = (*prev, *last);
            self.calls.pop_front();
            if answer.status != STATUS_OK {
                return Err(status_error(target, group, &answer));
            }
            let resp: AppendEntriesResponse<TypeConfig> = serde_json::from_slice(&answer.payload)
                .map_err(|e| {
                RPCError::Network(NetworkError::from_string(format!("append answer: {e}")))
            })?;
            let result = match resp {
                AppendEntriesResponse::Success => Ok(last),
                AppendEntriesResponse::PartialSuccess(matching) => Ok(matching),
                AppendEntriesResponse::HigherVote(vote) => Err(StreamAppendError::HigherVote(vote)),
                AppendEntriesResponse::Conflict => match prev {
                    Some(prev) => Err(StreamAppendError::Conflict(prev)),
                    None => return Err(unreachable("conflict reported at the start of the log")),
                },
            };
            let complete = matches!(result, Ok(m) if m == last);
            if self.calls.is_empty() || !complete {
                return Ok(result);
            }
        }
    }
}

/// The state of a pipelined `stream_append`.
struct AppendStream<S> {
    client: PeerClient,
    conn: Arc<Connection>,
    input: Option<S>,
    inflight: VecDeque<InFlight>,
    /// Longest wait for the oldest answer, counted from its sending or the previous answer.
    ttl: Duration,
    progress_at: Instant,
    done: bool,
}

enum Step {
    Input(Option<AppendRequest>),
    Answer(Result<AppendResult, RpcError>),
    TimedOut,
}

impl<S> AppendStream<S>
where
    S: futures::Stream<Item = AppendRequest> + Send + Unpin + 'static,
{
    async fn next(&mut self) -> Option<Result<AppendResult, RpcError>> {
        loop {
            if self.done {
                return None;
            }
            let can_send = self.input.is_some() && self.inflight.len() < APPEND_WINDOW;
            let step = match (self.inflight.front_mut(), self.input.as_mut()) {
                (None, None) => return None,
                (None, Some(input)) => Step::Input(input.next().await),
                (Some(head), input) => {
                    let deadline = head.sent_at.max(self.progress_at) + self.ttl;
                    let (target, group) = (self.client.target, &self.client.group);
                    tokio::select! {
                        biased;
                        answer = tokio::time::timeout_at(deadline, head.finish(target, group)) => match answer {
                            Ok(answer) => Step::Answer(answer),
                            Err(_) => Step::TimedOut,
                        },
                        req = async { input?.next().await }, if can_send => Step::Input(req),
                    }
                }
            };
            match step {
                Step::Input(None) => self.input = None,
                Step::Input(Some(req)) => match self.client.send_append(&self.conn, req).await {
                    Ok(sent) => self.inflight.push_back(sent),
                    Err(e) => return self.fail(e),
                },
                Step::Answer(Ok(result)) => {
                    let head = self.inflight.pop_front();
                    self.progress_at = Instant::now();
                    // A rejection or partial success ends the stream; openraft starts anew.
                    let complete = matches!((&result, head), (Ok(m), Some(h)) if *m == h.last);
                    self.done = !complete;
                    return Some(Ok(result));
                }
                Step::Answer(Err(e)) => return self.fail(e),
                Step::TimedOut => {
                    let timeout = self.client.timeout(RPCTypes::AppendEntries, self.ttl);
                    return self.fail(RPCError::Timeout(timeout));
                }
            }
        }
    }

    fn fail(&mut self, e: RpcError) -> Option<Result<AppendResult, RpcError>> {
        self.done = true;
        self.inflight.clear();
        Some(Err(e))
    }
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RpcError> {
        let conn = self.link()?;
        let ttl = option.soft_ttl();
        let last = rpc.entries.last().map(|e| e.log_id).or(rpc.prev_log_id);
        let result = tokio::time::timeout(ttl, async {
            let mut sent = self.send_append(&conn, rpc).await?;
            sent.finish(self.target, &self.group).await
        })
        .await
        .map_err(|_| RPCError::Timeout(self.timeout(RPCTypes::AppendEntries, ttl)))??;
        Ok(match result {
            Ok(matching) if matching == last => AppendEntriesResponse::Success,
            Ok(matching) => AppendEntriesResponse::PartialSuccess(matching),
            Err(StreamAppendError::Conflict(_)) => AppendEntriesResponse::Conflict,
            Err(StreamAppendError::HigherVote(vote)) => AppendEntriesResponse::HigherVote(vote),
        })
    }

    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Result<BoxStream<'s, Result<AppendResult, RpcError>>, RpcError>>
    where
        S: futures::Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
    {
        Box::pin(async move {
            let conn = self.link()?;
            let state = AppendStream {
                client: PeerClient {
                    shared: Arc::clone(&self.shared),
                    group: Arc::clone(&self.group),
                    target: self.target,
                },
                conn,
                input: Some(input),
                inflight: VecDeque::new(),
                ttl: option.soft_ttl(),
                progress_at: Instant::now(),
                done: false,
            };
            let stream = futures::stream::unfold(state, |mut state| async move {
                let item = state.next().await?;
                Some((item, state))
            });
            Ok(stream.boxed())
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        self.call(VOTE, RPCTypes::Vote, &rpc, &option).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RpcError> {
        self.call(PRE_VOTE, RPCTypes::Vote, &rpc, &option).await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let rpc = SnapshotRpc {
            vote,
            meta: snapshot.meta,
            data: snapshot.snapshot,
        };
        let sent = self.call(SNAPSHOT, RPCTypes::InstallSnapshot, &rpc, &option);
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            result = sent => result.map_err(|e| match e {
                RPCError::Timeout(t) => StreamingError::Timeout(t),
                RPCError::Network(n) => StreamingError::Network(n),
                other => StreamingError::Unreachable(Unreachable::from_string(other)),
            }),
        }
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<TransferLeaderResponse<TypeConfig>, RpcError> {
        self.call(TRANSFER_LEADER, RPCTypes::TransferLeader, &req, &option)
            .await
    }
}
