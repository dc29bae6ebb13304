//! openraft's network over the transport: a factory per group, a client per (group, target),
//! both borrowing the node's one connection to the target. AppendEntries go out through the
//! pipelined `stream_append` of `append_stream.rs`; `dispatch.rs` answers on the other side.

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

use super::Shared;
use super::append_stream::AppendStream;
use super::conn::{CallError, Connection, Response};
use super::dispatch::SnapshotRpc;
use super::frame::{
    PRE_VOTE, SNAPSHOT, STATUS_OK, STATUS_RESET, TRANSFER_LEADER, VOTE, status_name,
};
use crate::raft::snapshot::{Snapshot, SnapshotData};
use crate::raft::types::{NodeId, TypeConfig, Vote};

pub(super) type RpcError = RPCError<TypeConfig>;
pub(super) type AppendResult = StreamAppendResult<TypeConfig>;

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
    pub(super) shared: Arc<Shared>,
    pub(super) group: Arc<str>,
    pub(super) target: NodeId,
}

pub(super) fn unreachable(msg: impl ToString) -> RpcError {
    RPCError::Unreachable(Unreachable::from_string(msg))
}

pub(super) fn call_error(e: CallError) -> RpcError {
    unreachable(e)
}

/// Turns a non-OK answer into the error openraft acts on: unknown or stopped groups and
/// closed connections are `Unreachable` (back off, retry); a reset stream is a `Network`
/// error (retry at once).
pub(super) fn status_error(target: NodeId, group: &str, resp: &Response) -> RpcError {
    let reason = String::from_utf8_lossy(&resp.payload);
    let status = status_name(resp.status);
    let msg = format!("node {target}, group {group}: {status} ({reason})");
    if resp.status == STATUS_RESET {
        RPCError::Network(NetworkError::from_string(msg))
    } else {
        unreachable(msg)
    }
}

impl PeerClient {
    pub(super) fn link(&self) -> Result<Arc<Connection>, RpcError> {
        self.shared
            .link(self.target)
            .ok_or_else(|| unreachable(format!("no connection to node {}", self.target)))
    }

    pub(super) fn timeout(&self, action: RPCTypes, after: Duration) -> Timeout<TypeConfig> {
        Timeout {
            action,
            id: self.shared.config.node_id,
            target: self.target,
            timeout: after,
        }
    }

    /// How long an AppendEntries may wait for its answer: openraft's suggestion, at least
    /// [`super::TransportConfig::min_append_timeout`].
    fn append_timeout(&self, option: &RPCOption) -> Duration {
        option.soft_ttl().max(self.shared.config.min_append_timeout)
    }

    /// One JSON request, one JSON answer, within `option.soft_ttl()`.
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        kind: u8,
        action: RPCTypes,
        req: &Req,
        option: &RPCOption,
    ) -> Result<Resp, RpcError> {
        let body = serde_json::to_vec(req).map_err(unreachable)?;
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
}

impl RaftNetworkV2<TypeConfig> for PeerClient {
    type SnapshotData = SnapshotData;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RpcError> {
        let conn = self.link()?;
        // A heartbeat (no entries) keeps openraft's timeout.
        let ttl = if rpc.entries.is_empty() {
            option.soft_ttl()
        } else {
            self.append_timeout(&option)
        };
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
        let ttl = self.append_timeout(&option);
        let client = PeerClient {
            shared: Arc::clone(&self.shared),
            group: Arc::clone(&self.group),
            target: self.target,
        };
        Box::pin(async move { Ok(AppendStream::start(client, input, ttl).boxed()) })
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
