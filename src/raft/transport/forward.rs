//! Forwarded writes: a node that is not the leader of a group hands a record batch to the
//! leader over the transport, which proposes it and answers once it is applied there. Used for
//! the metadata log, so any broker can change the cluster's metadata; produce requests are never
//! forwarded (clients go to the partition leader themselves).
//! `dispatch.rs` routes the request here on the leader's side.
//!
//! Request (kind [`FORWARD_WRITE`]): the record batch, raw. Answers: [`STATUS_OK`] with the JSON
//! of the [`Applied`] entry; [`STATUS_NOT_LEADER`] with the JSON of the leader it knows
//! (`Option<NodeId>`); [`STATUS_BAD_REQUEST`] for a batch that does not parse; any other status
//! as for Raft RPCs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use openraft::errors::{ClientWriteError, RaftError};

use super::conn::Connection;
use super::frame::{
    self, FORWARD_WRITE, STATUS_BAD_REQUEST, STATUS_GROUP_STOPPED, STATUS_NOT_LEADER, STATUS_OK,
    status_name,
};
use super::{Shared, Transport};
use crate::raft::types::{Applied, NodeId, Raft, Request};
use crate::raft::{ForwardError, WriteError};
use crate::record::RecordBatch;

/// Answers one forwarded write with what the local Raft instance made of it.
pub(super) async fn serve(raft: Raft, body: Bytes, conn: Arc<Connection>, id: u64) {
    let reply = |status: u8, payload: &[u8]| match frame::response(id, status, payload) {
        Ok(frame) => {
            let _ = conn.answer(frame);
        }
        Err(e) => tracing::error!(peer = conn.peer, error = %e, "forward answer does not fit"),
    };
    let batch = match RecordBatch::new(body) {
        Ok(batch) => batch,
        Err(e) => return reply(STATUS_BAD_REQUEST, e.to_string().as_bytes()),
    };
    match raft.client_write(Request::Records(batch)).await {
        Ok(resp) => match serde_json::to_vec(&resp.data) {
            Ok(json) => reply(STATUS_OK, &json),
            Err(e) => reply(STATUS_GROUP_STOPPED, e.to_string().as_bytes()),
        },
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            let json = serde_json::to_vec(&f.leader_id).unwrap_or_else(|_| b"null".to_vec());
            reply(STATUS_NOT_LEADER, &json)
        }
        Err(e) => reply(STATUS_GROUP_STOPPED, e.to_string().as_bytes()),
    }
}

impl Transport {
    /// Has `target`, the leader of `group` as this node last heard, propose `batch`; returns
    /// once it is applied there, or fails after `timeout`.
    pub async fn forward_write(
        &self,
        target: NodeId,
        group: &str,
        batch: Bytes,
        timeout: Duration,
    ) -> Result<Applied, WriteError> {
        forward(&self.shared, target, group, batch, timeout).await
    }
}

async fn forward(
    shared: &Shared,
    target: NodeId,
    group: &str,
    batch: Bytes,
    timeout: Duration,
) -> Result<Applied, WriteError> {
    let unreachable = |source: ForwardError| WriteError::Unreachable {
        node: target,
        source,
    };
    let conn = shared
        .link(target)
        .ok_or_else(|| unreachable(ForwardError::NoConnection))?;
    let answer = tokio::time::timeout(timeout, async {
        let mut call = conn.request(FORWARD_WRITE, group, vec![batch]).await?;
        call.response().await
    })
    .await
    .map_err(|_| unreachable(ForwardError::Timeout(timeout)))?
    .map_err(|e| unreachable(e.into()))?;
    match answer.status {
        STATUS_OK => serde_json::from_slice(&answer.payload)
            .map_err(|e| unreachable(ForwardError::Undecodable(e))),
        STATUS_NOT_LEADER => Err(WriteError::NotLeader {
            leader: serde_json::from_slice(&answer.payload).unwrap_or(None),
        }),
        status => Err(unreachable(ForwardError::Refused {
            status: status_name(status),
            message: String::from_utf8_lossy(&answer.payload).into_owned(),
        })),
    }
}
