//! The Kafka listener: binds every configured listener, accepts up to `max.connections` (and up
//! to `max.connections.per.ip` from one client address), one task per connection, and on
//! shutdown stops accepting and waits for connections to drain.
//! `connection.rs` serves each connection.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use super::budget::RequestBudget;
use super::connection::{self, ConnectionLimits};
use super::context::BrokerContext;
use crate::config::{self, Config};

/// How long shutdown waits for connections to finish what is in flight.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    listeners: Vec<TcpListener>,
    limits: ConnectionLimits,
    max_connections: usize,
    max_connections_per_ip: usize,
}

/// Connections held per client address, across every listener (`max.connections.per.ip`).
struct PerIp {
    held: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

impl PerIp {
    /// Counts a connection from `ip`, unless that address holds the most it may.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let count = held.entry(ip).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            per_ip: Arc::clone(self),
            ip,
        })
    }
}

/// One counted connection of an address; dropping it frees the slot.
struct IpSlot {
    per_ip: Arc<PerIp>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut held = self.per_ip.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = held.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

impl Server {
    /// Binds every entry of `listeners`; fails if any cannot be bound.
    pub async fn bind(config: Arc<Config>) -> anyhow::Result<Server> {
        let mut listeners = Vec::new();
        for l in &config.listeners {
            let addr = config::bind_address(l)?;
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot bind listener {l}: {e}"))?;
            listeners.push(listener);
        }
        let max_frame_bytes = config.socket_request_max_bytes;
        let limits = ConnectionLimits {
            max_frame_bytes,
            max_in_flight: config.max_in_flight_requests as usize,
            // One maximum frame plus its decode budget: a connection never holds more than two
            // maximum frames' worth of requests, however many it pipelines.
            max_in_flight_bytes: 2 * max_frame_bytes as usize,
            idle: Duration::from_millis(config.connections_max_idle_ms),
            budget: usize::try_from(config.queued_max_request_bytes)
                .ok()
                .filter(|_| config.queued_max_request_bytes > 0)
                .map(|limit| Arc::new(RequestBudget::new(limit))),
        };
        Ok(Server {
            listeners,
            limits,
            max_connections: config.max_connections as usize,
            max_connections_per_ip: config.max_connections_per_ip as usize,
        })
    }

    /// Where the listeners are bound (in `listeners` order).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Serves until `shutdown` completes, then drains connections (bounded by [`DRAIN_TIMEOUT`]).
    pub async fn run(self, context: Arc<BrokerContext>, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let per_ip = Arc::new(PerIp {
            held: Mutex::default(),
            max: self.max_connections_per_ip,
        });
        let next_conn = Arc::new(AtomicU64::new(1));
        let mut accept_loops = JoinSet::new();
        for (listener, advertised) in self.listeners.into_iter().zip(context.advertised.clone()) {
            info!(bound = ?listener.local_addr().ok(), %advertised, "listening");
            accept_loops.spawn(accept_loop(
                listener,
                context.clone(),
                self.limits.clone(),
                permits.clone(),
                per_ip.clone(),
                next_conn.clone(),
                stop_rx.clone(),
            ));
        }
        shutdown.await;
        info!("shutting down: no new connections, answering what is in flight");
        let _ = stop_tx.send(true);
        while accept_loops.join_next().await.is_some() {}
        info!("all connections closed");
    }
}

async fn accept_loop(
    listener: TcpListener,
    context: Arc<BrokerContext>,
    limits: ConnectionLimits,
    permits: Arc<Semaphore>,
    per_ip: Arc<PerIp>,
    next_conn: Arc<AtomicU64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        let permit = tokio::select! {
            _ = stop.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                let Some(slot) = per_ip.admit(peer.ip()) else {
                    info!(%peer, "closing a connection over max.connections.per.ip");
                    drop(stream);
                    continue;
                };
                let conn = next_conn.fetch_add(1, Ordering::Relaxed);
                let (context, stop, limits) = (context.clone(), stop.clone(), limits.clone());
                connections.spawn(async move {
                    connection::serve(stream, conn, context, limits, stop).await;
                    drop(slot);
                    drop(permit);
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            remaining = connections.len(),
            "drain timed out; dropping connections"
        );
        connections.abort_all();
    }
}
