//! The dialing side of Raft connections: one task per member with a higher node id keeps a
//! connection to it open, reconnecting with exponential backoff (bounded by
//! `reconnect_backoff_max`). `server.rs` is the accepting half of the handshake.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::Shared;
use super::conn::Connection;
use super::frame::{
    self, Hello, MAX_HELLO_FRAME_BYTES, PROTOCOL_VERSION, REFUSED, WELCOME, Welcome,
};
use crate::raft::types::NodeId;

pub async fn dial_loop(peer: NodeId, addr: String, shared: Arc<Shared>) {
    let config = &shared.config;
    let mut backoff = config.reconnect_backoff_min;
    let mut failures = 0u64;
    loop {
        if shared.shutdown.is_cancelled() {
            return;
        }
        match connect(peer, &addr, &shared).await {
            Ok(conn) => {
                tracing::info!(peer, %addr, "raft connection established");
                shared.install(&conn);
                backoff = config.reconnect_backoff_min;
                failures = 0;
                tokio::select! {
                    _ = shared.shutdown.cancelled() => return,
                    _ = conn.closed() => {}
                }
            }
            Err(e) => {
                failures += 1;
                // The first failure after a good spell is news; the retries are not.
                if failures == 1 {
                    tracing::warn!(peer, %addr, error = %e, "raft connection failed; retrying with backoff");
                } else {
                    tracing::debug!(peer, %addr, error = %e, failures, "raft connection failed");
                }
            }
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = next_backoff(backoff, config.reconnect_backoff_max);
    }
}

pub fn next_backoff(current: Duration, max: Duration) -> Duration {
    current.saturating_mul(2).min(max)
}

fn refused(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::ConnectionRefused, msg)
}

/// Connects to `peer` at `addr` and runs the dialer's half of the handshake.
async fn connect(
    peer: NodeId,
    addr: &str,
    shared: &Arc<Shared>,
) -> std::io::Result<Arc<Connection>> {
    let config = &shared.config;
    let mut stream = tokio::time::timeout(config.connect_timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    let read_ahead = tokio::time::timeout(config.handshake_timeout, async {
        let hello = Hello {
            version: PROTOCOL_VERSION,
            node_id: config.node_id,
            target_id: peer,
            cluster_id: config.cluster_id.clone(),
        };
        stream.write_all(&hello.encode()?).await?;
        let mut buf = BytesMut::new();
        let frame = frame::read_frame(&mut stream, &mut buf, MAX_HELLO_FRAME_BYTES)
            .await?
            .ok_or_else(|| refused("closed during the handshake".into()))?;
        match frame.kind {
            WELCOME => {
                let welcome = Welcome::decode(&frame.body)?;
                if welcome.node_id != peer || welcome.cluster_id != config.cluster_id {
                    return Err(refused(format!(
                        "answered as node {} of cluster {:?}, expected node {peer} of {:?}",
                        welcome.node_id, welcome.cluster_id, config.cluster_id
                    )));
                }
                if welcome.version != PROTOCOL_VERSION {
                    return Err(refused(format!(
                        "speaks protocol version {}",
                        welcome.version
                    )));
                }
                Ok(buf)
            }
            REFUSED => Err(refused(format!(
                "refused: {}",
                String::from_utf8_lossy(&frame.body)
            ))),
            other => Err(refused(format!(
                "answered the hello with a frame of kind {other}"
            ))),
        }
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timed out"))??;
    Ok(Connection::spawn(stream, read_ahead, peer, shared))
}
