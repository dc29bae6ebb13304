//! Broker processes for the cluster measurements: a single node or three `raftka serve
//! --config` processes from generated TOML configs (like `tests/cluster/harness.rs`), on
//! ephemeral ports, in one temp dir. Dropping [`Nodes`] kills every process (`kill -9`), copies
//! the node logs out if asked, and removes the temp dir.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::metadata::Metadata;

/// How to start the brokers, shared by the cluster subcommands.
#[derive(Args, Clone, Debug)]
pub struct NodeOpts {
    /// The `raftka` binary; default: next to this example's executable (`target/release/`).
    #[arg(long)]
    pub raftka: Option<PathBuf>,
    /// `log.segment.bytes` of every node: each partition preallocates one whole segment.
    #[arg(long, default_value_t = 64 << 20)]
    pub segment_bytes: u64,
    /// `cluster.rtt_ms`.
    #[arg(long, default_value_t = 50)]
    pub rtt_ms: u64,
    /// `cluster.election_rtt` (the broker's default): elections after rtt_ms × election_rtt
    /// to 1.5 times that.
    #[arg(long, default_value_t = 4)]
    pub election_rtt: u64,
    /// `cluster.heartbeat_rtt`.
    #[arg(long, default_value_t = 1)]
    pub heartbeat_rtt: u64,
    /// Extra top-level config lines for every node, e.g. `--set '"log.level" = "debug"'`.
    #[arg(long = "set")]
    pub settings: Vec<String>,
    /// Where the temp dir goes (default: the system temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
    /// Copy each node's log here (as `<label>-node<id>.log`) before the temp dir is removed.
    #[arg(long)]
    pub keep_logs: Option<PathBuf>,
}

impl NodeOpts {
    pub fn binary(&self) -> anyhow::Result<PathBuf> {
        let path = match &self.raftka {
            Some(p) => p.clone(),
            None => {
                // target/release/examples/loadgen -> target/release/raftka
                let exe = std::env::current_exe()?;
                let dir = exe
                    .parent()
                    .and_then(Path::parent)
                    .ok_or_else(|| anyhow::anyhow!("no directory above {}", exe.display()))?;
                dir.join("raftka")
            }
        };
        anyhow::ensure!(
            path.is_file(),
            "no raftka binary at {} (build it with `cargo build --release`, or pass --raftka)",
            path.display()
        );
        Ok(path)
    }

    /// The settings line-up, for the printed header.
    pub fn describe(&self) -> String {
        format!(
            "rtt_ms={} election_rtt={} heartbeat_rtt={} (elections after {}-{} ms), log.segment.bytes={}{}",
            self.rtt_ms,
            self.election_rtt,
            self.heartbeat_rtt,
            self.rtt_ms * self.election_rtt,
            3 * self.rtt_ms * self.election_rtt / 2,
            self.segment_bytes,
            if self.settings.is_empty() {
                String::new()
            } else {
                format!(", {}", self.settings.join(", "))
            }
        )
    }
}

pub struct Node {
    pub id: u64,
    pub kafka: SocketAddr,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("node.log")
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// A single node or a three-node cluster, and the temp dir they live in.
pub struct Nodes {
    pub label: String,
    binary: PathBuf,
    keep_logs: Option<PathBuf>,
    pub nodes: Vec<Node>,
    // Last: removed after the processes are gone.
    _root: tempfile::TempDir,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(to) = &self.keep_logs {
            let _ = std::fs::create_dir_all(to);
            for node in &self.nodes {
                let dest = to.join(format!("{}-node{}.log", self.label, node.id));
                let _ = std::fs::copy(node.log_path(), dest);
            }
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// An ApiVersions v0 round trip on `addr`.
fn answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // size 10 | api_key 18 | version 0 | correlation_id 1 | client_id "" (i16 length 0)
    let request: [u8; 14] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0];
    if s.write_all(&request).is_err() {
        return false;
    }
    let mut size = [0u8; 4];
    s.read_exact(&mut size).is_ok()
}

impl Nodes {
    /// One node, `cluster.enabled = false` (the baseline).
    pub fn single(opts: &NodeOpts, label: &str) -> anyhow::Result<Nodes> {
        Nodes::start(opts, label, 1)
    }

    /// Three nodes, `default.replication.factor = 3`.
    pub fn cluster(opts: &NodeOpts, label: &str) -> anyhow::Result<Nodes> {
        Nodes::start(opts, label, 3)
    }

    fn start(opts: &NodeOpts, label: &str, count: u64) -> anyhow::Result<Nodes> {
        let binary = opts.binary()?;
        let root = match &opts.work_dir {
            Some(dir) => tempfile::Builder::new()
                .prefix("raftka-load-")
                .tempdir_in(dir)?,
            None => tempfile::Builder::new().prefix("raftka-load-").tempdir()?,
        };
        let raft: Vec<SocketAddr> = (0..count)
            .map(|_| Ok(SocketAddr::from(([127, 0, 0, 1], free_port()?))))
            .collect::<anyhow::Result<_>>()?;
        let members: Vec<String> = raft.iter().map(|a| format!("\"{a}\"")).collect();
        let mut nodes = Vec::new();
        for id in 1..=count {
            let kafka = SocketAddr::from(([127, 0, 0, 1], free_port()?));
            let dir = root.path().join(format!("node{id}"));
            std::fs::create_dir_all(&dir)?;
            let mut config = format!(
                "\"node.id\" = {id}\n\
                 listeners = \"PLAINTEXT://{kafka}\"\n\
                 \"log.dirs\" = \"{data}\"\n\
                 \"log.segment.bytes\" = {segment}\n\
                 \"default.replication.factor\" = {count}\n",
                data = dir.join("data").display(),
                segment = opts.segment_bytes,
            );
            for line in &opts.settings {
                config.push_str(line);
                config.push('\n');
            }
            if count > 1 {
                config.push_str(&format!(
                    "[cluster]\n\
                     enabled = true\n\
                     raft_address = \"{raft}\"\n\
                     initial_members = [{members}]\n\
                     rtt_ms = {rtt}\n\
                     election_rtt = {election}\n\
                     heartbeat_rtt = {heartbeat}\n",
                    raft = raft[id as usize - 1],
                    members = members.join(", "),
                    rtt = opts.rtt_ms,
                    election = opts.election_rtt,
                    heartbeat = opts.heartbeat_rtt,
                ));
            }
            std::fs::write(dir.join("node.toml"), config)?;
            nodes.push(Node {
                id,
                kafka,
                dir,
                child: None,
            });
        }
        let mut this = Nodes {
            label: label.to_string(),
            binary,
            keep_logs: opts.keep_logs.clone(),
            nodes,
            _root: root,
        };
        for id in 1..=count {
            this.spawn(id)?;
        }
        for id in 1..=count {
            this.wait_ready(id)?;
        }
        Ok(this)
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[id as usize - 1]
    }

    /// Comma-separated Kafka addresses of the running nodes other than `except`.
    pub fn bootstrap_except(&self, except: Option<u64>) -> String {
        self.nodes
            .iter()
            .filter(|n| Some(n.id) != except && n.is_running())
            .map(|n| n.kafka.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn bootstrap(&self) -> String {
        self.bootstrap_except(None)
    }

    /// Starts node `id`; returns at once.
    pub fn spawn(&mut self, id: u64) -> anyhow::Result<()> {
        let binary = self.binary.clone();
        let node = &mut self.nodes[id as usize - 1];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())?;
        let mut cmd = Command::new(binary);
        cmd.arg("serve")
            .arg("--config")
            .arg(node.dir.join("node.toml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        for (name, _) in std::env::vars() {
            if name.starts_with("RAFTKA_") || name == "RUST_LOG" {
                cmd.env_remove(name);
            }
        }
        node.child = Some(cmd.spawn()?);
        Ok(())
    }

    /// Until node `id` answers ApiVersions (at most 60 s).
    pub fn wait_ready(&mut self, id: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let node = &mut self.nodes[id as usize - 1];
        while Instant::now() < deadline {
            if let Some(Ok(Some(status))) = node.child.as_mut().map(Child::try_wait) {
                anyhow::bail!("node {id} exited with {status}:\n{}", log_tail(node));
            }
            if answers(node.kafka) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!(
            "node {id} did not answer on {} within 60 s:\n{}",
            node.kafka,
            log_tail(node)
        )
    }

    /// `kill -9` of node `id`; returns the moment the signal was sent (the process is reaped
    /// afterwards).
    pub fn kill9(&mut self, id: u64) -> anyhow::Result<Instant> {
        let node = &mut self.nodes[id as usize - 1];
        let mut child = node
            .child
            .take()
            .ok_or_else(|| anyhow::anyhow!("node {id} is not running"))?;
        let pid = libc::pid_t::try_from(child.id())?;
        let at = Instant::now();
        // SAFETY: a plain syscall on the pid of a child not reaped yet.
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        anyhow::ensure!(rc == 0, "kill -9 {pid} failed");
        child.wait()?;
        Ok(at)
    }

    /// Process figures of node `id` from `/proc`, if it runs.
    pub fn proc_stats(&self, id: u64) -> Option<ProcStats> {
        let pid = self.node(id).child.as_ref()?.id();
        ProcStats::read(pid)
    }

    /// CPU seconds (user + system) all running nodes have used so far.
    pub fn cpu_seconds(&self) -> f64 {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref())
            .filter_map(|c| std::fs::read_to_string(format!("/proc/{}/stat", c.id())).ok())
            .filter_map(|stat| {
                // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
                let rest = stat.rsplit_once(')')?.1;
                let f: Vec<&str> = rest.split_whitespace().collect();
                Some(f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?)
            })
            .sum::<f64>()
            / ticks
    }

    /// Size of node `id`'s log now: a mark for [`Nodes::log_lines_since`].
    pub fn log_mark(&self, id: u64) -> u64 {
        std::fs::metadata(self.node(id).log_path()).map_or(0, |m| m.len())
    }

    /// The log lines of node `id` written after `mark` that contain `pattern`.
    pub fn log_lines_since(&self, id: u64, mark: u64, pattern: &str) -> Vec<String> {
        let text = std::fs::read(self.node(id).log_path()).unwrap_or_default();
        let from = (mark as usize).min(text.len());
        String::from_utf8_lossy(&text[from..])
            .lines()
            .filter(|l| l.contains(pattern))
            .map(str::to_string)
            .collect()
    }

    /// `raftka dump-log` of node `id`'s replica of `topic`-`partition`: its next offset.
    pub fn next_offset(&self, id: u64, topic: &str, partition: i32) -> anyhow::Result<i64> {
        // `<topic>-<partition>.<topic id>`: the one incarnation of the topic the node holds.
        let prefix = format!("{topic}-{partition}.");
        let dir = std::fs::read_dir(self.node(id).data_dir())?
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with(&prefix))
            .map(|e| e.path())
            .ok_or_else(|| anyhow::anyhow!("node {id}: no directory of {topic}-{partition}"))?;
        let out = Command::new(&self.binary)
            .arg("dump-log")
            .arg(&dir)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "dump-log {}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let header = text.lines().next().unwrap_or_default();
        header
            .split(' ')
            .find_map(|t| t.strip_prefix("next_offset="))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("no next_offset in {header:?}"))
    }
}

/// One process's CPU time, threads and resident memory, from `/proc/<pid>/{stat,status}`.
#[derive(Debug, Clone, Copy)]
pub struct ProcStats {
    pub cpu_seconds: f64,
    pub threads: u64,
    pub rss_mib: f64,
}

impl ProcStats {
    pub fn read(pid: u32) -> Option<ProcStats> {
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let cpu = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        };
        Some(ProcStats {
            cpu_seconds: cpu / ticks,
            threads: field("Threads:")?,
            rss_mib: field("VmRSS:")? as f64 / 1024.0,
        })
    }
}

fn log_tail(node: &Node) -> String {
    let text = std::fs::read_to_string(node.log_path()).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A plain client for Metadata and ListOffsets.
pub fn metadata_client(bootstrap: &str) -> anyhow::Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "loadgen-metadata")
        .set("enable.auto.commit", "false")
        .set("socket.timeout.ms", "5000")
        .set("reconnect.backoff.max.ms", "200")
        .create()?)
}

/// One partition as Metadata shows it: (leader, replicas, isr).
pub type PartitionView = (i32, Vec<i32>, Vec<i32>);

/// Per partition of `topic` (by id). Empty if the topic is unknown.
pub fn partitions(metadata: &Metadata, topic: &str) -> Vec<PartitionView> {
    let mut out: Vec<(i32, i32, Vec<i32>, Vec<i32>)> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions())
        .map(|p| (p.id(), p.leader(), p.replicas().to_vec(), p.isr().to_vec()))
        .collect();
    out.sort_unstable_by_key(|p| p.0);
    out.into_iter().map(|(_, l, r, i)| (l, r, i)).collect()
}

/// Polls Metadata of `topic` until `ok` holds for its partitions (at most `within`).
pub fn wait_partitions(
    client: &BaseConsumer,
    topic: &str,
    within: Duration,
    what: &str,
    ok: impl Fn(&[PartitionView]) -> bool,
) -> anyhow::Result<Vec<PartitionView>> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(m) = client.fetch_metadata(Some(topic), Duration::from_secs(2)) {
            let parts = partitions(&m, topic);
            if !parts.is_empty() && ok(&parts) {
                return Ok(parts);
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
