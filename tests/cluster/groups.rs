//! A consumer group across a coordinator failure: a member reads and commits, the node that
//! coordinates the group is killed with `kill -9`, the member carries on through the new
//! coordinator (the new leader of the group's `__consumer_offsets` partition) losing nothing and
//! repeating nothing below its commits, commits again, and a later member finds the commits.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiKey, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::producer::Producer;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::common::wire::{call, connect};
use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::send_all;
use crate::harness::{Cluster, client_config};
use crate::{Deliveries, create_topic, producer};

const PARTITIONS: usize = 4;
const MESSAGES: usize = 400;

fn member(bootstrap: &str, group: &str, topic: &str) -> BaseConsumer {
    let consumer: BaseConsumer = client_config(
        bootstrap,
        &[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
    .create()
    .expect("group member");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// `(partition, offset)` of up to `count` messages, polling until `within` passes.
fn read(consumer: &BaseConsumer, count: usize, within: Duration) -> Vec<(i32, i64)> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            got.push((m.partition(), m.offset()));
        }
    }
    got
}

/// The commits of `consumer`'s group for `topic`, by partition (those without one left out).
fn try_committed(consumer: &BaseConsumer, topic: &str) -> KafkaResult<BTreeMap<i32, i64>> {
    let mut wanted = TopicPartitionList::new();
    for p in 0..PARTITIONS as i32 {
        wanted.add_partition(topic, p);
    }
    Ok(consumer
        .committed_offsets(wanted, WAIT)?
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect())
}

fn committed(consumer: &BaseConsumer, topic: &str) -> BTreeMap<i32, i64> {
    try_committed(consumer, topic).expect("OffsetFetch")
}

/// The node coordinating `group`, as node `via` answers FindCoordinator.
fn coordinator(cluster: &Cluster, via: u64, group: &str) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut conn = connect(cluster.addr(via));
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        let found: FindCoordinatorResponse = call(&mut conn, ApiKey::FindCoordinator, 3, &request);
        if found.error_code == 0 {
            return found.node_id.0 as u64;
        }
        assert!(
            Instant::now() < deadline,
            "no coordinator for {group}: {found:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn group_survives_its_coordinator_being_killed() {
    init_logs();
    let mut cluster = Cluster::start_with(&[1, 2, 3], "\"group.initial.rebalance.delay.ms\" = 0");
    let all = cluster.bootstrap(&[1, 2, 3]);
    let topic = unique_name("grouped");
    create_topic(&all, &topic, PARTITIONS as i32);
    let deliveries = Deliveries::default();
    let writer = producer(&all, &deliveries);
    send_all(&writer, &topic, 0..MESSAGES, PARTITIONS, None);
    writer.flush(WAIT).expect("flush");
    assert_eq!(deliveries.acked().len(), MESSAGES);

    let group = unique_name("group");
    let consumer = member(&all, &group, &topic);
    let before = read(&consumer, MESSAGES / 2, WAIT * 2);
    assert_eq!(before.len(), MESSAGES / 2, "read before the kill");
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("commit");
    let committed_before = committed(&consumer, &topic);
    assert!(!committed_before.is_empty());

    let victim = coordinator(&cluster, 1, &group);
    info!(node = victim, "kill -9 the group's coordinator");
    cluster.node(victim).kill9();

    // Membership is not persisted: the new coordinator does not know the member's generation,
    // so the member rejoins (partitions come back at their commits: anything it read again
    // must lie at or after what it had committed).
    let mut after = Vec::new();
    let deadline = Instant::now() + WAIT * 3;
    let distinct = |after: &[(i32, i64)]| {
        before
            .iter()
            .chain(after)
            .copied()
            .collect::<BTreeSet<(i32, i64)>>()
            .len()
    };
    while distinct(&after) < MESSAGES {
        assert!(
            Instant::now() < deadline,
            "the member did not carry on after the kill"
        );
        after.extend(read(&consumer, MESSAGES, Duration::from_millis(500)));
    }
    let seen_before: BTreeSet<(i32, i64)> = before.iter().copied().collect();
    for (p, o) in after.iter().filter(|m| seen_before.contains(m)) {
        let from = committed_before.get(p).copied().unwrap_or(0);
        assert!(
            *o >= from,
            "partition {p} offset {o} read again below its commit {from}"
        );
    }
    info!(
        again = after.len() + before.len() - MESSAGES,
        "every message read; commit through the new coordinator"
    );
    // A rejoin may hand a partition back before the member has a position in it again: keep
    // reading and committing until every partition's commit is at its end.
    let expected: BTreeMap<i32, i64> = (0..PARTITIONS as i32)
        .map(|p| (p, (MESSAGES / PARTITIONS) as i64))
        .collect();
    let deadline = Instant::now() + WAIT * 2;
    loop {
        let outcome = consumer.commit_consumer_state(CommitMode::Sync);
        if outcome.is_ok() && committed(&consumer, &topic) == expected {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "commits through the new coordinator: {outcome:?}, {:?}",
            committed(&consumer, &topic)
        );
        read(&consumer, MESSAGES, Duration::from_millis(300));
    }
    let survivor = (1..=3).find(|id| *id != victim).expect("a survivor");
    let new_coordinator = coordinator(&cluster, survivor, &group);
    assert_ne!(new_coordinator, victim, "the coordinator moved");
    drop(consumer);

    info!("a new member finds every commit");
    let later = member(&cluster.bootstrap(&[survivor]), &group, &topic);
    let found = committed(&later, &topic);
    assert_eq!(found, expected, "committed offsets after the failover");
}

/// Commits of `consumer`'s group for `topic` partitions `0..PARTITIONS`, retried while the
/// coordinator moves or loads.
fn committed_eventually(consumer: &BaseConsumer, topic: &str, want: &BTreeMap<i32, i64>) {
    let deadline = Instant::now() + WAIT * 3;
    loop {
        match try_committed(consumer, topic) {
            Ok(found) if found == *want => return,
            other => assert!(
                Instant::now() < deadline,
                "committed offsets: {other:?}, expected {want:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn compacted_offsets_survive_a_coordinator_kill_and_its_return() {
    init_logs();
    // Small offsets segments: a snapshot every ~32 KiB of commits, whole segments purged.
    let mut cluster = Cluster::start_with(
        &[1, 2, 3],
        "\"offsets.topic.num.partitions\" = 1\n\
         \"message.max.bytes\" = 4096\n\
         \"offsets.topic.segment.bytes\" = 69632\n\
         \"log.retention.check.interval.ms\" = 200\n\
         \"leader.imbalance.check.interval.seconds\" = 1",
    );
    let all = cluster.bootstrap(&[1, 2, 3]);
    let topic = unique_name("compacted");
    create_topic(&all, &topic, PARTITIONS as i32);
    let group = unique_name("compacted");
    let committer: BaseConsumer = client_config(
        &all,
        &[
            ("group.id", group.as_str()),
            ("enable.auto.commit", "false"),
        ],
    )
    .create()
    .expect("committer");
    let commit = |round: i64| {
        let p = (round % PARTITIONS as i64) as i32;
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(&topic, p, Offset::Offset(round))
            .expect("partition offset");
        let deadline = Instant::now() + WAIT;
        while let Err(e) = committer.commit(&list, CommitMode::Sync) {
            assert!(Instant::now() < deadline, "commit {p}@{round}: {e}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Round r commits offset r to partition r % PARTITIONS: the last commit of each partition.
    let last = |rounds: i64| -> BTreeMap<i32, i64> {
        (rounds.saturating_sub(PARTITIONS as i64 - 1)..=rounds)
            .map(|r| ((r % PARTITIONS as i64) as i32, r))
            .collect()
    };

    info!("commits go by until every replica of the offsets partition lost its first segments");
    let mut round = 0;
    let deadline = Instant::now() + WAIT * 9;
    loop {
        for _ in 0..100 {
            round += 1;
            commit(round);
        }
        let starts: Vec<i64> = (1..=3)
            .map(|id| {
                cluster
                    .node(id)
                    .dump_log("__consumer_offsets", 0)
                    .log_start_offset
            })
            .collect();
        if starts.iter().all(|s| *s > 0) {
            info!(?starts, rounds = round, "every replica compacted");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replicas not compacted: log starts {starts:?}"
        );
    }
    committed_eventually(&committer, &topic, &last(round));

    let victim = coordinator(&cluster, 1, &group);
    info!(
        node = victim,
        "kill -9 the coordinator: the new one has every commit"
    );
    cluster.node(victim).kill9();
    committed_eventually(&committer, &topic, &last(round));
    for _ in 0..20 {
        round += 1;
        commit(round);
    }

    info!("the old coordinator returns, loads from its compacted log, and coordinates again");
    cluster.node(victim).spawn();
    cluster.node(victim).wait_ready();
    let deadline = Instant::now() + WAIT * 3;
    while coordinator(&cluster, victim, &group) != victim {
        assert!(
            Instant::now() < deadline,
            "leadership never returned to the preferred replica"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    committed_eventually(&committer, &topic, &last(round));
}
