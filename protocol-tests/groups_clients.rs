//! Consumer groups with real librdkafka consumers: two members of a group share a 4-partition
//! topic and commit what they read (a partition that moved between them is read again from its
//! last commit: the uncommitted window); after both close, a new member resumes exactly at the
//! committed offsets and nothing is lost; the empty group is then deleted with its offsets. A
//! cooperative-sticky group shares its partitions incrementally: the first member gives up only
//! the partitions that move. A third member joining while messages are produced and read takes
//! partitions over: nothing is lost, and nothing below a committed offset is read again.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::clients::{config, create_topic, future_producer};
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

const PARTITIONS: i32 = 4;
const PER_PARTITION: usize = 50;

/// A member of `group` subscribed to `topic`, reading from the start when nothing is committed.
fn member<C: ConsumerContext + Default>(
    target: &Target,
    group: &str,
    topic: &str,
) -> BaseConsumer<C> {
    let consumer: BaseConsumer<C> = config(
        target,
        &[
            ("group.id", group),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "500"),
        ],
    )
    .create_with_context(C::default())
    .expect("create group member");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// Polls every member in turn until `count` messages arrived in all, or `within` passes.
fn read(members: &[&BaseConsumer], count: usize, within: Duration) -> Vec<(i32, i64)> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        for m in members {
            if let Some(Ok(message)) = m.poll(Duration::from_millis(50)) {
                got.push((message.partition(), message.offset()));
            }
        }
    }
    got
}

#[test]
#[ignore = "needs a broker of its own: sets group.initial.rebalance.delay.ms"]
fn a_group_shares_partitions_commits_and_resumes_where_it_left_off() {
    init_logs();
    let target = Target::own(&[("group.initial.rebalance.delay.ms", "0")]);
    let topic = unique_name("grouped");
    create_topic(&target, &topic, PARTITIONS, &[]);
    let producer = future_producer(&target, &[]);
    for i in 0..PARTITIONS as usize * PER_PARTITION {
        let key = i.to_string();
        let record = FutureRecord::<str, str>::to(&topic)
            .partition((i % PARTITIONS as usize) as i32)
            .key(&key)
            .payload("grouped");
        block_on(WAIT, producer.send(record, WAIT))
            .unwrap_or_else(|(e, _)| panic!("send {i}: {e}"));
    }
    let group = unique_name("group");

    info!("two members share the four partitions and read about half the messages");
    let first = member(&target, &group, &topic);
    let second = member(&target, &group, &topic);
    let half = PARTITIONS as usize * PER_PARTITION / 2;
    let mut seen = read(&[&first, &second], half, WAIT * 3);
    assert!(seen.len() >= half, "read {} of {half}", seen.len());
    let deadline = Instant::now() + WAIT * 3;
    while first.assignment().map_or(0, |a| a.count()) + second.assignment().map_or(0, |a| a.count())
        != PARTITIONS as usize
        || first.assignment().map_or(0, |a| a.count()) == 0
        || second.assignment().map_or(0, |a| a.count()) == 0
    {
        assert!(
            Instant::now() < deadline,
            "the partitions were never split between the two"
        );
        seen.extend(read(
            &[&first, &second],
            usize::MAX,
            Duration::from_millis(200),
        ));
    }
    info!(
        read = seen.len(),
        "both members hold partitions; each commits what it read"
    );
    for m in [&first, &second] {
        m.commit_consumer_state(CommitMode::Sync).expect("commit");
    }
    let committed: BTreeMap<i32, i64> = {
        let mut wanted = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            wanted.add_partition(&topic, p);
        }
        first
            .committed_offsets(wanted, WAIT)
            .expect("OffsetFetch")
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => (e.partition(), o),
                _ => (e.partition(), 0),
            })
            .collect()
    };
    let mut read_to: BTreeMap<i32, i64> = BTreeMap::new();
    for (p, o) in &seen {
        let next = read_to.entry(*p).or_insert(0);
        *next = (*next).max(o + 1);
    }
    for p in 0..PARTITIONS {
        let at = committed.get(&p).copied().unwrap_or(0);
        assert!(
            at <= read_to.get(&p).copied().unwrap_or(0),
            "partition {p}: committed {at} beyond what was read"
        );
    }
    assert!(
        committed.values().sum::<i64>() > 0,
        "something was committed: {committed:?}"
    );
    drop(first);
    drop(second);

    info!("a new member resumes exactly at the committed offsets");
    let third = member(&target, &group, &topic);
    let rest: usize = (0..PARTITIONS)
        .map(|p| PER_PARTITION - committed.get(&p).copied().unwrap_or(0) as usize)
        .sum();
    let resumed = read(&[&third], rest, WAIT * 3);
    assert_eq!(
        resumed.len(),
        rest,
        "everything from the committed offsets on"
    );
    for p in 0..PARTITIONS {
        let offsets: Vec<i64> = resumed
            .iter()
            .filter(|(q, _)| *q == p)
            .map(|(_, o)| *o)
            .collect();
        let from = committed.get(&p).copied().unwrap_or(0);
        let expected: Vec<i64> = (from..PER_PARTITION as i64).collect();
        assert_eq!(
            offsets, expected,
            "partition {p} resumes at {from}, once each, in order"
        );
    }
    let all: BTreeSet<(i32, i64)> = seen.iter().chain(&resumed).copied().collect();
    assert_eq!(
        all.len(),
        PARTITIONS as usize * PER_PARTITION,
        "nothing lost"
    );
    drop(third);

    info!("the empty group is deleted, offsets and all");
    let admin: AdminClient<DefaultClientContext> =
        config(&target, &[]).create().expect("admin client");
    let deadline = Instant::now() + WAIT;
    loop {
        let results = block_on(WAIT, admin.delete_groups(&[&group], &AdminOptions::new()))
            .expect("DeleteGroups");
        match &results[0] {
            Ok(_) => break,
            // The last member's leave may still be under way.
            Err((_, e)) => assert!(Instant::now() < deadline, "deleting {group}: {e}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let results =
        block_on(WAIT, admin.delete_groups(&[&group], &AdminOptions::new())).expect("DeleteGroups");
    assert!(results[0].is_err(), "a deleted group is not found again");
}

/// Records the size of every revocation a member sees.
#[derive(Default)]
struct Revocations(std::sync::Mutex<Vec<usize>>);

impl Revocations {
    /// How many revocations were seen.
    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl rdkafka::ClientContext for Revocations {}

impl ConsumerContext for Revocations {
    fn pre_rebalance(
        &self,
        _consumer: &BaseConsumer<Self>,
        rebalance: &rdkafka::consumer::Rebalance<'_>,
    ) {
        if let rdkafka::consumer::Rebalance::Revoke(partitions) = rebalance {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(partitions.count());
        }
    }
}

#[test]
#[ignore = "needs a broker of its own: sets group.initial.rebalance.delay.ms"]
fn a_cooperative_sticky_group_rebalances_incrementally() {
    init_logs();
    let target = Target::own(&[("group.initial.rebalance.delay.ms", "0")]);
    let topic = unique_name("cooperative");
    create_topic(&target, &topic, PARTITIONS, &[]);
    let group = unique_name("cooperative");
    let member = || -> BaseConsumer<Revocations> {
        let consumer: BaseConsumer<Revocations> = config(
            &target,
            &[
                ("group.id", group.as_str()),
                ("partition.assignment.strategy", "cooperative-sticky"),
                ("session.timeout.ms", "6000"),
                ("heartbeat.interval.ms", "500"),
            ],
        )
        .create_with_context(Revocations::default())
        .expect("group member");
        consumer.subscribe(&[&topic]).expect("subscribe");
        consumer
    };
    let assigned = |c: &BaseConsumer<Revocations>| c.assignment().map_or(0, |a| a.count());

    info!("the first member takes all four partitions");
    let first = member();
    let deadline = Instant::now() + WAIT * 2;
    while assigned(&first) != PARTITIONS as usize {
        assert!(
            Instant::now() < deadline,
            "first member never got all partitions"
        );
        let _ = first.poll(Duration::from_millis(50));
    }

    info!("a second member joins: the first gives up only what moves, keeping the rest");
    let second = member();
    let deadline = Instant::now() + WAIT * 3;
    while assigned(&first) + assigned(&second) != PARTITIONS as usize || assigned(&second) == 0 {
        assert!(
            Instant::now() < deadline,
            "the partitions were never shared"
        );
        let _ = first.poll(Duration::from_millis(50));
        let _ = second.poll(Duration::from_millis(50));
    }
    assert_eq!(assigned(&first), PARTITIONS as usize / 2);
    assert_eq!(assigned(&second), PARTITIONS as usize / 2);
    let revoked = first
        .context()
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        revoked.iter().all(|n| *n < PARTITIONS as usize),
        "an incremental rebalance never revokes everything: {revoked:?}"
    );
    assert_eq!(
        revoked.iter().sum::<usize>(),
        PARTITIONS as usize / 2,
        "{revoked:?}"
    );
}

/// One member of the mid-stream test: what it read since its last successful commit.
struct Reader {
    consumer: BaseConsumer<Revocations>,
    /// Partition -> the offset after the last message read, not yet committed.
    uncommitted: BTreeMap<i32, i64>,
    read_since_commit: usize,
    /// Revocations seen when `uncommitted` was started.
    revocations: usize,
}

impl Reader {
    fn new(consumer: BaseConsumer<Revocations>) -> Reader {
        Reader {
            consumer,
            uncommitted: BTreeMap::new(),
            read_since_commit: 0,
            revocations: 0,
        }
    }

    /// Records a message read. What was read before a rebalance is never committed after it:
    /// the partitions' positions were fetched again from the committed offsets, so their new
    /// owner (this member or another) reads that window again.
    fn read(&mut self, partition: i32, offset: i64) {
        let revocations = self.consumer.context().count();
        if revocations != self.revocations {
            self.revocations = revocations;
            self.uncommitted.clear();
        }
        self.uncommitted.insert(partition, offset + 1);
        self.read_since_commit += 1;
    }

    /// Commits what was read of the partitions still assigned; what was read of the others
    /// stays uncommitted (their new owner reads it again). Returns what was committed.
    fn commit(&mut self, topic: &str) -> Vec<(i32, i64)> {
        if self.consumer.context().count() != self.revocations {
            self.uncommitted.clear();
        }
        let assigned: BTreeSet<i32> = self
            .consumer
            .assignment()
            .map(|a| a.elements().iter().map(|e| e.partition()).collect())
            .unwrap_or_default();
        self.uncommitted.retain(|p, _| assigned.contains(p));
        self.read_since_commit = 0;
        if self.uncommitted.is_empty() {
            return Vec::new();
        }
        let mut list = TopicPartitionList::new();
        for (p, next) in &self.uncommitted {
            list.add_partition_offset(topic, *p, Offset::Offset(*next))
                .expect("partition offset");
        }
        match self.consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => std::mem::take(&mut self.uncommitted).into_iter().collect(),
            // Refused during a rebalance: still uncommitted.
            Err(e) => {
                info!(error = %e, "commit refused");
                Vec::new()
            }
        }
    }
}

#[test]
#[ignore = "needs a broker of its own: sets group.initial.rebalance.delay.ms"]
fn a_member_joining_mid_stream_loses_nothing_and_repeats_only_uncommitted_messages() {
    init_logs();
    let target = Target::own(&[("group.initial.rebalance.delay.ms", "0")]);
    const TOTAL: usize = 1200;
    const COMMIT_EVERY: usize = 10;
    let topic = unique_name("midstream");
    create_topic(&target, &topic, PARTITIONS, &[]);
    let group = unique_name("midstream");

    info!("a producer writes while two members read and commit every {COMMIT_EVERY} messages");
    let producer = future_producer(&target, &[("linger.ms", "1")]);
    let mut producing = Some({
        let topic = topic.clone();
        std::thread::spawn(move || {
            (0..TOTAL)
                .map(|i| {
                    let key = i.to_string();
                    let record = FutureRecord::<str, str>::to(&topic)
                        .partition((i % PARTITIONS as usize) as i32)
                        .key(&key)
                        .payload("midstream");
                    let delivered = block_on(WAIT, producer.send(record, WAIT))
                        .unwrap_or_else(|(e, _)| panic!("send {i}: {e}"));
                    std::thread::sleep(Duration::from_millis(2));
                    (delivered.partition, delivered.offset)
                })
                .collect::<BTreeSet<(i32, i64)>>()
        })
    });
    let mut readers = vec![
        Reader::new(member(&target, &group, &topic)),
        Reader::new(member(&target, &group, &topic)),
    ];
    // Partition -> the group's committed offset, as successful commits moved it.
    let mut committed_to: BTreeMap<i32, i64> = BTreeMap::new();
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    let mut reread_committed = Vec::new();
    let mut third_assigned = false;
    let mut produced = None;
    let deadline = Instant::now() + WAIT * 9;
    loop {
        if let Some(thread) = producing.take_if(|t| t.is_finished()) {
            produced = Some(thread.join().expect("producer thread"));
            info!(read = seen.len(), "the producer is done");
        }
        if let Some(all) = &produced
            && all.iter().all(|m| seen.contains_key(m))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "read {} distinct messages of {TOTAL} in time",
            seen.len()
        );
        if readers.len() == 2 && seen.len() >= TOTAL / 3 {
            info!(
                read = seen.len(),
                producing = produced.is_none(),
                "a third member joins"
            );
            readers.push(Reader::new(member(&target, &group, &topic)));
        }
        for reader in &mut readers {
            if let Some(Ok(message)) = reader.consumer.poll(Duration::from_millis(20)) {
                let at = (message.partition(), message.offset());
                if at.1 < committed_to.get(&at.0).copied().unwrap_or(0) {
                    reread_committed.push(at);
                }
                *seen.entry(at).or_default() += 1;
                reader.read(at.0, at.1);
            }
            if reader.read_since_commit >= COMMIT_EVERY {
                for (p, next) in reader.commit(&topic) {
                    let to = committed_to.entry(p).or_insert(0);
                    *to = (*to).max(next);
                }
            }
        }
        third_assigned |= readers
            .get(2)
            .is_some_and(|r| r.consumer.assignment().is_ok_and(|a| a.count() > 0));
    }
    // Leave one at a time, each polled until its leave is through: closing members whose
    // rebalances are still being served can stall librdkafka's close.
    for reader in readers {
        reader.consumer.unsubscribe();
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until && reader.consumer.assignment().is_ok_and(|a| a.count() > 0) {
            let _ = reader.consumer.poll(Duration::from_millis(50));
        }
    }
    let repeated = seen.values().filter(|n| **n > 1).count();
    info!(
        repeated,
        commits = ?committed_to,
        "every message read; repeats come from uncommitted windows"
    );
    assert!(third_assigned, "the third member was given partitions");
    assert!(
        reread_committed.is_empty(),
        "messages read again below their group's committed offset: {reread_committed:?}"
    );
    let produced = produced.unwrap_or_default();
    assert_eq!(produced.len(), TOTAL, "every message acknowledged");
    assert!(
        seen.keys().all(|m| produced.contains(m)),
        "only produced messages were read"
    );
    assert!(
        committed_to.values().sum::<i64>() > 0,
        "commits succeeded along the way"
    );
}
