//! The Raft transport: one TCP connection per pair of cluster nodes carries the RPCs of every
//! Raft instance, both ways, pipelined. This file holds the handle, its settings and the tables it
//! shares with its tasks (groups served here, live connections).
//!
//! ```text
//!  group A ─┐ TransportNetwork ──▶ Connection to node 3 ──TCP──▶ node 3: Dispatcher ─▶ raft of A
//!  group B ─┘   (network.rs)          (conn.rs)                      (dispatch.rs)  └▶ raft of B
//! ```
//! - Wire format: `frame.rs` (frames, handshake), `append.rs` (AppendEntries, zero-copy).
//! - Connections: the node with the lower id dials (`peer.rs`, reconnecting with bounded
//!   exponential backoff); the higher id accepts (`server.rs`). The handshake carries cluster id
//!   and both node ids; anything else is refused and logged. Either side sends requests on it.
//! - openraft glue: `network.rs`. A group registers its `Raft` here while it runs; a request for
//!   a group not registered gets an error answer the sender turns into `Unreachable`.

mod append;
mod append_stream;
mod conn;
mod dispatch;
mod forward;
mod frame;
mod network;
mod peer;
mod server;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use conn::CallError;
pub use frame::{MAX_GROUP_BYTES, PROTOCOL_VERSION};
pub use network::TransportNetwork;

use self::conn::Connection;
use super::types::{NodeId, Raft};
use crate::config::Config;

/// Frame size budget besides the largest record batch: headers, entry headers, metadata.
pub const FRAME_SLACK_BYTES: u32 = 64 << 10;
/// Default largest frame: 64 MiB of entries plus headers.
pub const DEFAULT_MAX_FRAME_BYTES: u32 = (64 << 20) + FRAME_SLACK_BYTES;

/// Settings of one node's transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    pub node_id: NodeId,
    /// Both sides of a connection must name the same cluster.
    pub cluster_id: String,
    /// Every cluster node (this one included) and its Raft address; only these may connect.
    pub members: BTreeMap<NodeId, String>,
    /// Largest frame read or written; must exceed the largest record batch by
    /// [`FRAME_SLACK_BYTES`]. Longer AppendEntries requests go out in several frames.
    pub max_frame_bytes: u32,
    pub connect_timeout: Duration,
    /// Time a new connection has to complete the handshake.
    pub handshake_timeout: Duration,
    /// First and longest wait between two connection attempts to a peer (doubling between).
    pub reconnect_backoff_min: Duration,
    pub reconnect_backoff_max: Duration,
    /// Requests queued for writing on one connection before senders wait.
    pub max_queued_frames: usize,
    /// Least time an AppendEntries may wait for its answer before the stream to that follower
    /// is dropped and restarted. openraft suggests 3/4 of a heartbeat, which a loaded follower
    /// often misses; restarting replication then costs far more than waiting. Heartbeats and
    /// votes keep openraft's timeouts, so failure detection is unaffected.
    pub min_append_timeout: Duration,
}

impl TransportConfig {
    /// The largest record batch a frame of this transport carries.
    pub fn largest_batch_bytes(&self) -> u32 {
        self.max_frame_bytes - FRAME_SLACK_BYTES
    }

    /// Defaults for everything but identity and membership.
    pub fn new(node_id: NodeId, cluster_id: &str, members: BTreeMap<NodeId, String>) -> Self {
        TransportConfig {
            node_id,
            cluster_id: cluster_id.to_string(),
            members,
            max_frame_bytes: DEFAULT_MAX_FRAME_BYTES,
            connect_timeout: Duration::from_secs(1),
            handshake_timeout: Duration::from_secs(2),
            reconnect_backoff_min: Duration::from_millis(20),
            reconnect_backoff_max: Duration::from_secs(1),
            max_queued_frames: 1024,
            min_append_timeout: Duration::from_secs(1),
        }
    }

    /// From the broker's settings: `node.id`, `cluster.id`, `cluster.initial_members` (member i,
    /// from 1, is node i; a node without `cluster.enabled` is a cluster of itself), and a frame
    /// limit that fits the largest batch (`message.max.bytes`).
    pub fn from_config(config: &Config) -> Self {
        let c = &config.cluster;
        let members = if c.enabled {
            c.initial_members
                .iter()
                .enumerate()
                .map(|(i, addr)| (i as NodeId + 1, addr.clone()))
                .collect()
        } else {
            BTreeMap::from([(config.node_id, c.raft_address.clone())])
        };
        let mut out = TransportConfig::new(config.node_id, &config.cluster_id, members);
        out.max_frame_bytes =
            DEFAULT_MAX_FRAME_BYTES.max(config.message_max_bytes.saturating_add(FRAME_SLACK_BYTES));
        out
    }
}

/// A node's Raft transport. Cheap to clone; [`Transport::shutdown`] stops it for every clone.
#[derive(Clone)]
pub struct Transport {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("node_id", &self.shared.config.node_id)
            .field("local_addr", &self.shared.local_addr)
            .finish()
    }
}

/// A group's entry in the table of groups this node serves, removed when dropped.
pub struct Registration {
    shared: Arc<Shared>,
    name: String,
    serial: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut groups = self.shared.groups_mut();
        if groups.get(&self.name).is_some_and(|g| g.1 == self.serial) {
            groups.remove(&self.name);
        }
    }
}

impl Transport {
    /// Binds the Raft listener at this node's address in `config.members` and starts.
    pub async fn bind(config: TransportConfig) -> std::io::Result<Transport> {
        let addr = config.members.get(&config.node_id).ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("node {} is not in the member list", config.node_id),
            )
        })?;
        let listener = TcpListener::bind(addr.as_str()).await?;
        Transport::start(config, listener)
    }

    /// Starts on a bound listener: accepts members with lower ids and dials those with higher
    /// ids. Must run inside a tokio runtime.
    pub fn start(config: TransportConfig, listener: TcpListener) -> std::io::Result<Transport> {
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            config,
            local_addr,
            shutdown: CancellationToken::new(),
            groups: RwLock::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
            serial: AtomicU64::new(1),
        });
        tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        for (&peer, addr) in &shared.config.members {
            if peer > shared.config.node_id {
                tokio::spawn(peer::dial_loop(peer, addr.clone(), Arc::clone(&shared)));
            }
        }
        tracing::info!(node = shared.config.node_id, addr = %local_addr, "raft transport started");
        Ok(Transport { shared })
    }

    pub fn node_id(&self) -> NodeId {
        self.shared.config.node_id
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    pub fn config(&self) -> &TransportConfig {
        &self.shared.config
    }

    /// Peers with an established connection right now, ascending.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        let mut peers: Vec<NodeId> = self
            .shared
            .links()
            .values()
            .filter(|c| !c.is_closed())
            .map(|c| c.peer)
            .collect();
        peers.sort_unstable();
        peers
    }

    /// The openraft network of group `name` over this transport.
    pub fn network(&self, name: &str) -> TransportNetwork {
        TransportNetwork::new(Arc::clone(&self.shared), name)
    }

    /// Serves requests for group `name` with `raft` until the registration is dropped. A
    /// second registration of the same name replaces the first.
    pub fn register(&self, name: &str, raft: Raft) -> Registration {
        let serial = self.shared.next_serial();
        let old = self
            .shared
            .groups_mut()
            .insert(name.to_string(), (raft, serial));
        if old.is_some() {
            tracing::warn!(
                group = name,
                "raft instance registered twice; the newer one serves"
            );
        }
        Registration {
            shared: Arc::clone(&self.shared),
            name: name.to_string(),
            serial,
        }
    }

    /// Closes the listener and every connection and stops dialing. Groups still running see
    /// their peers as unreachable.
    pub fn shutdown(&self) {
        self.shared.shutdown.cancel();
        let links: Vec<Arc<Connection>> = self.shared.links().drain().map(|(_, c)| c).collect();
        for conn in links {
            conn.close();
        }
    }
}

/// What the transport's tasks share.
pub(crate) struct Shared {
    config: TransportConfig,
    local_addr: SocketAddr,
    shutdown: CancellationToken,
    /// Groups served here: name -> (raft, registration serial).
    groups: RwLock<HashMap<String, (Raft, u64)>>,
    /// The live connection to each peer.
    links: Mutex<HashMap<NodeId, Arc<Connection>>>,
    serial: AtomicU64,
}

impl Shared {
    fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    fn groups_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (Raft, u64)>> {
        self.groups.write().unwrap_or_else(|e| e.into_inner())
    }

    fn links(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Arc<Connection>>> {
        self.links.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The group registered as `name` and its registration serial.
    fn group(&self, name: &str) -> Option<(Raft, u64)> {
        self.groups
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn is_registered(&self, name: &str, serial: u64) -> bool {
        self.groups
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .is_some_and(|g| g.1 == serial)
    }

    /// The open connection to `peer`, if any.
    fn link(&self, peer: NodeId) -> Option<Arc<Connection>> {
        self.links().get(&peer).filter(|c| !c.is_closed()).cloned()
    }

    /// Makes `conn` the connection to its peer, closing the one it replaces.
    fn install(&self, conn: &Arc<Connection>) {
        if self.shutdown.is_cancelled() {
            conn.close();
            return;
        }
        if let Some(old) = self.links().insert(conn.peer, Arc::clone(conn)) {
            old.close();
        }
    }

    /// Drops `conn` from the table unless a newer connection replaced it already.
    fn forget(&self, conn: &Connection) {
        let mut links = self.links();
        if links
            .get(&conn.peer)
            .is_some_and(|c| c.serial == conn.serial)
        {
            links.remove(&conn.peer);
        }
    }
}
