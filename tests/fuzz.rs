//! The fuzz targets of `tests/fuzz/targets.rs` run in the test suite: real client requests,
//! record batches and segment files as seeds, each mutated many times over by a seeded
//! generator (flipped, overwritten, inserted, deleted, truncated and spliced bytes), so a run is
//! the same every time and takes seconds. libFuzzer's coverage-guided runs of the same targets
//! are `cargo fuzz run <target>` in `fuzz/` (README: Fuzzing).

#[path = "fuzz/targets.rs"]
mod targets;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use raftka::storage::{AppendEntry, Log, LogConfig, RecordsMeta};
use raftka::types::{KafkaOffset, LogIndex, Term};

/// xorshift64*: a fixed sequence for a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// `seed` changed in one to eight places; `other` gives spliced-in bytes.
fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(7) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = [0x00, 0xff, 0x7f, 0x80][rng.below(4)],
            2 => {
                let n = 1 + rng.below(8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                out.splice(at..at, bytes);
            }
            3 if at < out.len() => {
                let end = (at + 1 + rng.below(16)).min(out.len());
                out.drain(at..end);
            }
            4 => out.truncate(at),
            5 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                out.splice(at..at, other[from..end].iter().copied());
            }
            _ if at + 4 <= out.len() => {
                // A length or count field set to something extreme.
                let value: i32 = [i32::MAX, -1, i32::MIN, 0x7fff, 1 << 20][rng.below(5)];
                out[at..at + 4].copy_from_slice(&value.to_be_bytes());
            }
            _ => {}
        }
    }
    out
}

/// Runs `target` over `rounds` mutations of `seeds` (and the seeds themselves).
fn fuzz(seeds: &[Vec<u8>], rounds: usize, seed: u64, target: impl Fn(&[u8])) {
    for s in seeds {
        target(s);
    }
    let mut rng = Rng(seed);
    for _ in 0..rounds {
        let base = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        target(&mutate(&mut rng, base, other));
    }
}

/// A request frame (header and body, no length prefix) as a client encodes it.
fn frame<Req: Encodable>(key: ApiKey, version: i16, request: &Req) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("header");
    request.encode(&mut buf, version).expect("body");
    buf.to_vec()
}

fn client_batch(records: usize, compression: Compression) -> Vec<u8> {
    let records: Vec<Record> = (0..records)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: 4,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i as i64,
            key: (i % 3 != 0).then(|| Bytes::from(format!("key-{i}"))),
            value: (i % 5 != 0).then(|| Bytes::from(vec![b'v'; 20 + i])),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut out, &records, &options).expect("encode");
    out.to_vec()
}

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn request_seeds() -> Vec<Vec<u8>> {
    let topic = TopicName(name("fuzzed"));
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![
            produce_request::TopicProduceData::default()
                .with_name(topic.clone())
                .with_partition_data(vec![
                    produce_request::PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(Bytes::from(client_batch(3, Compression::None)))),
                ]),
        ]);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(100)
        .with_topics(vec![
            fetch_request::FetchTopic::default()
                .with_topic(topic.clone())
                .with_partitions(vec![
                    fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let metadata = MetadataRequest::default().with_topics(Some(vec![
        metadata_request::MetadataRequestTopic::default().with_name(Some(topic.clone())),
    ]));
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(topic.clone())
            .with_num_partitions(3)
            .with_replication_factor(1)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(name("cleanup.policy"))
                    .with_value(Some(name("compact"))),
            ]),
    ]);
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(name("group")))
        .with_session_timeout_ms(10_000)
        .with_member_id(name(""))
        .with_protocol_type(name("consumer"))
        .with_protocols(vec![
            join_group_request::JoinGroupRequestProtocol::default()
                .with_name(name("range"))
                .with_metadata(Bytes::from_static(b"subscription")),
        ]);
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(name("group")))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(topic.clone())
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_committed_offset(5),
                ]),
        ]);
    vec![
        frame(ApiKey::ApiVersions, 3, &ApiVersionsRequest::default()),
        frame(ApiKey::Metadata, 12, &metadata),
        frame(ApiKey::Produce, 9, &produce),
        frame(ApiKey::Fetch, 12, &fetch),
        frame(ApiKey::CreateTopics, 7, &create),
        frame(ApiKey::JoinGroup, 9, &join),
        frame(ApiKey::OffsetCommit, 8, &commit),
    ]
}

#[test]
fn request_frames_never_panic() {
    fuzz(
        &request_seeds(),
        200_000,
        0x5eed_0001,
        targets::request_frame,
    );
}

#[test]
fn produce_records_never_panic() {
    let seeds: Vec<Vec<u8>> = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .map(|codec| client_batch(6, codec))
    .chain([[
        client_batch(2, Compression::None),
        client_batch(1, Compression::None),
    ]
    .concat()])
    .collect();
    fuzz(&seeds, 50_000, 0x5eed_0002, targets::produce_records);
}

/// A segment file a log wrote: entries of several kinds and sizes.
fn segment_seed() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = LogConfig {
        segment_bytes: 64 << 10,
        index_interval_bytes: 256,
        ..LogConfig::DEFAULT
    };
    let mut log = Log::open(dir.path(), config).expect("open");
    let mut next = KafkaOffset(0);
    let entries: Vec<AppendEntry> = (1..40u64)
        .map(|i| {
            let records = (i % 4 != 0).then(|| {
                let meta = RecordsMeta {
                    base_offset: next,
                    offset_count: 1 + (i % 3) as u32,
                    max_timestamp: 1000 + i as i64,
                };
                next = next.plus(meta.offset_count);
                meta
            });
            AppendEntry {
                index: LogIndex(i),
                term: Term(1 + i / 20),
                kind: if records.is_some() { 3 } else { 1 },
                records,
                payload: [
                    Bytes::from(vec![i as u8; 30 + (i as usize * 17) % 300]),
                    Bytes::new(),
                ],
            }
        })
        .collect();
    log.append(entries).expect("append");
    log.sync().expect("sync");
    drop(log);
    std::fs::read(dir.path().join(format!("{:020}.log", 1))).expect("segment")
}

#[test]
fn damaged_segments_never_panic() {
    let seed = segment_seed();
    let written = seed.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    let seeds = vec![seed[..written].to_vec(), seed];
    fuzz(&seeds, 1_500, 0x5eed_0003, targets::damaged_segment);
}
