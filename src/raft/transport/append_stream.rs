//! The sending half of pipelined AppendEntries: a request is encoded (split over frames if
//! needed) and queued at once; up to [`APPEND_WINDOW`] wait for answers, which come back in
//! order because the receiver feeds them to one `raft.stream_append`. `network.rs` hands
//! openraft the stream; `dispatch.rs` is the receiving half.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use openraft::errors::{NetworkError, RPCError};
use openraft::network::RPCTypes;
use openraft::raft::{AppendEntriesResponse, StreamAppendError};
use tokio::time::Instant;

use super::append::{self, AppendRequest, Piece};
use super::conn::{Connection, PendingCall};
use super::frame::{APPEND, FRAME_MIN_LEN, STATUS_OK};
use super::network::{AppendResult, PeerClient, RpcError, call_error, status_error, unreachable};
use crate::raft::types::{LogId, NodeId, TypeConfig};

/// AppendEntries requests one stream keeps in flight before waiting for the oldest answer.
pub const APPEND_WINDOW: usize = 64;

impl PeerClient {
    fn max_body_bytes(&self) -> usize {
        (self.shared.config.max_frame_bytes as usize)
            .saturating_sub(FRAME_MIN_LEN as usize + self.group.len())
    }

    /// Sends every piece of `req` back to back.
    pub(super) async fn send_append(
        &self,
        conn: &Arc<Connection>,
        req: AppendRequest,
    ) -> Result<InFlight, RpcError> {
        let last = req.entries.last().map(|e| e.log_id).or(req.prev_log_id);
        let pieces = append::encode(req, self.max_body_bytes()).map_err(unreachable)?;
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
pub struct InFlight {
    calls: VecDeque<(PendingCall, Option<LogId>, Option<LogId>)>,
    /// The last log id of the whole request.
    last: Option<LogId>,
    sent_at: Instant,
}

impl InFlight {
    /// The request's result: the first piece that is not a full success decides, else the last.
    /// Cancel-safe: a piece is consumed only once its answer is in hand.
    pub async fn finish(&mut self, target: NodeId, group: &str) -> Result<AppendResult, RpcError> {
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
pub struct AppendStream<S> {
    client: PeerClient,
    /// Taken when the first request is in hand, not before: openraft paces retries after
    /// errors by delaying the requests it yields, so an unreachable peer is reported only
    /// after that delay instead of at once, again and again.
    conn: Option<Arc<Connection>>,
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
    /// The stream of results, one per request of `input`, in order.
    pub fn start(
        client: PeerClient,
        input: S,
        ttl: Duration,
    ) -> BoxStream<'static, Result<AppendResult, RpcError>> {
        let state = AppendStream {
            client,
            conn: None,
            input: Some(input),
            inflight: VecDeque::new(),
            ttl,
            progress_at: Instant::now(),
            done: false,
        };
        futures::stream::unfold(state, |mut state| async move {
            let item = state.next().await?;
            Some((item, state))
        })
        .boxed()
    }

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
                Step::Input(Some(req)) => {
                    let conn = match &self.conn {
                        Some(conn) => Arc::clone(conn),
                        None => match self.client.link() {
                            Ok(conn) => self.conn.insert(conn).clone(),
                            Err(e) => return self.fail(e),
                        },
                    };
                    match self.client.send_append(&conn, req).await {
                        Ok(sent) => self.inflight.push_back(sent),
                        Err(e) => return self.fail(e),
                    }
                }
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
