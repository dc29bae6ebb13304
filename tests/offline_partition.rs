//! A partition whose files will not open fails alone: the broker starts, every other partition
//! produces and fetches, the damaged ones answer KAFKA_STORAGE_ERROR to Produce and Fetch and
//! LEADER_NOT_AVAILABLE (this broker listed offline) to Metadata, each failure is logged once,
//! a repaired partition opens again without a restart, and deleting the topic removes the files
//! of one that never opened. Raw frames, so the codes are exact.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    FetchRequest, FetchResponse, MetadataRequest, MetadataResponse, ProduceRequest,
    ProduceResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;
use tracing::info;

use common::process::Broker;
use common::raft::{encode_batch, records_of};
use common::wire::{call, connect};
use common::{WAIT, init_logs};

const TOPIC: &str = "fail-alone";
const PARTITIONS: i32 = 4;
/// Its directory replaced by a plain file: never repaired in this test.
const UNCREATABLE: i32 = 0;
/// A garbage vote file: repaired (the original put back) while the broker runs.
const BAD_VOTE: i32 = 2;
const NONE: i16 = 0;
const LEADER_NOT_AVAILABLE: i16 = 5;
const KAFKA_STORAGE_ERROR: i16 = 56;

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

fn create_topic(conn: &mut TcpStream) {
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(TOPIC))
                .with_num_partitions(PARTITIONS)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(WAIT.as_millis() as i32);
    let response: CreateTopicsResponse = call(conn, ApiKey::CreateTopics, 7, &request);
    assert_eq!(response.topics[0].error_code, NONE, "{response:?}");
}

/// Produces batch `i` (acks=all) to every partition: `(error code, base offset)` of each.
fn produce(conn: &mut TcpStream, i: usize) -> Vec<(i16, i64)> {
    let batch = encode_batch(&records_of(i));
    let request = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(WAIT.as_millis() as i32)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(TOPIC))
                .with_partition_data(
                    (0..PARTITIONS)
                        .map(|p| {
                            PartitionProduceData::default()
                                .with_index(p)
                                .with_records(Some(batch.bytes().clone()))
                        })
                        .collect(),
                ),
        ]);
    let response: ProduceResponse = call(conn, ApiKey::Produce, 9, &request);
    let mut answers: Vec<_> = response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, p.error_code, p.base_offset))
        .collect();
    answers.sort_unstable();
    answers.into_iter().map(|(_, e, o)| (e, o)).collect()
}

/// Fetches every partition from offset 0: `(error code, record count)` of each.
fn fetch(conn: &mut TcpStream) -> Vec<(i16, usize)> {
    let request = FetchRequest::default()
        .with_replica_id(kafka_protocol::messages::BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name(TOPIC))
                .with_partitions(
                    (0..PARTITIONS)
                        .map(|p| {
                            FetchPartition::default()
                                .with_partition(p)
                                .with_fetch_offset(0)
                                .with_current_leader_epoch(-1)
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                ),
        ]);
    let response: FetchResponse = call(conn, ApiKey::Fetch, 12, &request);
    let mut answers: Vec<_> = response.responses[0]
        .partitions
        .iter()
        .map(|p| {
            let records = p.records.clone().map_or(0, |mut bytes| {
                RecordBatchDecoder::decode_all(&mut bytes)
                    .expect("fetched batches decode")
                    .iter()
                    .map(|set| set.records.len())
                    .sum()
            });
            (p.partition_index, p.error_code, records)
        })
        .collect();
    answers.sort_unstable();
    answers.into_iter().map(|(_, e, n)| (e, n)).collect()
}

/// Metadata of the topic: `(error code, leader, offline replicas)` of each partition.
fn metadata(conn: &mut TcpStream) -> Vec<(i16, i32, Vec<i32>)> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(name(TOPIC))),
        ]))
        .with_allow_auto_topic_creation(false);
    let response: MetadataResponse = call(conn, ApiKey::Metadata, 12, &request);
    let topic = &response.topics[0];
    assert_eq!(topic.error_code, NONE, "{response:?}");
    let mut answers: Vec<_> = topic
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.error_code,
                p.leader_id.0,
                p.offline_replicas.iter().map(|b| b.0).collect(),
            )
        })
        .collect();
    answers.sort_unstable();
    answers.into_iter().map(|(_, e, l, o)| (e, l, o)).collect()
}

/// The directory of `partition` of `topic`.
fn partition_dir(data: &Path, topic: &str, partition: i32) -> PathBuf {
    common::partition_dir(data, topic, partition)
        .unwrap_or_else(|| panic!("not exactly one directory of {topic}-{partition}"))
}

/// Lines of the broker's log holding every one of `words`.
fn log_lines(broker: &Broker, words: &[&str]) -> usize {
    let log = broker.data_dir().with_file_name("broker.log");
    let text = std::fs::read_to_string(log).expect("read the broker log");
    text.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .count()
}

#[test]
fn a_partition_that_will_not_open_fails_alone() {
    init_logs();
    let mut broker = Broker::start(&[]);
    let mut conn = connect(broker.addr);
    create_topic(&mut conn);

    info!("phase: one batch in every partition, then the broker stops");
    let first = produce(&mut conn, 1);
    assert_eq!(first, vec![(NONE, 0); PARTITIONS as usize]);
    let batch_records = records_of(1).len();
    drop(conn);
    broker.process.stop();

    info!("phase: while it is down, two partitions are damaged");
    let data = broker.data_dir();
    let uncreatable = partition_dir(&data, TOPIC, UNCREATABLE);
    std::fs::remove_dir_all(&uncreatable).expect("remove a partition directory");
    std::fs::write(&uncreatable, b"not a directory").expect("a file in its place");
    let vote = partition_dir(&data, TOPIC, BAD_VOTE).join(raftka::raft::VOTE_FILE);
    let good_vote = std::fs::read(&vote).expect("read the vote file");
    std::fs::write(&vote, vec![0xA5; good_vote.len().max(16)]).expect("garble the vote file");

    info!("phase: the broker starts anyway; the damaged partitions answer their error codes");
    broker.restart();
    let mut conn = connect(broker.addr);
    let damaged = |p: i32| p == UNCREATABLE || p == BAD_VOTE;
    let described = metadata(&mut conn);
    let node = described[1].1;
    assert!(node >= 0, "a healthy partition has a leader: {described:?}");
    for (p, (error, leader, offline)) in (0..PARTITIONS).zip(&described) {
        if damaged(p) {
            assert_eq!(
                (*error, *leader, offline.clone()),
                (LEADER_NOT_AVAILABLE, -1, vec![node]),
                "partition {p}"
            );
        } else {
            assert_eq!(
                (*error, *leader, offline.clone()),
                (NONE, node, vec![]),
                "partition {p}"
            );
        }
    }
    let second = produce(&mut conn, 2);
    let fetched = fetch(&mut conn);
    for p in 0..PARTITIONS {
        let (produced, read) = (second[p as usize], fetched[p as usize]);
        if damaged(p) {
            assert_eq!(produced.0, KAFKA_STORAGE_ERROR, "produce to partition {p}");
            assert_eq!(read, (KAFKA_STORAGE_ERROR, 0), "fetch from partition {p}");
        } else {
            assert_eq!(
                produced,
                (NONE, batch_records as i64),
                "produce to partition {p}"
            );
            let both = batch_records + records_of(2).len();
            assert_eq!(read, (NONE, both), "fetch from partition {p}");
        }
    }

    info!("phase: the vote file is put back; the partition opens on a later attempt, data intact");
    std::fs::write(&vote, &good_vote).expect("restore the vote file");
    let deadline = Instant::now() + WAIT;
    loop {
        let (error, _) = produce(&mut conn, 3)[BAD_VOTE as usize];
        if error == NONE {
            break;
        }
        assert_eq!(error, KAFKA_STORAGE_ERROR, "while still failed");
        assert!(
            Instant::now() < deadline,
            "the repaired partition did not open within {WAIT:?}:\n{}",
            broker.process.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let fetched = fetch(&mut conn);
    assert_eq!(
        fetched[BAD_VOTE as usize],
        (NONE, batch_records + records_of(3).len()),
        "the repaired partition holds what it held, then the new batch"
    );
    assert_eq!(fetched[UNCREATABLE as usize], (KAFKA_STORAGE_ERROR, 0));
    assert_eq!(metadata(&mut conn)[BAD_VOTE as usize], (NONE, node, vec![]));

    info!("phase: each failure was logged once, though retried; the broker still runs");
    // The partitions are retried in order in one pass, so the one never repaired was tried
    // again (and failed) at least as often as the repaired one before it opened.
    let failure = "partition replica does not open;";
    let topic_field = format!("topic={TOPIC}");
    for p in [UNCREATABLE, BAD_VOTE] {
        let partition_field = format!("partition={p}");
        assert_eq!(
            log_lines(&broker, &[failure, &topic_field, &partition_field]),
            1,
            "failure lines of partition {p}:\n{}",
            broker.process.log_tail()
        );
    }
    assert_eq!(
        log_lines(&broker, &["partition replica opened", &topic_field]),
        1
    );
    assert!(
        broker.process.wait_exit(Duration::ZERO).is_none(),
        "the broker exited"
    );

    info!("phase: deleting the topic removes the files of the partition that never opened too");
    let request = DeleteTopicsRequest::default()
        .with_topic_names(vec![name(TOPIC)])
        .with_timeout_ms(WAIT.as_millis() as i32);
    let response: DeleteTopicsResponse = call(&mut conn, ApiKey::DeleteTopics, 4, &request);
    assert_eq!(response.responses[0].error_code, NONE, "{response:?}");
    assert!(!uncreatable.exists(), "{} survived", uncreatable.display());
    drop(conn);
    broker.process.stop();
}
