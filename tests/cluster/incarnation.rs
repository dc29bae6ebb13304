//! A topic deleted and created again while one of its replicas' nodes is down: that node must
//! never bring the old incarnation's log back. Its directory and Raft instance name carry the topic
//! id, so the old log is neither opened as the new topic's nor heard by the new group, and it is
//! deleted once the node learns of the change from the metadata log.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication, TopicResult};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::Producer;
use tracing::info;

use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::faults::{high_watermark, send_all};
use crate::harness::{Cluster, client_config, leaders, metadata_until};
use crate::{Deliveries, create_topic, producer, read_all};

/// Messages of the old incarnation: more than of the new one, so its log is the longer.
const OLD: usize = 3_000;
/// Ids of the new incarnation's messages start here.
const NEW_BASE: usize = 1_000_000;
const NEW: usize = 500;

/// Runs an admin request on `topic` until it is done, at most [`WAIT`] twice: librdkafka
/// sends it to the controller its metadata names, which may be the node just stopped until the
/// others elect another; a timeout or lost connection there is retried, and `done_before`
/// (what a retry gets when an earlier attempt went through after all) counts as done.
fn until_done(
    topic: &str,
    what: &str,
    done_before: RDKafkaErrorCode,
    request: impl Fn() -> KafkaResult<Vec<TopicResult>>,
) {
    let deadline = Instant::now() + WAIT * 2;
    let mut retried = false;
    loop {
        let outcome = match request() {
            Ok(results) => results.into_iter().next().expect("one topic's result"),
            // A request-level failure (such as the controller's connection timing out)
            // comes as `AdminOp`, whose code `rdkafka_error_code` does not give.
            Err(KafkaError::AdminOp(code)) => Err((topic.to_string(), code)),
            Err(e) => Err((
                topic.to_string(),
                e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
            )),
        };
        match outcome {
            Ok(_) => return,
            Err((_, code)) if retried && code == done_before => return,
            Err((
                _,
                code @ (RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::NotController),
            )) if Instant::now() < deadline => {
                info!(topic, what, ?code, "failed on the way; again");
                retried = true;
            }
            Err((_, code)) => panic!("{what} {topic}: {code:?}"),
        }
    }
}

/// Deletes `topic`, then creates it again (one partition, three replicas), through `bootstrap`.
fn recreate_topic(bootstrap: &str, topic: &str) {
    let admin: AdminClient<DefaultClientContext> = client_config(bootstrap, &[])
        .create()
        .expect("admin client");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    until_done(
        topic,
        "delete",
        RDKafkaErrorCode::UnknownTopicOrPartition,
        || block_on(WAIT * 2, admin.delete_topics(&[topic], &options)),
    );
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(3));
    until_done(
        topic,
        "create",
        RDKafkaErrorCode::TopicAlreadyExists,
        || block_on(WAIT * 2, admin.create_topics([&new], &options)),
    );
}

/// Produces `ids` with acks=all through `bootstrap`; every one must be acknowledged.
fn produce_acked(bootstrap: &str, topic: &str, ids: std::ops::Range<usize>) -> HashSet<usize> {
    let deliveries = Deliveries::default();
    let producer = producer(bootstrap, &deliveries);
    send_all(&producer, topic, ids.clone(), 1, None);
    producer.flush(WAIT * 2).expect("flush");
    drop(producer);
    assert!(deliveries.failed().is_empty(), "{:?}", deliveries.failed());
    let acked: HashSet<usize> = deliveries.acked().into_iter().collect();
    assert_eq!(acked.len(), ids.len(), "acknowledged");
    acked
}

#[test]
fn a_topic_recreated_while_a_replica_was_down_never_gets_the_old_log_back() {
    init_logs();
    let mut cluster = Cluster::start(&[1, 2, 3]);
    let topic = unique_name("reborn");
    let all = cluster.bootstrap(&[1, 2, 3]);
    create_topic(&all, &topic, 1);

    info!("the old incarnation: {OLD} acknowledged messages, on node 3 too");
    produce_acked(&all, &topic, 0..OLD / 2);
    info!("two leader changes: the old log's last term is above any the new group reaches");
    for _ in 0..2 {
        let old_leader = leaders(&all, &topic, WAIT)[0];
        cluster.node(old_leader as u64).kill9();
        let others: Vec<u64> = (1..=3).filter(|id| *id != old_leader as u64).collect();
        metadata_until(
            &cluster.bootstrap(&others),
            Some(&topic),
            WAIT,
            "a new leader",
            |m| {
                m.topics().iter().any(|t| {
                    t.name() == topic
                        && t.partitions()
                            .iter()
                            .all(|p| p.leader() >= 1 && p.leader() != old_leader)
                })
            },
        );
        cluster.node(old_leader as u64).spawn();
        cluster.node(old_leader as u64).wait_ready();
    }
    produce_acked(&all, &topic, OLD / 2..OLD);
    let old_end = high_watermark(&all, &topic, 0);
    let deadline = Instant::now() + WAIT;
    while cluster.node(3).dump_log(&topic, 0).next_offset < old_end {
        assert!(Instant::now() < deadline, "node 3 did not catch up");
        std::thread::sleep(Duration::from_millis(100));
    }
    let old_dir = cluster.node(3).partition_dir(&topic, 0);

    info!("node 3 stops; the topic is deleted and created again through the two others");
    cluster.node(3).stop();
    let up = cluster.bootstrap(&[1, 2]);
    recreate_topic(&up, &topic);

    info!("the new incarnation: {NEW} acknowledged messages while node 3 is down");
    let acked = produce_acked(&up, &topic, NEW_BASE..NEW_BASE + NEW);
    let leader = leaders(&up, &topic, WAIT)[0] as u64;
    let survivor = [1, 2].into_iter().find(|id| *id != leader).unwrap_or(1);

    info!(
        leader,
        survivor, "kill -9 of the new leader; node 3 comes back on its old files"
    );
    cluster.node(leader).kill9();
    cluster.node(3).spawn();
    cluster.node(3).wait_ready();

    info!("node 3 and the survivor alone: every acknowledged write and nothing of the old topic");
    let check = |bootstrap: &str, when: &str| {
        let seen = read_all(bootstrap, &topic, 1, &acked, WAIT * 2);
        let mut missing: Vec<_> = acked.iter().filter(|id| !seen.contains_key(id)).collect();
        missing.sort_unstable();
        assert!(
            missing.is_empty(),
            "{when}: {} acknowledged writes missing, from {:?}",
            missing.len(),
            missing.first()
        );
        let old: Vec<_> = seen.keys().filter(|id| **id < NEW_BASE).collect();
        assert!(
            old.is_empty(),
            "{when}: {} of the old incarnation's messages are back, from {:?}",
            old.len(),
            old.first()
        );
    };
    check(
        &cluster.bootstrap(&[survivor, 3]),
        "node 3 and the survivor",
    );

    info!("the killed leader restarts; all three agree");
    cluster.node(leader).spawn();
    cluster.node(leader).wait_ready();
    check(&cluster.bootstrap(&[1, 2, 3]), "all three");

    info!("node 3 deleted the old incarnation's directory and holds the new one's");
    let deadline = Instant::now() + WAIT;
    while old_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "node 3 kept {}:\n{}",
            old_dir.display(),
            cluster.node(3).log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ne!(cluster.node(3).partition_dir(&topic, 0), old_dir);
}
