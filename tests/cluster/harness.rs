//! Cluster harness: three real `raftka` processes on ephemeral Kafka and Raft ports, each in a
//! temp dir with a TOML config generated like `configs/cluster-node{1,2,3}.toml`. Nodes are
//! killed on drop; every wait is bounded. `main.rs` holds the tests.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

/// Bound on each node's start-up and on single client calls.
pub const WAIT: Duration = Duration::from_secs(30);

pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// One broker process of the cluster.
pub struct Node {
    pub id: u64,
    pub kafka: SocketAddr,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl Node {
    fn config_path(&self) -> PathBuf {
        self.dir.path().join("node.toml")
    }

    /// The node's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("node.log")
    }

    /// Starts the process; returns at once (a node answers only once the cluster has formed).
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open node log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftka"));
        cmd.arg("serve")
            .arg("--config")
            .arg(self.config_path())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars() {
            if name.starts_with("RAFTKA_") {
                cmd.env_remove(name);
            }
        }
        self.child = Some(cmd.spawn().expect("spawn raftka"));
    }

    /// `kill -9`, and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the node answers ApiVersions; panics with its log's tail otherwise.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "node {} exited with {status}:\n{}",
                    self.id,
                    self.log_tail()
                );
            }
            if answers(self.kafka) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node {} did not answer on {} within {WAIT:?}:\n{}",
            self.id,
            self.kafka,
            self.log_tail()
        );
    }

    /// The last lines of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// An ApiVersions v0 round trip on `addr`.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // size 14 | api_key 18 | version 0 | correlation_id 1 | client_id "" (i16 length 0)
    let request: [u8; 14] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0];
    if s.write_all(&request).is_err() {
        return false;
    }
    let mut size = [0u8; 4];
    s.read_exact(&mut size).is_ok()
}

/// A port free when asked, below the kernel's ephemeral range (Linux: from 32768). A port the
/// kernel hands out for `:0` can be taken as the local port of some outgoing connection (a
/// client, a Raft link) before its node binds it; ports below that range are only ever taken
/// by a bind. Each call in this process gets a new one.
fn free_port() -> u16 {
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(LAST - FIRST);
    // Test binaries run one after another, but start each run elsewhere in the range anyway.
    let _ = NEXT.compare_exchange(
        0,
        std::process::id() % span + 1,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let taken = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (taken % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{LAST}");
}

pub struct Cluster {
    pub nodes: Vec<Node>,
}

impl Cluster {
    /// Three nodes, started in the order `order` (node ids), waited for until each answers.
    pub fn start(order: &[u64]) -> Cluster {
        Cluster::start_with(order, "")
    }

    /// As [`Cluster::start`], with `settings` (TOML lines) added to the top level of each
    /// node's config.
    pub fn start_with(order: &[u64], settings: &str) -> Cluster {
        Cluster::start_with_links(order, settings, |_, _, raft| raft, |_, kafka| kafka)
    }

    /// As [`Cluster::start_with`], but node `from` is told to reach node `to` at
    /// `link(from, to, raft address of to)`, and node `id` advertises its Kafka listener as
    /// `advertise(id, kafka address)` (proxies, say).
    pub fn start_with_links(
        order: &[u64],
        settings: &str,
        link: impl Fn(u64, u64, SocketAddr) -> SocketAddr,
        advertise: impl Fn(u64, SocketAddr) -> SocketAddr,
    ) -> Cluster {
        let raft_addrs: Vec<SocketAddr> = (0..3)
            .map(|_| SocketAddr::from(([127, 0, 0, 1], free_port())))
            .collect();
        let mut nodes: Vec<Node> = (1..=3u64)
            .map(|id| {
                let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()));
                let dir = tempfile::tempdir().expect("temp dir");
                let raft = raft_addrs[id as usize - 1];
                let members: Vec<String> = (1..=3u64)
                    .zip(&raft_addrs)
                    .map(|(to, addr)| if to == id { *addr } else { link(id, to, *addr) })
                    .map(|addr| format!("\"{addr}\""))
                    .collect();
                let config = format!(
                    "\"node.id\" = {id}\n\
                     listeners = \"PLAINTEXT://{kafka}\"\n\
                     \"advertised.listeners\" = \"PLAINTEXT://{advertised}\"\n\
                     \"log.dirs\" = \"{data}\"\n\
                     \"default.replication.factor\" = 3\n\
                     \"log.segment.bytes\" = 8388608\n\
                     {settings}\n\
                     [cluster]\n\
                     enabled = true\n\
                     raft_address = \"{raft}\"\n\
                     initial_members = [{members}]\n",
                    data = dir.path().join("data").display(),
                    members = members.join(", "),
                    advertised = advertise(id, kafka),
                );
                std::fs::write(dir.path().join("node.toml"), config).expect("write config");
                Node {
                    id,
                    kafka,
                    dir,
                    child: None,
                }
            })
            .collect();
        for id in order {
            tracing::info!(node = id, "starting");
            nodes[*id as usize - 1].spawn();
            std::thread::sleep(Duration::from_millis(200));
        }
        for node in &mut nodes {
            node.wait_ready();
        }
        Cluster { nodes }
    }

    pub fn node(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[id as usize - 1]
    }

    pub fn addr(&self, id: u64) -> SocketAddr {
        self.nodes[id as usize - 1].kafka
    }

    /// Comma-separated Kafka addresses of `ids`, for `bootstrap.servers`.
    pub fn bootstrap(&self, ids: &[u64]) -> String {
        ids.iter()
            .map(|id| self.addr(*id).to_string())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Client settings every test shares, bootstrapped at `bootstrap`.
pub fn client_config(bootstrap: &str, extra: &[(&str, &str)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("socket.timeout.ms", "10000")
        .set("topic.metadata.refresh.interval.ms", "500");
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config
}

/// A consumer that reads what it is assigned and never commits.
pub fn consumer(bootstrap: &str) -> BaseConsumer {
    client_config(
        bootstrap,
        &[
            ("group.id", "raftka-cluster-tests"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
        ],
    )
    .create()
    .expect("create consumer")
}

/// Metadata through `bootstrap` until `ok` holds for it, at most `within`.
pub fn metadata_until(
    bootstrap: &str,
    topic: Option<&str>,
    within: Duration,
    what: &str,
    ok: impl Fn(&Metadata) -> bool,
) -> Metadata {
    let client = consumer(bootstrap);
    let deadline = Instant::now() + within;
    loop {
        if let Ok(metadata) = client.fetch_metadata(topic, Duration::from_secs(5))
            && ok(&metadata)
        {
            return metadata;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not seen through {bootstrap} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The leader of every partition of `topic`, once each has one.
pub fn leaders(bootstrap: &str, topic: &str, within: Duration) -> Vec<i32> {
    let metadata = metadata_until(bootstrap, Some(topic), within, "partition leaders", |m| {
        m.topics().iter().any(|t| {
            t.name() == topic
                && !t.partitions().is_empty()
                && t.partitions().iter().all(|p| p.leader() >= 1)
        })
    });
    let topic = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .expect("topic in metadata");
    let mut partitions: Vec<(i32, i32)> = topic
        .partitions()
        .iter()
        .map(|p| (p.id(), p.leader()))
        .collect();
    partitions.sort_unstable();
    partitions.into_iter().map(|(_, leader)| leader).collect()
}

/// Signals, graceful stops and log dumps, for the fault tests. A node stopped with
/// [`Node::pause`] is still killed by `Drop` (SIGKILL ends a stopped process too).
impl Node {
    fn signal(&self, signal: libc::c_int) {
        let child = self.child.as_ref().expect("node is running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: a plain syscall on the pid of a child this node has not reaped yet.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// SIGSTOP: the process freezes, its sockets stay open.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Node::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    /// SIGTERM, then waits (bounded) for a clean exit; panics with the log tail otherwise.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: a plain syscall on the pid of a child not reaped yet.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                assert!(
                    status.success(),
                    "node {} exited with {status}:\n{}",
                    self.id,
                    self.log_tail()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "node {} did not stop within {WAIT:?} of SIGTERM:\n{}",
            self.id,
            self.log_tail()
        );
    }

    /// `raftka dump-log` of this node's replica of `topic`-`partition`.
    pub fn dump_log(&self, topic: &str, partition: i32) -> crate::faults::LogDump {
        crate::faults::dump_log(&self.data_dir().join(format!("{topic}-{partition}")))
    }
}
