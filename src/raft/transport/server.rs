//! The accepting side of Raft connections: the listener loop and the acceptor's half of the
//! handshake. Only a member with a lower node id, naming this cluster and this node, gets in;
//! every refusal is logged with its reason. `peer.rs` is the dialing half.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use super::Shared;
use super::conn::Connection;
use super::frame::{self, HELLO, Hello, MAX_HELLO_FRAME_BYTES, PROTOCOL_VERSION, REFUSED, Welcome};
use crate::raft::types::NodeId;

/// Pause after a failed `accept` (out of file descriptors, say) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, addr)) => {
                tokio::spawn(accept_one(stream, addr, Arc::clone(&shared)));
            }
            Err(e) => {
                tracing::warn!(error = %e, "raft listener accept failed");
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}

/// Why a connection was not accepted, and whether the dialer is told so.
struct Refusal {
    reason: String,
    tell: bool,
}

fn refuse(tell: bool, reason: impl Into<String>) -> Refusal {
    Refusal {
        reason: reason.into(),
        tell,
    }
}

async fn accept_one(mut stream: TcpStream, addr: SocketAddr, shared: Arc<Shared>) {
    let timeout = shared.config.handshake_timeout;
    let outcome = tokio::time::timeout(timeout, handshake(&mut stream, &shared)).await;
    let refusal = match outcome {
        Ok(Ok((peer, read_ahead))) => {
            tracing::info!(peer, %addr, "raft peer connected");
            let conn = Connection::spawn(stream, read_ahead, peer, &shared);
            shared.install(&conn);
            return;
        }
        Ok(Err(refusal)) => refusal,
        Err(_) => refuse(false, format!("no handshake within {timeout:?}")),
    };
    tracing::warn!(%addr, reason = %refusal.reason, "refused a raft connection");
    if refusal.tell
        && let Ok(frame) = frame::encode(REFUSED, 0, "", refusal.reason.as_bytes())
    {
        let _ = tokio::time::timeout(timeout, stream.write_all(&frame)).await;
    }
    let _ = stream.shutdown().await;
}

/// Reads and checks the dialer's hello, answers welcome. Returns the peer's id and any bytes
/// read past the hello.
async fn handshake(stream: &mut TcpStream, shared: &Shared) -> Result<(NodeId, BytesMut), Refusal> {
    let mut buf = BytesMut::new();
    let frame = frame::read_frame(stream, &mut buf, MAX_HELLO_FRAME_BYTES)
        .await
        .map_err(|e| refuse(false, format!("bad first frame: {e}")))?
        .ok_or_else(|| refuse(false, "closed before the handshake"))?;
    if frame.kind != HELLO {
        return Err(refuse(
            false,
            format!("first frame of kind {} is not a hello", frame.kind),
        ));
    }
    let hello = Hello::decode(&frame.body).map_err(|e| refuse(false, format!("bad hello: {e}")))?;
    let me = shared.config.node_id;
    check_hello(&hello, me, shared).map_err(|reason| refuse(true, reason))?;
    let welcome = Welcome {
        version: PROTOCOL_VERSION,
        node_id: me,
        cluster_id: shared.config.cluster_id.clone(),
    }
    .encode()
    .map_err(|e| refuse(false, e.to_string()))?;
    stream
        .write_all(&welcome)
        .await
        .map_err(|e| refuse(false, format!("writing welcome: {e}")))?;
    Ok((hello.node_id, buf))
}

fn check_hello(hello: &Hello, me: NodeId, shared: &Shared) -> Result<(), String> {
    let config = &shared.config;
    if hello.version != PROTOCOL_VERSION {
        return Err(format!(
            "protocol version {} (this node speaks {PROTOCOL_VERSION})",
            hello.version
        ));
    }
    if hello.cluster_id != config.cluster_id {
        return Err(format!(
            "cluster id {:?} is not this cluster ({:?})",
            hello.cluster_id, config.cluster_id
        ));
    }
    if hello.target_id != me {
        return Err(format!(
            "dialed node {} but this is node {me}",
            hello.target_id
        ));
    }
    if !config.members.contains_key(&hello.node_id) || hello.node_id == me {
        return Err(format!(
            "node {} is not a member of this cluster",
            hello.node_id
        ));
    }
    if hello.node_id > me {
        return Err(format!(
            "node {} has a higher id than node {me}, so node {me} dials it",
            hello.node_id
        ));
    }
    Ok(())
}
