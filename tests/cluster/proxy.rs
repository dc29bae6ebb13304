//! An in-process TCP proxy for the Raft link of one node pair, which a test can cut and heal.
//! `Links` puts one in front of every link of a three-node cluster (`Cluster::start_with_links`);
//! since the lower node id dials, node `a < b` reaches `b` through the proxy of `(a, b)`.
//! Each node's advertised Kafka listener goes through a proxy too (clients bootstrapped at a
//! node's real address reach the others only through their proxies): cutting a node off cuts
//! clients from it as well, but for a client that connected to its real address.
//! Cutting closes the link's connections and turns new ones away (accepted, then closed at once,
//! so the dialer sees a failed handshake and retries with backoff).

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::Cluster;

#[derive(Default)]
struct LinkState {
    cut: AtomicBool,
    closed: AtomicBool,
    /// Both ends of every live connection, for cutting.
    streams: Mutex<Vec<TcpStream>>,
}

impl LinkState {
    fn drop_connections(&self) {
        let streams = std::mem::take(&mut *self.streams.lock().unwrap_or_else(|e| e.into_inner()));
        for s in streams {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// The proxy in front of the link from node `from` to node `to` (`from == to`: Kafka clients
/// to node `to`).
pub struct Link {
    pub from: u64,
    pub to: u64,
    pub listen: SocketAddr,
    state: Arc<LinkState>,
}

impl Link {
    fn start(from: u64, to: u64, target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let listen = listener.local_addr().expect("proxy address");
        let state = Arc::new(LinkState::default());
        let accept_state = Arc::clone(&state);
        std::thread::spawn(move || accept_loop(listener, target, accept_state));
        Link {
            from,
            to,
            listen,
            state,
        }
    }

    pub fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        self.state.drop_connections();
    }

    pub fn heal(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::SeqCst);
        self.state.drop_connections();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect_timeout(&self.listen, Duration::from_millis(200));
    }
}

fn accept_loop(listener: TcpListener, target: SocketAddr, state: Arc<LinkState>) {
    for incoming in listener.incoming() {
        if state.closed.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = incoming else { continue };
        if state.cut.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(c2), Ok(s2), Ok(c3), Ok(s3)) = (
            client.try_clone(),
            server.try_clone(),
            client.try_clone(),
            server.try_clone(),
        ) else {
            continue;
        };
        {
            let mut streams = state.streams.lock().unwrap_or_else(|e| e.into_inner());
            streams.retain(|s| s.peer_addr().is_ok());
            streams.extend([c3, s3]);
        }
        // A cut between the check above and the registration: close this one too.
        if state.cut.load(Ordering::SeqCst) {
            state.drop_connections();
        }
        std::thread::spawn(move || pump(client, s2));
        std::thread::spawn(move || pump(server, c2));
    }
}

/// Copies `from` to `to` until either side closes, then closes both.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

/// A proxy on every dialled link of a three-node cluster.
pub struct Links {
    links: Vec<Link>,
}

impl Links {
    /// Starts the cluster with every Raft link through a proxy.
    pub fn start_cluster(order: &[u64]) -> (Cluster, Links) {
        let links = Mutex::new(Vec::new());
        let proxy = |from: u64, to: u64, target: SocketAddr| {
            let link = Link::start(from, to, target);
            let listen = link.listen;
            links.lock().unwrap_or_else(|e| e.into_inner()).push(link);
            listen
        };
        let cluster = Cluster::start_with_links(
            order,
            "",
            |from, to, target| {
                // The lower id dials; the other direction is never used.
                if from < to {
                    proxy(from, to, target)
                } else {
                    target
                }
            },
            |id, kafka| proxy(id, id, kafka),
        );
        let links = links.into_inner().unwrap_or_else(|e| e.into_inner());
        (cluster, Links { links })
    }

    /// Cuts every link of `node`, its Kafka proxy included: it is alone, the other two still
    /// talk.
    pub fn isolate(&self, node: u64) {
        for link in self.links.iter().filter(|l| l.from == node || l.to == node) {
            link.cut();
        }
    }

    pub fn heal_all(&self) {
        for link in &self.links {
            link.heal();
        }
    }
}
