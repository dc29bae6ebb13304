//! Partition groups of three nodes over the Raft transport: real TCP on 127.0.0.1 ephemeral
//! ports, real segment files in temp dirs, one test process. Elections, replication of real
//! RecordBatches (identical bytes at identical offsets on every replica), two groups on the same
//! connections, failover, catch-up after a restart, a snapshot for a follower behind a purged
//! log; `refusals.rs`: strangers and garbage on the Raft port; `forward.rs`: writes a follower
//! forwards to the leader.

mod cluster;
#[path = "../common/mod.rs"]
mod common;
mod forward;
mod refusals;

use std::collections::BTreeMap;

use cluster::{Cluster, assert_identical, leader, wait_until, write};
use common::{WAIT, init_logs};
use raftka::raft::transport::DEFAULT_MAX_FRAME_BYTES;
use raftka::storage::{LogConfig, RetentionPolicy};
use raftka::types::LogIndex;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_two_groups_one_connection_per_pair() {
    init_logs();
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
    init_logs();
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
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn follower_behind_a_purged_log_gets_a_snapshot() {
    init_logs();
    let small = LogConfig {
        segment_bytes: 64 << 10,
        index_interval_bytes: 4096,
        ..LogConfig::DEFAULT
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
    let behind = LogIndex(stopped.reader().log().entries(..).expect("read").len() as u64);
    stopped.shutdown().await;
    drop(stopped);
    let hw = write(&groups, 10, 400, 1000).await;

    tracing::info!("retention on the leader purges the entries the follower lacks");
    let new_start = groups[&current]
        .apply_retention(
            &RetentionPolicy {
                retention_bytes: Some(64 << 10),
                ..RetentionPolicy::default()
            },
            0,
        )
        .await
        .expect("retention")
        .expect("something to purge");
    wait_until("the leader's log starts after the follower's end", || {
        let log = groups[&current].reader().log().entries(..).expect("read");
        log.first().is_some_and(|e| e.index > behind)
    })
    .await;

    let leader_start = groups[&current].reader().log().log_start_offset();
    assert_eq!(
        leader_start, new_start,
        "the leader's log does not start where retention said"
    );

    tracing::info!(
        "the follower comes back: the snapshot at the purge point, then every retained entry"
    );
    groups.insert(
        follower,
        cluster.start_group_with(follower, "metrics-0", small).await,
    );
    let back = &groups[&follower];
    wait_until(
        "the follower installed the snapshot and caught up to the leader's end",
        || {
            let log = back.reader().log();
            let entries = log.entries(..).expect("read");
            log.next_offset() == hw && entries.first().is_some_and(|e| e.index > behind)
        },
    )
    .await;
    let log = back.reader().log();
    assert_eq!(
        log.log_start_offset(),
        leader_start,
        "the follower's log starts at another offset than the leader's"
    );
    let follower_log = log.entries(..).expect("read");
    let follower_start = follower_log
        .first()
        .map(|e| e.index)
        .expect("retained entries");
    let leader_log = groups[&current]
        .reader()
        .log()
        .entries(follower_start..)
        .expect("read");
    assert_eq!(
        follower_start,
        groups[&current].reader().log().index_bounds().0,
        "the follower's log does not start right after the leader's purge point"
    );
    let common = leader_log.len().min(follower_log.len());
    assert!(
        leader_log[..common] == follower_log[..common],
        "the follower's retained entries differ from the leader's"
    );
    let retained = |entries: &[raftka::storage::StoredEntry]| -> u32 {
        entries.iter().map(|e| e.offset_count).sum()
    };
    assert_eq!(
        leader_start.plus(retained(&follower_log)),
        hw,
        "the follower's records do not tile [log start, high watermark)"
    );

    tracing::info!("new writes reach it as ordinary entries after the retained ones");
    let hw = write(&groups, 400, 420, 0).await;
    let mut w = back.high_watermark();
    let reached = tokio::time::timeout(WAIT, w.wait_for(|v| *v >= hw))
        .await
        .map(|r| r.map(|_| ()));
    assert!(matches!(reached, Ok(Ok(()))), "follower high watermark");
    let follower_log = back.reader().log().entries(..).expect("read");
    let leader_log = groups[&current]
        .reader()
        .log()
        .entries(follower_start..)
        .expect("read");
    let common = leader_log.len().min(follower_log.len());
    assert!(
        leader_log[..common] == follower_log[..common],
        "the follower's entries differ from the leader's"
    );
    assert_eq!(leader_start.plus(retained(&follower_log)), hw);
    for g in groups.values() {
        g.shutdown().await;
    }
}
