//! Cluster harness: three real `raftka` processes on free Kafka and Raft ports, each in a
//! temp dir with a TOML config generated like `configs/cluster-node{1,2,3}.toml`. Nodes are
//! killed on drop; every wait is bounded. `main.rs` holds the tests.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

use crate::common::process::Raftka;
use crate::common::{WAIT, free_port};

/// One broker process of the cluster.
pub struct Node {
    pub id: u64,
    pub kafka: SocketAddr,
    process: Raftka,
    dir: tempfile::TempDir,
}

impl Node {
    /// The node's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the process; returns at once (a node answers only once the cluster has formed).
    pub fn spawn(&mut self) {
        self.process.start();
    }

    /// `kill -9`, and reap it.
    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    /// Waits until the node answers ApiVersions; panics with its log's tail otherwise.
    pub fn wait_ready(&mut self) {
        if let Err(e) = self.process.wait_answering(self.kafka) {
            panic!("node {}: {e}", self.id);
        }
    }

    /// The last lines of the node's log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
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
                let config_path = dir.path().join("node.toml");
                std::fs::write(&config_path, config).expect("write config");
                let args = vec!["serve".into(), "--config".into(), config_path.into()];
                Node {
                    id,
                    kafka,
                    process: Raftka::new(args, dir.path().join("node.log")),
                    dir,
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

/// Waits until partition 0 of `topic` has a leader other than `old`, as seen through
/// `bootstrap`.
pub fn wait_for_other_leader(bootstrap: &str, topic: &str, old: u64) {
    metadata_until(bootstrap, Some(topic), WAIT, "a new leader", |m| {
        m.topics().iter().any(|t| {
            t.name() == topic
                && t.partitions()
                    .iter()
                    .any(|p| p.id() == 0 && p.leader() >= 1 && p.leader() as u64 != old)
        })
    });
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
    /// SIGSTOP: the process freezes, its sockets stay open.
    pub fn pause(&self) {
        self.process.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Node::pause`].
    pub fn resume(&self) {
        self.process.signal(libc::SIGCONT);
    }

    /// SIGTERM, then waits (bounded) for a clean exit; panics with the log tail otherwise.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// The directory of this node's replica of `topic`-`partition` (of the one incarnation
    /// of the topic it holds).
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        crate::common::partition_dir(&self.data_dir(), topic, partition).unwrap_or_else(|| {
            panic!(
                "node {}: not exactly one directory of {topic}-{partition}",
                self.id
            )
        })
    }

    /// `raftka dump-log` of this node's replica of `topic`-`partition`.
    pub fn dump_log(&self, topic: &str, partition: i32) -> crate::faults::LogDump {
        crate::faults::dump_log(&self.partition_dir(topic, partition))
    }
}
