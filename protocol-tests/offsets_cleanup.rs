//! Committed offsets are cleaned up as Kafka cleans them: the offsets of a deleted topic are gone
//! at once (and stay gone when a topic of that name is created again), and a group without
//! members loses its offsets `offsets.retention.minutes` after its last commit, while a group
//! with a live member keeps them. Each removal is a record of the group's `__consumer_offsets`
//! partition, which the tests read back like any topic. A group known only by its offsets (after
//! a restart, or a standalone committer) is listed and described as Empty until they go.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::clients::{assign, config, consume_to_eof, create_topic, future_producer};
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

/// Partitions of `__consumer_offsets` on the brokers these tests start.
const OFFSETS_PARTITIONS: u32 = 3;

/// A consumer of `group` that only commits and reads commits (it never joins the group).
fn committer(target: &Target, group: &str) -> BaseConsumer {
    config(
        target,
        &[("group.id", group), ("enable.auto.commit", "false")],
    )
    .create()
    .expect("create consumer")
}

/// A member of `group` subscribed to the one-partition `topic`, once it holds the partition.
fn assigned_member(target: &Target, group: &str, topic: &str) -> BaseConsumer {
    let member: BaseConsumer = config(
        target,
        &[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
    .create()
    .expect("create group member");
    member.subscribe(&[topic]).expect("subscribe");
    eventually(WAIT * 3, "the member is assigned the partition", || {
        member.poll(Duration::from_millis(100));
        member.assignment().is_ok_and(|a| a.count() == 1)
    });
    member
}

fn commit_to(consumer: &BaseConsumer, topic: &str, partition: i32, offset: i64) {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))
        .expect("partition offset");
    consumer
        .commit(&list, CommitMode::Sync)
        .unwrap_or_else(|e| panic!("commit of {topic}/{partition} at {offset}: {e}"));
}

fn commit(consumer: &BaseConsumer, topic: &str, offset: i64) {
    commit_to(consumer, topic, 0, offset);
}

/// The committed offsets of `topic`'s partitions `0..partitions` as OffsetFetch answers them;
/// `None` where there is none.
fn committed_in(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let mut wanted = TopicPartitionList::new();
    for p in 0..partitions {
        wanted.add_partition(topic, p);
    }
    let answer = consumer
        .committed_offsets(wanted, WAIT)
        .expect("OffsetFetch");
    answer
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        })
        .collect()
}

/// The committed offset of `topic`/0; `None` without one.
fn committed(consumer: &BaseConsumer, topic: &str) -> Option<i64> {
    committed_in(consumer, topic, 1)[0]
}

/// The records of `group`'s `__consumer_offsets` partition, as text.
fn offsets_log(target: &Target, group: &str) -> Vec<String> {
    let partition = raftka::group::offsets_partition(group, OFFSETS_PARTITIONS);
    let reader: BaseConsumer = config(
        target,
        &[
            ("group.id", &unique_name("offsets-reader")),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "true"),
        ],
    )
    .create()
    .expect("create consumer");
    assign(
        &reader,
        "__consumer_offsets",
        &[(partition, Offset::Beginning)],
    );
    consume_to_eof(&reader, partition, WAIT * 2)
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect()
}

/// `group`'s state as ListGroups and DescribeGroups report it to librdkafka; `None` when it is
/// not listed.
fn group_state(consumer: &BaseConsumer, group: &str) -> Option<String> {
    let list = consumer
        .fetch_group_list(Some(group), WAIT)
        .expect("ListGroups and DescribeGroups");
    match list.groups() {
        [] => None,
        [one] => Some(one.state().to_string()),
        more => panic!("{} groups named {group}", more.len()),
    }
}

/// Polls `check` every 200 ms until it holds or `within` passes.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
#[ignore = "needs a broker of its own: sets offsets.topic.num.partitions"]
fn offsets_of_a_deleted_topic_are_dropped_and_not_inherited_by_its_successor() {
    init_logs();
    let partitions = OFFSETS_PARTITIONS.to_string();
    let target = Target::own(&[("offsets.topic.num.partitions", partitions.as_str())]);
    let topic = unique_name("doomed");
    let kept = unique_name("kept");
    create_topic(&target, &topic, 1, &[]);
    create_topic(&target, &kept, 1, &[]);
    let group = unique_name("cleanup");
    let consumer = committer(&target, &group);
    commit(&consumer, &topic, 5);
    commit(&consumer, &kept, 7);
    assert_eq!(committed(&consumer, &topic), Some(5));

    info!("the topic is deleted: its offsets go, the other topic's stay");
    let admin: AdminClient<DefaultClientContext> =
        config(&target, &[]).create().expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let deleted =
        block_on(WAIT * 2, admin.delete_topics(&[&topic], &options)).expect("DeleteTopics");
    assert!(deleted[0].is_ok(), "delete {topic}: {:?}", deleted[0]);
    eventually(
        WAIT,
        "the deleted topic's offset is no longer answered",
        || committed(&consumer, &topic).is_none(),
    );
    assert_eq!(committed(&consumer, &kept), Some(7));
    eventually(WAIT, "cleanup records the removal", || {
        offsets_log(&target, &group)
            .iter()
            .any(|r| r.contains("DropTopic") && r.contains(&topic))
    });

    info!("a new topic of the same name starts without the old offsets");
    create_topic(&target, &topic, 1, &[]);
    assert_eq!(committed(&consumer, &topic), None);
    commit(&consumer, &topic, 2);
    assert_eq!(committed(&consumer, &topic), Some(2));
    assert_eq!(committed(&consumer, &kept), Some(7));
}

#[test]
#[ignore = "needs a broker of its own: sets offsets.retention.minutes"]
fn offsets_of_a_group_without_members_expire_after_the_retention() {
    init_logs();
    let partitions = OFFSETS_PARTITIONS.to_string();
    let target = Target::own(&[
        ("offsets.topic.num.partitions", partitions.as_str()),
        ("offsets.retention.minutes", "1"),
        ("offsets.retention.check.interval.ms", "500"),
        ("group.initial.rebalance.delay.ms", "0"),
    ]);
    let topic = unique_name("retained");
    create_topic(&target, &topic, 1, &[]);

    info!("a standalone committer, and a group whose member stays");
    let idle_group = unique_name("idle");
    let idle = committer(&target, &idle_group);
    commit(&idle, &topic, 3);
    let live_group = unique_name("live");
    let live = assigned_member(&target, &live_group, &topic);
    commit(&live, &topic, 4);
    assert_eq!(committed(&idle, &topic), Some(3));
    assert_eq!(group_state(&idle, &idle_group).as_deref(), Some("Empty"));

    info!("a minute later the idle group's offsets are gone; the member's group keeps its own");
    let retention = Duration::from_secs(60);
    eventually(retention * 2, "the idle group's offsets expire", || {
        // The member keeps its session (heartbeats) while the test waits.
        live.poll(Duration::from_millis(100));
        committed(&idle, &topic).is_none()
    });
    assert_eq!(committed(&live, &topic), Some(4));
    assert_eq!(
        group_state(&idle, &idle_group),
        None,
        "the group is gone with its offsets"
    );
    assert!(
        offsets_log(&target, &idle_group)
            .iter()
            .any(|r| r.contains("Expire") && r.contains(&idle_group)),
        "the expiry is a record of the offsets log"
    );
    assert!(
        !offsets_log(&target, &live_group)
            .iter()
            .any(|r| r.contains("Expire") && r.contains(&live_group)),
        "a group with a member never expires"
    );
}

#[test]
#[ignore = "needs a broker of its own: restarts it"]
fn a_group_known_by_its_offsets_alone_is_listed_after_a_restart() {
    init_logs();
    let mut target = Target::own(&[("group.initial.rebalance.delay.ms", "0")]);
    let topic = unique_name("remembered");
    create_topic(&target, &topic, 1, &[]);
    let group = unique_name("remembered");
    {
        let member = assigned_member(&target, &group, &topic);
        commit(&member, &topic, 9);
    }

    info!("after a kill -9 and restart the group has no members, only its offsets");
    target.kill9_and_restart();
    let reader = committer(&target, &unique_name("observer"));
    let deadline = Instant::now() + WAIT * 2;
    let state = loop {
        // The coordinator may still be loading the offsets partition.
        match reader.fetch_group_list(Some(&group), WAIT) {
            Ok(list) if list.groups().len() == 1 => break list.groups()[0].state().to_string(),
            other => assert!(
                Instant::now() < deadline,
                "group {group} not described: {:?}",
                other.map(|l| l.groups().len())
            ),
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(state, "Empty");
    let owner = committer(&target, &group);
    assert_eq!(committed(&owner, &topic), Some(9));
}

#[test]
#[ignore = "needs a broker of its own: sets offsets.topic.segment.bytes and restarts it"]
fn compaction_deletes_old_offsets_segments_and_keeps_every_commit_through_a_restart() {
    init_logs();
    // Small records and segments: snapshots every ~32 KiB of commits, whole segments purged.
    let mut target = Target::own(&[
        ("offsets.topic.num.partitions", "1"),
        ("message.max.bytes", "1024"),
        ("offsets.topic.segment.bytes", "66560"),
        ("log.retention.check.interval.ms", "200"),
    ]);
    let topic = unique_name("compacted");
    create_topic(&target, &topic, 4, &[]);
    let groups: Vec<String> = (0..3)
        .map(|g| unique_name(&format!("compacted{g}")))
        .collect();
    let committers: Vec<BaseConsumer> = groups.iter().map(|g| committer(&target, g)).collect();
    let all_committed = |consumer: &BaseConsumer| committed_in(consumer, &topic, 4);
    let log_start = || -> i64 {
        let (low, _) = committers[0]
            .fetch_watermarks("__consumer_offsets", 0, WAIT)
            .expect("watermarks of __consumer_offsets");
        low
    };

    info!("commits go by until the offsets log lost its first segments");
    let mut round = 0i64;
    let deadline = Instant::now() + WAIT * 6;
    loop {
        for _ in 0..100 {
            round += 1;
            for (g, consumer) in committers.iter().enumerate() {
                commit_to(consumer, &topic, (round % 4) as i32, round * 10 + g as i64);
            }
        }
        if log_start() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the offsets log was never compacted"
        );
    }
    // The last commit of group g to partition p: the largest round r with r % 4 == p.
    let expected = |g: usize| -> Vec<Option<i64>> {
        (0..4)
            .map(|p| {
                let last = (1..=round).rev().find(|r| r % 4 == p)?;
                Some(last * 10 + g as i64)
            })
            .collect()
    };
    info!(rounds = round, log_start = log_start(), "compacted");
    for (g, consumer) in committers.iter().enumerate() {
        assert_eq!(all_committed(consumer), expected(g), "group {g}");
    }

    info!("after kill -9 and restart the table loads from the snapshot: every commit is there");
    target.kill9_and_restart();
    assert!(
        log_start() > 0,
        "the log still starts past its purged segments"
    );
    for (g, consumer) in committers.iter().enumerate() {
        // The coordinator may still be loading: librdkafka retries that.
        assert_eq!(
            all_committed(consumer),
            expected(g),
            "group {g} after restart"
        );
    }
    commit_to(&committers[0], &topic, 0, 1);
    assert_eq!(all_committed(&committers[0])[0], Some(1));

    info!("clients cannot write the offsets log themselves");
    let producer = future_producer(&target, &[]);
    let record = FutureRecord::<str, str>::to("__consumer_offsets")
        .partition(0)
        .payload("{}");
    match block_on(WAIT * 2, producer.send(record, WAIT)) {
        Err((KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTopic), _)) => {}
        other => panic!("produce to __consumer_offsets: {other:?}"),
    }
}
