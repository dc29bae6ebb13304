//! Forwarded writes: a follower hands a batch to the leader over the transport and learns its
//! offsets once the leader applied it; a plain write on a follower is still refused (produce
//! requests are never forwarded).

use std::collections::BTreeMap;

use raftka::raft::WriteError;
use raftka::types::KafkaOffset;

use crate::cluster::{Cluster, assert_identical, leader};
use crate::common::raft::{encode_batch, records_of};
use crate::common::{WAIT, init_logs};
use raftka::raft::transport::DEFAULT_MAX_FRAME_BYTES;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn followers_forward_writes_to_the_leader() {
    init_logs();
    let cluster = Cluster::start(&[], DEFAULT_MAX_FRAME_BYTES).await;
    cluster.wait_connected().await;
    let mut groups = BTreeMap::new();
    for node in 1..=3 {
        groups.insert(
            node,
            cluster.start_group(node, "__cluster_metadata-0").await,
        );
    }
    let lead = leader(&groups).await;

    tracing::info!(
        lead,
        "a plain write on a follower is refused, naming the leader"
    );
    let follower = (1..=3).find(|id| *id != lead).unwrap_or(1);
    match groups[&follower].write(encode_batch(&records_of(0))).await {
        Err(WriteError::NotLeader { leader }) => assert_eq!(leader, Some(lead)),
        other => panic!("a follower accepted a plain write: {other:?}"),
    }

    tracing::info!("each follower forwards writes; offsets follow one another");
    let mut next_offset = KafkaOffset(0);
    let mut hw = KafkaOffset(0);
    let mut batches = 0;
    for round in 0..5 {
        for id in (1..=3).filter(|id| *id != lead) {
            let records = records_of(round);
            let count = records.len() as u32;
            let applied = groups[&id]
                .write_via_leader(encode_batch(&records), WAIT)
                .await
                .unwrap_or_else(|e| panic!("forwarded write from node {id}: {e}"));
            assert_eq!(applied.base_offset, Some(next_offset));
            next_offset = next_offset.plus(count);
            hw = applied.high_watermark;
            batches += 1;
        }
    }
    assert_eq!(hw, next_offset);
    tracing::info!("the leader's own write_via_leader writes locally");
    let applied = groups[&lead]
        .write_via_leader(encode_batch(&records_of(9)), WAIT)
        .await
        .expect("leader write");
    assert_eq!(applied.base_offset, Some(hw));
    assert_identical(&groups, applied.high_watermark, batches + 1).await;
    for g in groups.values() {
        g.shutdown().await;
    }
}
