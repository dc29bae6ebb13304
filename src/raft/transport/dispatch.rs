//! The serving side of a connection: each request from the peer goes to the Raft instance it
//! names. AppendEntries of one group run through one `raft.stream_append` pipeline per
//! connection, so they reach Raft in the order they were sent and many are in flight at once;
//! votes, snapshots, leader transfers and forwarded writes each run in a task of their own.
//! `network.rs` is the sending side of the same RPCs.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use openraft::errors::Fatal;
use openraft::raft::{
    AppendEntriesResponse, StreamAppendResult, TransferLeaderRequest, VoteRequest,
};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::Shared;
use super::append::{self, AppendRequest};
use super::conn::Connection;
use super::frame::{
    self, APPEND, FORWARD_WRITE, Frame, FrameError, PRE_VOTE, SNAPSHOT, STATUS_GROUP_STOPPED,
    STATUS_OK, STATUS_RESET, STATUS_UNKNOWN_GROUP, TRANSFER_LEADER, VOTE,
};
use crate::raft::snapshot::{Snapshot, SnapshotData};
use crate::raft::types::{Raft, SnapshotMeta, TypeConfig, Vote};

/// AppendEntries of one group that may wait for Raft at once on one connection.
pub const PIPELINE_DEPTH: usize = 64;

/// The body of a FullSnapshot request: the snapshot is metadata only, so it fits one frame.
#[derive(Serialize, Deserialize)]
pub struct SnapshotRpc {
    pub vote: Vote,
    pub meta: SnapshotMeta,
    pub data: SnapshotData,
}

/// A request other than AppendEntries, decoded.
enum Rpc {
    Vote(VoteRequest<TypeConfig>),
    PreVote(VoteRequest<TypeConfig>),
    Snapshot(Box<SnapshotRpc>),
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// A write for this node to propose as the group's leader (`forward.rs`).
    ForwardWrite(bytes::Bytes),
}

pub struct Dispatcher {
    conn: Arc<Connection>,
    shared: Arc<Shared>,
    /// The AppendEntries pipeline of each group this peer replicates to here.
    pipelines: HashMap<String, mpsc::Sender<(u64, AppendRequest)>>,
}

fn json<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, FrameError> {
    serde_json::from_slice(body).map_err(|e| FrameError::Invalid(format!("{what}: {e}")))
}

/// Queues the answer to request `id`; a closed connection has nobody left to tell.
fn answer(conn: &Connection, id: u64, status: u8, payload: &[u8]) {
    match frame::response(id, status, payload) {
        Ok(frame) => {
            let _ = conn.answer(frame);
        }
        Err(e) => {
            tracing::error!(peer = conn.peer, error = %e, "raft response does not fit a frame")
        }
    }
}

fn answer_json<T: Serialize>(conn: &Connection, id: u64, value: &T) {
    match serde_json::to_vec(value) {
        Ok(json) => answer(conn, id, STATUS_OK, &json),
        Err(e) => answer(conn, id, STATUS_GROUP_STOPPED, e.to_string().as_bytes()),
    }
}

impl Dispatcher {
    pub fn new(conn: Arc<Connection>, shared: Arc<Shared>) -> Dispatcher {
        Dispatcher {
            conn,
            shared,
            pipelines: HashMap::new(),
        }
    }

    /// Routes one request. An error means the frame is garbage: the caller closes the connection.
    pub async fn dispatch(&mut self, frame: Frame) -> Result<(), std::io::Error> {
        let group =
            std::str::from_utf8(&frame.group).map_err(|_| FrameError::Utf8("group name"))?;
        let id = frame.request_id;
        let rpc = match frame.kind {
            APPEND => {
                let req = append::decode(&frame.body)?;
                self.append(group, id, req).await;
                return Ok(());
            }
            VOTE => Rpc::Vote(json(&frame.body, "vote")?),
            PRE_VOTE => Rpc::PreVote(json(&frame.body, "pre-vote")?),
            SNAPSHOT => Rpc::Snapshot(Box::new(json(&frame.body, "snapshot")?)),
            TRANSFER_LEADER => Rpc::TransferLeader(json(&frame.body, "transfer leader")?),
            FORWARD_WRITE => Rpc::ForwardWrite(frame.body),
            other => {
                return Err(FrameError::Invalid(format!("unexpected frame kind {other}")).into());
            }
        };
        let Some((raft, _)) = self.shared.group(group) else {
            answer(&self.conn, id, STATUS_UNKNOWN_GROUP, group.as_bytes());
            return Ok(());
        };
        tokio::spawn(serve(raft, rpc, Arc::clone(&self.conn), id));
        Ok(())
    }

    async fn append(&mut self, group: &str, id: u64, mut req: AppendRequest) {
        // Two tries: a pipeline that ended (its group restarted) is replaced once.
        for _ in 0..2 {
            let tx = match self.pipelines.get(group) {
                Some(tx) if !tx.is_closed() => tx.clone(),
                _ => {
                    let Some((raft, serial)) = self.shared.group(group) else {
                        self.pipelines.remove(group);
                        answer(&self.conn, id, STATUS_UNKNOWN_GROUP, group.as_bytes());
                        return;
                    };
                    let (tx, rx) = mpsc::channel(PIPELINE_DEPTH);
                    let pipeline = Pipeline {
                        raft,
                        serial,
                        group: group.to_string(),
                        conn: Arc::clone(&self.conn),
                        shared: Arc::clone(&self.shared),
                    };
                    tokio::spawn(pipeline.run(rx));
                    self.pipelines.insert(group.to_string(), tx.clone());
                    tx
                }
            };
            match tx.send((id, req)).await {
                Ok(()) => return,
                Err(mpsc::error::SendError((_, back))) => {
                    req = back;
                    self.pipelines.remove(group);
                }
            }
        }
        answer(&self.conn, id, STATUS_GROUP_STOPPED, group.as_bytes());
    }
}

async fn serve(raft: Raft, rpc: Rpc, conn: Arc<Connection>, id: u64) {
    let stopped = |e: String| answer(&conn, id, STATUS_GROUP_STOPPED, e.as_bytes());
    match rpc {
        Rpc::Vote(req) => match raft.vote(req).await {
            Ok(resp) => answer_json(&conn, id, &resp),
            Err(e) => stopped(e.to_string()),
        },
        Rpc::PreVote(req) => match raft.pre_vote(req).await {
            Ok(resp) => answer_json(&conn, id, &resp),
            Err(e) => stopped(e.to_string()),
        },
        Rpc::Snapshot(req) => {
            let SnapshotRpc { vote, meta, data } = *req;
            let snapshot = Snapshot {
                meta,
                snapshot: data,
            };
            match raft.install_full_snapshot(vote, snapshot).await {
                Ok(resp) => answer_json(&conn, id, &resp),
                Err(e) => stopped(e.to_string()),
            }
        }
        Rpc::TransferLeader(req) => match raft.handle_transfer_leader(req).await {
            Ok(resp) => answer_json(&conn, id, &resp),
            Err(e) => stopped(e.to_string()),
        },
        Rpc::ForwardWrite(body) => super::forward::serve(raft, body, conn, id).await,
    }
}

type AppendOutput = BoxStream<'static, Result<StreamAppendResult<TypeConfig>, Fatal<TypeConfig>>>;

/// One `raft.stream_append` call: requests go in through `input`, results come out of `output`
/// in the same order, answering the ids in `waiting` front to back.
struct Session {
    input: mpsc::UnboundedSender<AppendRequest>,
    output: AppendOutput,
    waiting: VecDeque<u64>,
}

impl Session {
    fn start(raft: &Raft) -> Session {
        let (input, rx) = mpsc::unbounded_channel();
        let requests =
            futures::stream::unfold(
                rx,
                |mut rx| async move { rx.recv().await.map(|req| (req, rx)) },
            );
        Session {
            input,
            output: raft.stream_append(requests).boxed(),
            waiting: VecDeque::new(),
        }
    }
}

/// The AppendEntries of one group on one connection. A stream ends at its first rejection
/// (conflict, higher vote); requests already behind it get [`STATUS_RESET`] and the next
/// request starts a new stream.
struct Pipeline {
    raft: Raft,
    serial: u64,
    group: String,
    conn: Arc<Connection>,
    shared: Arc<Shared>,
}

enum Event {
    Request(Option<(u64, AppendRequest)>),
    Result(Option<Result<StreamAppendResult<TypeConfig>, Fatal<TypeConfig>>>),
    Closed,
}

async fn next_result(
    session: &mut Option<Session>,
) -> Option<Result<StreamAppendResult<TypeConfig>, Fatal<TypeConfig>>> {
    match session {
        Some(s) if !s.waiting.is_empty() => s.output.next().await,
        _ => std::future::pending().await,
    }
}

impl Pipeline {
    async fn run(self, mut requests: mpsc::Receiver<(u64, AppendRequest)>) {
        let mut session: Option<Session> = None;
        loop {
            let room = session
                .as_ref()
                .is_none_or(|s| s.waiting.len() < PIPELINE_DEPTH);
            let event = tokio::select! {
                _ = self.conn.closed() => Event::Closed,
                next = requests.recv(), if room => Event::Request(next),
                result = next_result(&mut session) => Event::Result(result),
            };
            match event {
                Event::Closed | Event::Request(None) => return,
                Event::Request(Some((id, req))) => {
                    if session.is_none() && !self.shared.is_registered(&self.group, self.serial) {
                        // The group stopped or restarted: let the dispatcher look it up again.
                        answer(&self.conn, id, STATUS_GROUP_STOPPED, self.group.as_bytes());
                        return;
                    }
                    let s = session.get_or_insert_with(|| Session::start(&self.raft));
                    s.waiting.push_back(id);
                    if s.input.send(req).is_err() {
                        self.reset(session.take());
                    }
                }
                Event::Result(Some(Ok(result))) => {
                    let Some(s) = session.as_mut() else { continue };
                    let Some(id) = s.waiting.pop_front() else {
                        continue;
                    };
                    let rejected = result.is_err();
                    let resp = match result {
                        Ok(matching) => AppendEntriesResponse::PartialSuccess(matching),
                        Err(e) => AppendEntriesResponse::from(Err(e)),
                    };
                    answer_json(&self.conn, id, &resp);
                    if rejected {
                        self.reset(session.take());
                    }
                }
                Event::Result(Some(Err(fatal))) => {
                    for id in session.take().map(|s| s.waiting).unwrap_or_default() {
                        answer(
                            &self.conn,
                            id,
                            STATUS_GROUP_STOPPED,
                            fatal.to_string().as_bytes(),
                        );
                    }
                    return;
                }
                Event::Result(None) => self.reset(session.take()),
            }
        }
    }

    /// Ends a stream: whatever it still owes an answer gets [`STATUS_RESET`].
    fn reset(&self, session: Option<Session>) {
        for id in session.map(|s| s.waiting).unwrap_or_default() {
            answer(&self.conn, id, STATUS_RESET, b"append stream reset");
        }
    }
}
