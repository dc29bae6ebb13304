//! Partition groups of three nodes over the Raft transport: real TCP on 127.0.0.1 ephemeral
//! ports, real segment files in temp dirs, one test process. Elections, replication of real
//! RecordBatches (identical bytes at identical offsets on every replica), two groups on the same
//! connections, failover, catch-up after a restart, and strangers or garbage on the Raft port.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use common::{encode_batch, records_of};
use futures::StreamExt;
use raftka::raft::transport::DEFAULT_MAX_FRAME_BYTES;
use raftka::raft::{
    GroupOptions, GroupSpec, PartitionGroup, RaftTiming, RecordBatch, Transport, TransportConfig,
    WriteError,
};
use raftka::storage::{LogConfig, RetentionPolicy, StoredEntry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CLUSTER: &str = "transport-test";
const WAIT: Duration = Duration::from_secs(30);
const LOG: LogConfig = LogConfig {
    segment_bytes: 4 << 20,
    index_interval_bytes: 4096,
};
/// Slow enough for two shared cores that are busy building.
const TIMING: RaftTiming = RaftTiming {
    heartbeat_ms: 100,
    election_timeout_min_ms: 1000,
    election_timeout_max_ms: 2000,
};

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

/// Three (or more) nodes' transports, their addresses, and a data dir per node.
struct Cluster {
    members: BTreeMap<u64, String>,
    transports: BTreeMap<u64, Transport>,
    _root: tempfile::TempDir,
    root: PathBuf,
    max_frame_bytes: u32,
}

async fn listeners(n: u64) -> (BTreeMap<u64, String>, Vec<TcpListener>) {
    let mut members = BTreeMap::new();
    let mut bound = Vec::new();
    for id in 1..=n {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        members.insert(id, l.local_addr().expect("addr").to_string());
        bound.push(l);
    }
    (members, bound)
}

fn transport_config(id: u64, cluster: &str, members: &BTreeMap<u64, String>) -> TransportConfig {
    let mut c = TransportConfig::new(id, cluster, members.clone());
    c.reconnect_backoff_min = Duration::from_millis(20);
    c.reconnect_backoff_max = Duration::from_millis(300);
    c
}

impl Cluster {
    /// Transports for nodes 1..=3, except those in `skip` (started later or never).
    async fn start(skip: &[u64], max_frame_bytes: u32) -> Cluster {
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
    async fn restart_transport(&mut self, id: u64) {
        let mut config = transport_config(id, CLUSTER, &self.members);
        config.max_frame_bytes = self.max_frame_bytes;
        let t = Transport::bind(config).await.expect("rebind transport");
        self.transports.insert(id, t);
    }

    fn dir(&self, node: u64, group: &str) -> PathBuf {
        let dir = self.root.join(format!("node{node}")).join(group);
        std::fs::create_dir_all(&dir).expect("mkdir");
        dir
    }

    async fn start_group(&self, node: u64, group: &str) -> PartitionGroup {
        self.start_group_with(node, group, LOG).await
    }

    async fn start_group_with(&self, node: u64, group: &str, log: LogConfig) -> PartitionGroup {
        let spec = GroupSpec {
            node_id: node,
            members: self.members.clone(),
            log,
            name: group.to_string(),
        };
        let options = GroupOptions {
            transport: Some(self.transports[&node].clone()),
            timing: TIMING,
        };
        PartitionGroup::start_with(&self.dir(node, group), spec, options)
            .await
            .expect("start group")
    }

    async fn wait_connected(&self) {
        let all: Vec<u64> = self.transports.keys().copied().collect();
        wait_until("every pair connected", || {
            self.transports.iter().all(|(id, t)| {
                t.connected_peers() == all.iter().copied().filter(|p| p != id).collect::<Vec<_>>()
            })
        })
        .await;
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
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
async fn leader(groups: &BTreeMap<u64, PartitionGroup>) -> u64 {
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
async fn write(groups: &BTreeMap<u64, PartitionGroup>, from: usize, to: usize, pad: usize) -> i64 {
    let mut hw = 0;
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
async fn assert_identical(groups: &BTreeMap<u64, PartitionGroup>, hw: i64, batches: usize) {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_two_groups_one_connection_per_pair() {
    init_tracing();
    tracing::info!(
        "three transports with a 256 KiB frame limit: 100 KiB batches force split requests"
    );
    let cluster = Cluster::start(&[], 256 << 10).await;
    cluster.wait_connected().await;

    tracing::info!("two groups on every node, multiplexed over the same three connections");
    let mut a = BTreeMap::new();
    let mut b = BTreeMap::new();
    for node in 1..=3 {
        a.insert(node, cluster.start_group(node, "orders-0").await);
        b.insert(node, cluster.start_group(node, "orders-1").await);
    }
    leader(&a).await;
    leader(&b).await;

    tracing::info!("write small batches to one group and big ones to the other, at once");
    let (hw_a, hw_b) = tokio::join!(write(&a, 0, 300, 0), write(&b, 0, 40, 100 << 10));
    assert_identical(&a, hw_a, 300).await;
    assert_identical(&b, hw_b, 40).await;

    tracing::info!("still one connection per pair");
    for (id, t) in &cluster.transports {
        assert_eq!(t.connected_peers().len(), 2, "node {id}");
    }
    for g in a.values().chain(b.values()) {
        g.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_and_catch_up_after_restarts() {
    init_tracing();
    let mut cluster = Cluster::start(&[], DEFAULT_MAX_FRAME_BYTES).await;
    let mut groups = BTreeMap::new();
    for node in 1..=3 {
        groups.insert(node, cluster.start_group(node, "events-0").await);
    }
    let mut hw = write(&groups, 0, 50, 0).await;

    tracing::info!("stop the leader's group: the other two elect a new leader and take writes");
    let old = leader(&groups).await;
    let stopped = groups.remove(&old).expect("leader group");
    stopped.shutdown().await;
    drop(stopped);
    let new = leader(&groups).await;
    assert_ne!(new, old);
    hw = write(&groups, 50, 100, 0).await.max(hw);

    tracing::info!("restart the old leader on its directory: it catches up");
    groups.insert(old, cluster.start_group(old, "events-0").await);
    assert_identical(&groups, hw, 100).await;

    tracing::info!("stop a follower, write on, restart it: it catches up");
    let current = leader(&groups).await;
    let follower = *groups
        .keys()
        .find(|id| **id != current)
        .expect("a follower");
    let stopped = groups.remove(&follower).expect("follower group");
    stopped.shutdown().await;
    drop(stopped);
    hw = write(&groups, 100, 150, 0).await.max(hw);
    groups.insert(follower, cluster.start_group(follower, "events-0").await);
    assert_identical(&groups, hw, 150).await;

    tracing::info!("drop the leader's whole transport: a new leader is elected, writes go on");
    let old = leader(&groups).await;
    cluster.transports[&old].shutdown();
    let stopped = groups.remove(&old).expect("leader group");
    let new = leader(&groups).await;
    assert_ne!(new, old);
    hw = write(&groups, 150, 200, 0).await.max(hw);
    stopped.shutdown().await;
    drop(stopped);

    tracing::info!("a new transport on the same address reconnects; the group catches up on it");
    cluster.restart_transport(old).await;
    cluster.wait_connected().await;
    groups.insert(old, cluster.start_group(old, "events-0").await);
    assert_identical(&groups, hw, 200).await;
    for g in groups.values() {
        g.shutdown().await;
    }
}

/// Sends a hello as `node` of `cluster` to `target` at `addr`; returns the answer frame's kind
/// and body, and whether the connection was closed after it.
async fn raw_hello(addr: &str, cluster: &str, node: u64, target: u64) -> (u8, Vec<u8>, bool) {
    let mut body = Vec::new();
    body.extend_from_slice(&1u16.to_be_bytes());
    body.extend_from_slice(&node.to_be_bytes());
    body.extend_from_slice(&target.to_be_bytes());
    body.extend_from_slice(&(cluster.len() as u16).to_be_bytes());
    body.extend_from_slice(cluster.as_bytes());
    let mut frame = Vec::new();
    frame.extend_from_slice(&((11 + body.len()) as u32).to_be_bytes());
    frame.push(1); // HELLO
    frame.extend_from_slice(&0u64.to_be_bytes());
    frame.extend_from_slice(&0u16.to_be_bytes());
    frame.extend_from_slice(&body);
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&frame).await.expect("send hello");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, s.read_to_end(&mut answer)).await;
    let closed = matches!(read, Ok(Ok(_)));
    assert!(answer.len() >= 15, "short answer {answer:?}");
    (answer[4], answer[15..].to_vec(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_are_refused() {
    init_tracing();
    let mut cluster = Cluster::start(&[1], DEFAULT_MAX_FRAME_BYTES).await;
    cluster.wait_connected().await;
    let addr3 = cluster.members[&3].clone();

    tracing::info!(
        "unknown node id, wrong cluster id, wrong target, wrong direction: refused and closed"
    );
    for (cluster_id, node, target, why) in [
        (CLUSTER, 99, 3, "not a member"),
        ("another-cluster", 1, 3, "is not this cluster"),
        (CLUSTER, 1, 2, "this is node 3"),
        (CLUSTER, 3, 3, "not a member"),
    ] {
        let (kind, reason, closed) = raw_hello(&addr3, cluster_id, node, target).await;
        let reason = String::from_utf8_lossy(&reason).to_string();
        assert_eq!(kind, 3, "expected REFUSED, got kind {kind}: {reason}");
        assert!(reason.contains(why), "{reason:?} should say {why:?}");
        assert!(closed, "connection left open after refusing");
    }
    let (kind, reason, _) = raw_hello(&cluster.members[&2], CLUSTER, 3, 2).await;
    assert_eq!(
        kind,
        3,
        "node 3 must not dial node 2: {}",
        String::from_utf8_lossy(&reason)
    );

    tracing::info!("node 1 of another cluster dials nodes 2 and 3: never connected");
    let (_, mut spare) = listeners(1).await;
    let impostor = Transport::start(
        transport_config(1, "another-cluster", &cluster.members),
        spare.remove(0),
    )
    .expect("impostor");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(impostor.connected_peers().is_empty());
    for id in [2, 3] {
        assert_eq!(
            cluster.transports[&id].connected_peers().len(),
            1,
            "node {id}"
        );
    }
    impostor.shutdown();

    tracing::info!("the real node 1 joins");
    cluster.restart_transport(1).await;
    cluster.wait_connected().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_bytes_close_only_their_connection() {
    init_tracing();
    let cluster = Cluster::start(&[], DEFAULT_MAX_FRAME_BYTES).await;
    let mut groups = BTreeMap::new();
    for node in 1..=3 {
        groups.insert(node, cluster.start_group(node, "logs-0").await);
    }
    let hw = write(&groups, 0, 20, 0).await;
    let addr3 = cluster.members[&3].clone();

    let mut member_hello = Vec::new();
    member_hello.extend_from_slice(&(11u32 + 2 + 8 + 8 + 2 + CLUSTER.len() as u32).to_be_bytes());
    member_hello.push(1);
    member_hello.extend_from_slice(&[0; 10]);
    member_hello.extend_from_slice(&1u16.to_be_bytes());
    member_hello.extend_from_slice(&1u64.to_be_bytes());
    member_hello.extend_from_slice(&3u64.to_be_bytes());
    member_hello.extend_from_slice(&(CLUSTER.len() as u16).to_be_bytes());
    member_hello.extend_from_slice(CLUSTER.as_bytes());
    let mut after_hello = member_hello.clone();
    after_hello.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 16, 0, 0]);
    let mut bad_kind = member_hello.clone();
    bad_kind.extend_from_slice(&[0, 0, 0, 11, 99, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    let mut bad_append = member_hello.clone();
    bad_append.extend_from_slice(&[0, 0, 0, 19, 16, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]);
    bad_append.extend_from_slice(&[0xff; 8]);
    let cases: [(&str, Vec<u8>); 5] = [
        ("text", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        ("huge length", vec![0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),
        ("huge length after a member's hello", after_hello),
        ("unknown frame kind after a hello", bad_kind),
        ("append body of garbage after a hello", bad_append),
    ];
    for (what, bytes) in cases {
        tracing::info!(case = what, "hostile bytes on node 3's Raft port");
        let mut s = TcpStream::connect(&addr3).await.expect("connect");
        s.write_all(&bytes).await.expect("send");
        let mut sink = Vec::new();
        let read = tokio::time::timeout(WAIT, s.read_to_end(&mut sink)).await;
        assert!(read.is_ok(), "{what}: connection left open");
    }

    tracing::info!("the cluster still replicates");
    cluster.wait_connected().await;
    let hw = write(&groups, 20, 40, 0).await.max(hw);
    assert_identical(&groups, hw, 40).await;
    for g in groups.values() {
        g.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_behind_a_purged_log_gets_a_snapshot() {
    init_tracing();
    let small = LogConfig {
        segment_bytes: 64 << 10,
        index_interval_bytes: 4096,
    };
    let cluster = Cluster::start(&[], DEFAULT_MAX_FRAME_BYTES).await;
    let mut groups = BTreeMap::new();
    for node in 1..=3 {
        groups.insert(
            node,
            cluster.start_group_with(node, "metrics-0", small).await,
        );
    }
    write(&groups, 0, 10, 0).await;

    tracing::info!("stop a follower, then write enough to fill several segments");
    let current = leader(&groups).await;
    let follower = *groups
        .keys()
        .find(|id| **id != current)
        .expect("a follower");
    let stopped = groups.remove(&follower).expect("follower group");
    let behind = stopped.reader().log().entries(..).expect("read").len() as u64;
    stopped.shutdown().await;
    drop(stopped);
    let hw = write(&groups, 10, 400, 1000).await;

    tracing::info!("retention on the leader purges the entries the follower lacks");
    let purged = groups[&current]
        .apply_retention(
            &RetentionPolicy {
                retention_ms: None,
                retention_bytes: Some(64 << 10),
            },
            0,
        )
        .await
        .expect("retention")
        .expect("something to purge");
    assert!(
        purged > behind,
        "purged up to {purged}, follower has {behind} entries"
    );
    wait_until("the leader's log starts after the follower's end", || {
        let log = groups[&current].reader().log().entries(..).expect("read");
        log.first().is_some_and(|e| e.index > behind)
    })
    .await;

    tracing::info!("the follower comes back: a snapshot over the transport, then the rest");
    groups.insert(
        follower,
        cluster.start_group_with(follower, "metrics-0", small).await,
    );
    let back = &groups[&follower];
    wait_until(
        "the follower installed the snapshot and dropped its old entries",
        || {
            let log = back.reader().log();
            let entries = log.entries(..).expect("read");
            log.next_offset() == hw && entries.first().is_none_or(|e| e.index > behind)
        },
    )
    .await;

    tracing::info!("new writes reach it as ordinary entries after the snapshot");
    let hw = write(&groups, 400, 420, 0).await;
    let mut w = back.high_watermark();
    let reached = tokio::time::timeout(WAIT, w.wait_for(|v| *v >= hw))
        .await
        .map(|r| r.map(|_| ()));
    assert!(matches!(reached, Ok(Ok(()))), "follower high watermark");
    let follower_log = back.reader().log().entries(..).expect("read");
    let first = follower_log
        .first()
        .expect("entries after the snapshot")
        .index;
    assert!(first > behind, "follower log starts at {first}");
    let leader_log = groups[&current]
        .reader()
        .log()
        .entries(first..)
        .expect("read");
    let common = leader_log.len().min(follower_log.len());
    let records = follower_log[..common]
        .iter()
        .filter(|e| e.offset_count > 0)
        .count();
    assert_eq!(records, 20, "record entries after the snapshot");
    assert!(
        leader_log[..common] == follower_log[..common],
        "follower differs after the snapshot"
    );
    for g in groups.values() {
        g.shutdown().await;
    }
}
