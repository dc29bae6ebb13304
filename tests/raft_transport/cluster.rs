//! The harness of the transport tests: three nodes' transports on ephemeral ports, partition
//! groups in temp dirs, and bounded waits for leaders, writes and identical replicas.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use raftka::raft::{
    RaftNode, RaftNodeOptions, RaftNodeSpec, RaftTiming, Transport, TransportConfig, WriteError,
};
use raftka::record::RecordBatch;
use raftka::storage::{LogConfig, StoredEntry};
use raftka::types::KafkaOffset;
use tokio::net::TcpListener;

use crate::common::WAIT;
use crate::common::raft::{encode_batch, records_of};

pub const CLUSTER: &str = "transport-test";
pub const LOG: LogConfig = LogConfig {
    segment_bytes: 4 << 20,
    index_interval_bytes: 4096,
    ..LogConfig::DEFAULT
};
/// Slow enough for two shared cores that are busy building.
pub const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 100,
    election_timeout_min_ms: 1000,
    election_timeout_max_ms: 2000,
};

/// Three (or more) nodes' transports, their addresses, and a data dir per node.
pub struct Cluster {
    pub members: BTreeMap<u64, String>,
    pub transports: BTreeMap<u64, Transport>,
    _root: tempfile::TempDir,
    root: PathBuf,
    max_frame_bytes: u32,
}

pub async fn listeners(n: u64) -> (BTreeMap<u64, String>, Vec<TcpListener>) {
    let mut members = BTreeMap::new();
    let mut bound = Vec::new();
    for id in 1..=n {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        members.insert(id, l.local_addr().expect("addr").to_string());
        bound.push(l);
    }
    (members, bound)
}

pub fn transport_config(
    id: u64,
    cluster: &str,
    members: &BTreeMap<u64, String>,
) -> TransportConfig {
    let mut c = TransportConfig::new(id, cluster, members.clone());
    c.reconnect_backoff_min = Duration::from_millis(20);
    c.reconnect_backoff_max = Duration::from_millis(300);
    c
}

impl Cluster {
    /// Transports for nodes 1..=3, except those in `skip` (started later or never).
    pub async fn start(skip: &[u64], max_frame_bytes: u32) -> Cluster {
        let (members, bound) = listeners(3).await;
        let mut transports = BTreeMap::new();
        for (l, id) in bound.into_iter().zip(1..) {
            if skip.contains(&id) {
                continue;
            }
            let mut config = transport_config(id, CLUSTER, &members);
            config.max_frame_bytes = max_frame_bytes;
            transports.insert(id, Transport::start(config, l).expect("start transport"));
        }
        let root = tempfile::tempdir().expect("tempdir");
        Cluster {
            members,
            transports,
            root: root.path().to_path_buf(),
            _root: root,
            max_frame_bytes,
        }
    }

    /// Starts node `id`'s transport again on its address (after `stop_transport`).
    pub async fn restart_transport(&mut self, id: u64) {
        let mut config = transport_config(id, CLUSTER, &self.members);
        config.max_frame_bytes = self.max_frame_bytes;
        let t = Transport::bind(config).await.expect("rebind transport");
        self.transports.insert(id, t);
    }

    pub fn dir(&self, node: u64, group: &str) -> PathBuf {
        let dir = self.root.join(format!("node{node}")).join(group);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    pub async fn start_group(&self, node: u64, group: &str) -> RaftNode {
        self.start_group_with(node, group, LOG).await
    }

    pub async fn start_group_with(&self, node: u64, group: &str, log: LogConfig) -> RaftNode {
        let spec = RaftNodeSpec {
            node_id: node,
            members: self.members.clone(),
            log,
            name: group.to_string(),
            preferred_leader: None,
        };
        let options = RaftNodeOptions {
            transport: Some(self.transports[&node].clone()),
            timing: TIMING,
        };
        RaftNode::start_with(&self.dir(node, group), spec, options)
            .await
            .expect("start group")
    }

    pub async fn wait_connected(&self) {
        let all: Vec<u64> = self.transports.keys().copied().collect();
        wait_until("every pair connected", || {
            self.transports.iter().all(|(id, t)| {
                t.connected_peers() == all.iter().copied().filter(|p| p != id).collect::<Vec<_>>()
            })
        })
        .await;
    }
}

pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The node all running replicas agree leads, once they do.
pub async fn leader(groups: &BTreeMap<u64, RaftNode>) -> u64 {
    let mut found = None;
    wait_until("one leader all replicas agree on", || {
        let views: Vec<Option<u64>> = groups.values().map(|g| g.leadership().leader).collect();
        found = views[0].filter(|l| groups.contains_key(l) && views.iter().all(|v| *v == Some(*l)));
        found.is_some()
    })
    .await;
    found.unwrap_or_default()
}

/// Writes batches `from..to` through the current leader, 8 at a time, retrying a write that
/// meets a leader change. Returns the high watermark after the last.
pub async fn write(
    groups: &BTreeMap<u64, RaftNode>,
    from: usize,
    to: usize,
    pad: usize,
) -> KafkaOffset {
    let mut hw = KafkaOffset(0);
    let mut answers = futures::stream::iter(from..to)
        .map(|i| async move {
            let mut records = records_of(i);
            if pad > 0 {
                records[0].value = Some(bytes::Bytes::from(vec![b'p'; pad]));
            }
            let batch: RecordBatch = encode_batch(&records);
            for _ in 0..20 {
                let id = leader(groups).await;
                match groups[&id].write(batch.clone()).await {
                    Ok(applied) => return applied.high_watermark,
                    Err(WriteError::NotLeader { .. }) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("write {i}: {e}"),
                }
            }
            panic!("write {i}: no stable leader");
        })
        .buffer_unordered(8);
    while let Some(answer) = answers.next().await {
        hw = hw.max(answer);
    }
    hw
}

/// Waits until every replica applied up to `hw`, then checks that all hold the same entries
/// (index, term, kind, offsets, bytes) over their common range, covering every record entry.
pub async fn assert_identical(groups: &BTreeMap<u64, RaftNode>, hw: KafkaOffset, batches: usize) {
    for (id, g) in groups {
        let mut w = g.high_watermark();
        let reached = tokio::time::timeout(WAIT, w.wait_for(|v| *v >= hw)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "node {id} high watermark {} < {hw}",
            *g.high_watermark().borrow()
        );
    }
    let logs: BTreeMap<u64, Vec<StoredEntry>> = groups
        .iter()
        .map(|(id, g)| (*id, g.reader().log().entries(..).expect("read log")))
        .collect();
    let common = logs.values().map(Vec::len).min().unwrap_or_default();
    let reference = &logs.values().next().expect("a replica")[..common];
    let records: Vec<&StoredEntry> = reference.iter().filter(|e| e.offset_count > 0).collect();
    assert_eq!(records.len(), batches, "record entries in the common range");
    assert_eq!(records.last().map(|e| e.end_offset()), Some(hw));
    for (id, log) in &logs {
        assert!(
            log[..common] == *reference,
            "node {id} differs from the others"
        );
    }
}
