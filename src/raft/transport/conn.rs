//! One established Raft connection to a peer, used both ways: requests from this node wait in a
//! pending map for the response with their id; requests from the peer go to the server side.
//! A writer task gathers queued frames into vectored writes. `peer.rs` and `server.rs` set up
//! connections (handshake); `dispatch.rs` answers the peer's requests.

use std::collections::{HashMap, VecDeque};
use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::dispatch::Dispatcher;
use super::frame::{self, Frame, RESPONSE};
use crate::raft::types::NodeId;

/// Frames gathered into one vectored write at most.
const MAX_WRITE_SLICES: usize = 64;

/// An answer from the peer: its status and payload.
#[derive(Debug)]
pub struct Response {
    pub status: u8,
    pub payload: Bytes,
}

/// Why a request got no answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("connection to node {0} closed")]
    Closed(NodeId),
    #[error("request to node {0} does not fit in a frame: {1}")]
    Encode(NodeId, String),
}

pub struct Connection {
    pub peer: NodeId,
    /// Tells this connection apart from a later one to the same peer.
    pub serial: u64,
    /// Requests: bounded, a full queue makes callers wait.
    out: mpsc::Sender<Vec<Bytes>>,
    /// Responses: never wait, so answering cannot deadlock against the peer doing the same.
    /// Bounded by what the peer has in flight.
    answers: mpsc::UnboundedSender<Bytes>,
    pending: Mutex<HashMap<u64, oneshot::Sender<Response>>>,
    next_request: AtomicU64,
    closed: CancellationToken,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("serial", &self.serial)
            .finish()
    }
}

/// A request on its way; dropping it forgets the answer.
pub struct PendingCall {
    rx: oneshot::Receiver<Response>,
    conn: Arc<Connection>,
    id: u64,
}

impl PendingCall {
    /// The answer, or `Closed` once the connection is gone.
    pub async fn response(&mut self) -> Result<Response, CallError> {
        (&mut self.rx)
            .await
            .map_err(|_| CallError::Closed(self.conn.peer))
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        self.conn.pending().remove(&self.id);
    }
}

impl Connection {
    /// Starts the reader and writer tasks of an established, handshaken connection. `read_ahead`
    /// holds bytes the handshake read past its frame.
    pub fn spawn(
        stream: TcpStream,
        read_ahead: BytesMut,
        peer: NodeId,
        shared: &Arc<Shared>,
    ) -> Arc<Connection> {
        let _ = stream.set_nodelay(true);
        let (read, write) = stream.into_split();
        let (out, queue) = mpsc::channel(shared.config.max_queued_frames);
        let (answers, answer_queue) = mpsc::unbounded_channel();
        let conn = Arc::new(Connection {
            peer,
            serial: shared.next_serial(),
            out,
            answers,
            pending: Mutex::new(HashMap::new()),
            next_request: AtomicU64::new(1),
            closed: shared.shutdown.child_token(),
        });
        tokio::spawn(write_loop(Arc::clone(&conn), write, queue, answer_queue));
        tokio::spawn(read_loop(
            Arc::clone(&conn),
            read,
            read_ahead,
            Arc::clone(shared),
        ));
        conn
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Response>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    /// Closes the socket; every pending request fails with `Closed`.
    pub fn close(&self) {
        self.closed.cancel();
        self.pending().clear();
    }

    /// Queues a request (its body as chunks) and returns the handle its answer arrives on.
    /// Waits while the send queue is full.
    pub async fn request(
        self: &Arc<Self>,
        kind: u8,
        group: &str,
        body: Vec<Bytes>,
    ) -> Result<PendingCall, CallError> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let body_len = body.iter().map(Bytes::len).sum();
        let head = frame::header(kind, id, group, body_len)
            .map_err(|e| CallError::Encode(self.peer, e.to_string()))?;
        let mut chunks = Vec::with_capacity(1 + body.len());
        chunks.push(head);
        chunks.extend(body);
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, tx);
        let call = PendingCall {
            rx,
            conn: Arc::clone(self),
            id,
        };
        if self.is_closed() || self.out.send(chunks).await.is_err() {
            return Err(CallError::Closed(self.peer));
        }
        Ok(call)
    }

    /// Queues a response. Fails only once the connection is gone.
    pub fn answer(&self, frame: Bytes) -> Result<(), CallError> {
        self.answers
            .send(frame)
            .map_err(|_| CallError::Closed(self.peer))
    }

    fn deliver(&self, frame: Frame) {
        let waiting = self.pending().remove(&frame.request_id);
        let Some(tx) = waiting else {
            tracing::debug!(
                peer = self.peer,
                request_id = frame.request_id,
                "late raft response dropped"
            );
            return;
        };
        let mut body = frame.body;
        if body.is_empty() {
            return; // dropping `tx` fails the call
        }
        let status = body.get_u8();
        let _ = tx.send(Response {
            status,
            payload: body,
        });
    }
}

async fn read_loop(
    conn: Arc<Connection>,
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    shared: Arc<Shared>,
) {
    let mut dispatcher = Dispatcher::new(Arc::clone(&conn), Arc::clone(&shared));
    let max = shared.config.max_frame_bytes;
    let result = loop {
        let next = tokio::select! {
            _ = conn.closed.cancelled() => break Ok(()),
            next = frame::read_frame(&mut read, &mut buf, max) => next,
        };
        match next {
            Ok(Some(frame)) if frame.kind == RESPONSE => conn.deliver(frame),
            Ok(Some(frame)) => {
                if let Err(e) = dispatcher.dispatch(frame).await {
                    break Err(e);
                }
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    match result {
        Ok(()) => tracing::info!(peer = conn.peer, "raft connection closed"),
        Err(e) => tracing::warn!(peer = conn.peer, error = %e, "raft connection dropped"),
    }
    conn.close();
    shared.forget(&conn);
}

async fn write_loop(
    conn: Arc<Connection>,
    mut write: OwnedWriteHalf,
    mut queue: mpsc::Receiver<Vec<Bytes>>,
    mut answers: mpsc::UnboundedReceiver<Bytes>,
) {
    let mut chunks: VecDeque<Bytes> = VecDeque::new();
    loop {
        tokio::select! {
            biased;
            _ = conn.closed.cancelled() => break,
            Some(answer) = answers.recv() => chunks.push_back(answer),
            first = queue.recv() => match first {
                Some(first) => chunks.extend(first),
                None => break,
            },
        }
        // Gather whatever else is queued into the same writes.
        while chunks.len() < MAX_WRITE_SLICES {
            if let Ok(answer) = answers.try_recv() {
                chunks.push_back(answer);
            } else if let Ok(more) = queue.try_recv() {
                chunks.extend(more);
            } else {
                break;
            }
        }
        let written = tokio::select! {
            _ = conn.closed.cancelled() => break,
            written = write_all(&mut write, &mut chunks) => written,
        };
        if let Err(e) = written {
            tracing::warn!(peer = conn.peer, error = %e, "raft connection write failed");
            break;
        }
    }
    conn.close();
    let _ = write.shutdown().await;
}

/// Writes every chunk with vectored writes, advancing past what each write took.
async fn write_all(
    write: &mut OwnedWriteHalf,
    chunks: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    chunks.retain(|c| !c.is_empty());
    while !chunks.is_empty() {
        let written = {
            let slices: Vec<IoSlice<'_>> = chunks
                .iter()
                .take(MAX_WRITE_SLICES)
                .map(|c| IoSlice::new(c))
                .collect();
            write.write_vectored(&slices).await?
        };
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = written;
        while left > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                chunks.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
    }
    Ok(())
}
