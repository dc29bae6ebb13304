//! Only cluster members get in: hellos naming another cluster, an unknown node, the wrong
//! target or the wrong direction are refused and closed; garbage and huge lengths close the
//! connection they came on, and the cluster keeps replicating.

use std::collections::BTreeMap;
use std::time::Duration;

use raftka::raft::Transport;
use raftka::raft::transport::DEFAULT_MAX_FRAME_BYTES;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::cluster::{CLUSTER, Cluster, assert_identical, listeners, transport_config, write};
use crate::common::{WAIT, init_logs};

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
    init_logs();
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
    init_logs();
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
