//! Leadership as clients see it: 12 partitions spread their leaders evenly over three nodes;
//! every node reports the same leaders and full ISRs; a killed node leaves the broker list and
//! the ISRs and its partitions move; OffsetForLeaderEpoch on the new leader says where the old
//! epoch ended; once the node is back, leadership returns to the preferred replicas.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, MetadataRequest, MetadataResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::metadata::Metadata;
use rdkafka::producer::Producer;
use tracing::info;

use crate::common::wire::{call, connect};
use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::{high_watermark, send_all};
use crate::harness::{Cluster, metadata_until};
use crate::{Deliveries, create_topic, create_topic_with, producer};

const PARTITIONS: usize = 12;

/// Leaders handed back within a second of being due; a follower out of the ISR after 2 s.
const SETTINGS: &str = "\"leader.imbalance.check.interval.seconds\" = 1\n\
                        \"replica.lag.time.max.ms\" = 2000";

/// Partitions led by each node, if every partition of `topic` has a leader.
fn leader_counts(metadata: &Metadata, topic: &str) -> Option<BTreeMap<i32, usize>> {
    let topic = metadata.topics().iter().find(|t| t.name() == topic)?;
    if topic.partitions().len() != PARTITIONS || topic.partitions().iter().any(|p| p.leader() < 1) {
        return None;
    }
    let mut counts = BTreeMap::new();
    for p in topic.partitions() {
        *counts.entry(p.leader()).or_insert(0) += 1;
    }
    Some(counts)
}

/// Each of the three nodes leads 4 +/- 1 partitions.
fn balanced(metadata: &Metadata, topic: &str) -> bool {
    leader_counts(metadata, topic)
        .is_some_and(|c| c.len() == 3 && c.values().all(|n| (3..=5).contains(n)))
}

/// Every partition led, with exactly `isr` (sorted) in sync.
fn isr_is(metadata: &Metadata, topic: &str, isr: &[i32]) -> bool {
    metadata.topics().iter().any(|t| {
        t.name() == topic
            && t.partitions().len() == PARTITIONS
            && t.partitions().iter().all(|p| {
                let mut got = p.isr().to_vec();
                got.sort_unstable();
                p.leader() >= 1 && got == isr
            })
    })
}

fn name(topic: &str) -> TopicName {
    TopicName(StrBytes::from_string(topic.to_string()))
}

/// `(leader, leader epoch)` of each partition, as node `id` reports them.
fn epochs(cluster: &Cluster, id: u64, topic: &str) -> Vec<(i32, i32)> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(topic))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = call(
        &mut connect(cluster.addr(id)),
        ApiKey::Metadata,
        9,
        &request,
    );
    let mut partitions: Vec<_> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, (p.leader_id.0, p.leader_epoch)))
        .collect();
    partitions.sort_unstable();
    partitions.into_iter().map(|(_, pair)| pair).collect()
}

/// OffsetForLeaderEpoch for `partition` at node `id`: `(error, epoch, end offset)`.
fn epoch_end(
    cluster: &Cluster,
    id: u64,
    topic: &str,
    partition: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    let request = OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            OffsetForLeaderTopic::default()
                .with_topic(name(topic))
                .with_partitions(vec![
                    OffsetForLeaderPartition::default()
                        .with_partition(partition)
                        .with_current_leader_epoch(-1)
                        .with_leader_epoch(epoch),
                ]),
        ]);
    let response: OffsetForLeaderEpochResponse = call(
        &mut connect(cluster.addr(id)),
        ApiKey::OffsetForLeaderEpoch,
        4,
        &request,
    );
    let answer = &response.topics[0].partitions[0];
    (answer.error_code, answer.leader_epoch, answer.end_offset)
}

#[test]
fn leaders_spread_move_on_failure_and_return_to_preferred_replicas() {
    init_logs();
    let mut cluster = Cluster::start_with(&[3, 1, 2], SETTINGS);
    let topic = unique_name("leaders");
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic, PARTITIONS as i32);

    info!("each node leads 4 +/- 1 of 12 partitions; every node reports full ISRs");
    for id in 1..=3 {
        let metadata = metadata_until(
            &cluster.bootstrap(&[id]),
            Some(&topic),
            WAIT,
            "balanced, full ISRs",
            |m| balanced(m, &topic) && isr_is(m, &topic, &[1, 2, 3]),
        );
        info!(node = id, counts = ?leader_counts(&metadata, &topic), "leaders");
    }

    info!("a partition with one replica is described by every node, hosting it or not");
    let single = unique_name("single");
    create_topic_with(&cluster.bootstrap(&[1]), &single, 3, 1);
    for id in 1..=3 {
        metadata_until(
            &cluster.bootstrap(&[id]),
            Some(&single),
            WAIT,
            "single-replica leaders",
            |m| {
                m.topics().iter().any(|t| {
                    t.name() == single
                        && t.partitions().len() == 3
                        && t.partitions().iter().all(|p| {
                            p.leader() >= 1
                                && p.replicas() == [p.leader()]
                                && p.isr() == [p.leader()]
                        })
                })
            },
        );
    }

    let deliveries = Deliveries::default();
    let writer = producer(&cluster.bootstrap(&[1, 2, 3]), &deliveries);
    send_all(&writer, &topic, 0..1200, PARTITIONS, None);
    writer.flush(WAIT).expect("flush");
    assert_eq!(
        deliveries.acked().len(),
        1200,
        "acknowledged before the kill"
    );
    let before = epochs(&cluster, 1, &topic);
    let led_by_2: Vec<usize> = (0..PARTITIONS).filter(|p| before[*p].0 == 2).collect();
    assert!(!led_by_2.is_empty(), "node 2 leads something: {before:?}");

    info!("kill -9 node 2: it leaves the broker list and the ISRs; its partitions move");
    cluster.node(2).kill9();
    for id in [1, 3] {
        metadata_until(
            &cluster.bootstrap(&[id]),
            Some(&topic),
            WAIT,
            "node 2 gone",
            |m| {
                m.brokers().len() == 2
                    && isr_is(m, &topic, &[1, 3])
                    && leader_counts(m, &topic).is_some_and(|c| !c.contains_key(&2))
            },
        );
    }
    send_all(&writer, &topic, 1200..1800, PARTITIONS, None);
    writer.flush(WAIT).expect("flush");
    assert_eq!(
        deliveries.acked().len(),
        1800,
        "acknowledged after the kill"
    );

    info!("the new leader of each moved partition says where the old epoch ended");
    let after = epochs(&cluster, 1, &topic);
    for &p in &led_by_2 {
        let (leader, epoch) = after[p];
        let (old_leader, old_epoch) = before[p];
        assert!(
            epoch > old_epoch,
            "partition {p}: {old_leader}@{old_epoch} -> {leader}@{epoch}"
        );
        let end = high_watermark(&cluster.bootstrap(&[1, 3]), &topic, p as i32);
        let (error, floor, old_end) =
            epoch_end(&cluster, leader as u64, &topic, p as i32, old_epoch);
        assert_eq!(
            (error, floor, old_end),
            (0, old_epoch, 100),
            "partition {p}, old epoch"
        );
        let (error, latest, now_end) = epoch_end(&cluster, leader as u64, &topic, p as i32, epoch);
        assert_eq!(
            (error, latest, now_end),
            (0, epoch, end),
            "partition {p}, current epoch"
        );
    }

    info!("node 2 returns: leadership goes back to the preferred replicas");
    cluster.node(2).spawn();
    cluster.node(2).wait_ready();
    let preferred: Vec<i32> = before.iter().map(|(leader, _)| *leader).collect();
    for id in 1..=3 {
        metadata_until(
            &cluster.bootstrap(&[id]),
            Some(&topic),
            WAIT + Duration::from_secs(30),
            "preferred leaders again, full ISRs",
            |m| {
                m.brokers().len() == 3
                    && balanced(m, &topic)
                    && isr_is(m, &topic, &[1, 2, 3])
                    && leaders_of(m, &topic) == preferred
            },
        );
    }
}

/// The leader of each partition of `topic`, by partition number.
fn leaders_of(metadata: &Metadata, topic: &str) -> Vec<i32> {
    let mut leaders: Vec<(i32, i32)> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| (p.id(), p.leader())))
        .collect();
    leaders.sort_unstable();
    leaders.into_iter().map(|(_, leader)| leader).collect()
}
