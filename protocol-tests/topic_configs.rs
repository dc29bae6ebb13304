//! Every Kafka topic config over the wire: CreateTopics, DescribeConfigs and
//! IncrementalAlterConfigs of all of them, invalid values refused, and the settings that change
//! what Produce does: LogAppendTime, the topic codec, timestamp bounds, keys on compacted
//! topics. Also the internal topics Kafka Connect and Kafka Streams create.

use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use kafka_protocol::ResponseError;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use rdkafka::Message;
use rdkafka::message::Timestamp;
use rdkafka::topic_partition_list::Offset;
use tracing::info;

use crate::admin::{admin, create};
use crate::admin_raw::incremental;
use crate::clients::{assign, consume, consumer};
use crate::common::raw::{Producer, batch, produce_request};
use crate::common::wire::call;
use crate::common::{init_logs, process, unique_name};
use crate::harness::Target;

const SET: i8 = 0;
const TOPIC_RESOURCE: i8 = 2;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

/// Every topic key of Kafka 4.x with two valid values, neither Kafka's default where the key
/// allows it: one for CreateTopics, one for IncrementalAlterConfigs.
const EVERY_KEY: &[(&str, &str, &str)] = &[
    ("cleanup.policy", "compact,delete", "compact"),
    ("compression.gzip.level", "5", "9"),
    ("compression.lz4.level", "12", "1"),
    ("compression.type", "gzip", "lz4"),
    ("compression.zstd.level", "-5", "19"),
    ("delete.retention.ms", "1000", "2000"),
    ("file.delete.delay.ms", "1", "2"),
    ("flush.messages", "10", "20"),
    ("flush.ms", "100", "200"),
    ("follower.replication.throttled.replicas", "0:1", "*"),
    ("index.interval.bytes", "1024", "2048"),
    ("leader.replication.throttled.replicas", "*", "0:1,0:2"),
    ("local.retention.bytes", "1000", "-1"),
    ("local.retention.ms", "1000", "2000"),
    ("max.compaction.lag.ms", "100000", "200000"),
    ("max.message.bytes", "100000", "200000"),
    ("message.timestamp.after.max.ms", "1000", "2000"),
    ("message.timestamp.before.max.ms", "1000", "2000"),
    ("message.timestamp.type", "LogAppendTime", "CreateTime"),
    ("min.cleanable.dirty.ratio", "0.25", "0.75"),
    ("min.compaction.lag.ms", "10", "20"),
    ("min.insync.replicas", "2", "3"),
    ("preallocate", "true", "false"),
    ("remote.log.copy.disable", "true", "false"),
    ("remote.log.delete.on.disable", "true", "false"),
    // true is refused without tiered storage, as Kafka refuses it.
    ("remote.storage.enable", "false", "false"),
    ("retention.bytes", "100000", "200000"),
    ("retention.ms", "100000", "-1"),
    ("segment.bytes", "1048576", "2097152"),
    ("segment.index.bytes", "4096", "8192"),
    ("segment.jitter.ms", "10", "20"),
    ("segment.ms", "100000", "200000"),
    ("unclean.leader.election.enable", "true", "false"),
];

/// Kafka's config type codes of some keys (DescribeConfigs v3+).
const TYPES: &[(&str, i8)] = &[
    ("cleanup.policy", 7),
    ("min.cleanable.dirty.ratio", 6),
    ("preallocate", 1),
    ("compression.type", 2),
    ("segment.bytes", 3),
    ("retention.ms", 5),
    ("leader.replication.throttled.replicas", 7),
];

/// CreateTopics v7 of a one-partition topic with `configs`: the error code and message.
fn create_raw(conn: &mut TcpStream, name: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
    let configs = configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(s(k))
                .with_value(Some(s(v)))
        })
        .collect();
    let request = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(TopicName(s(name)))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(configs),
        ])
        .with_timeout_ms(10_000);
    let response: CreateTopicsResponse = call(conn, ApiKey::CreateTopics, 7, &request);
    let topic = &response.topics[0];
    (
        topic.error_code,
        topic.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// DescribeConfigs v4 of every setting of `topic`: (name, value, source, type).
fn describe_raw(conn: &mut TcpStream, topic: &str) -> Vec<(String, String, i8, i8)> {
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s(topic))
                .with_configuration_keys(None),
        ])
        .with_include_synonyms(true);
    let response: DescribeConfigsResponse = call(conn, ApiKey::DescribeConfigs, 4, &request);
    let result = &response.results[0];
    assert_eq!(result.error_code, 0, "{result:?}");
    result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(|v| v.to_string()).unwrap_or_default(),
                c.config_source,
                c.config_type,
            )
        })
        .collect()
}

/// Checks that `topic` describes every key of [`EVERY_KEY`] as a topic override with the
/// value given at creation (or, once `altered`, by the alteration), and nothing else.
fn assert_described(conn: &mut TcpStream, topic: &str, altered: bool) {
    let described = describe_raw(conn, topic);
    assert_eq!(
        described.len(),
        EVERY_KEY.len(),
        "every key described: {described:?}"
    );
    for entry in EVERY_KEY {
        let (name, value, source, _) = described
            .iter()
            .find(|(n, ..)| n == entry.0)
            .unwrap_or_else(|| panic!("{} described", entry.0));
        let wanted = if altered { entry.2 } else { entry.1 };
        assert_eq!(value, wanted, "{name}");
        assert_eq!(
            *source, 1,
            "{name} is the topic's own (DYNAMIC_TOPIC_CONFIG)"
        );
    }
    for (name, code) in TYPES {
        let (.., t) = described.iter().find(|(n, ..)| n == name).expect("key");
        assert_eq!(t, code, "type of {name}");
    }
}

/// Runs `f` against a raftka process started the way a new user starts it: no settings but
/// its listener.
pub fn on_the_default_binary(f: impl FnOnce(&Target)) {
    let home = tempfile::tempdir().expect("temp dir");
    let (_broker, addr) = process::start_with_defaults(home.path());
    f(&Target::at(addr));
}

#[test]
fn every_topic_config_round_trips_through_create_describe_and_alter() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let topic = unique_name("every-config");

    info!("CreateTopics with every key at a value other than its default");
    let first: Vec<(&str, &str)> = EVERY_KEY.iter().map(|(k, a, _)| (*k, *a)).collect();
    assert_eq!(create_raw(&mut conn, &topic, &first), (0, None));
    assert_described(&mut conn, &topic, false);

    info!("IncrementalAlterConfigs sets each key to another value");
    let ops: Vec<(&str, i8, Option<&str>)> = EVERY_KEY
        .iter()
        .map(|(k, _, b)| (*k, SET, Some(*b)))
        .collect();
    let (code, message) = incremental(&mut conn, &topic, &ops);
    assert_eq!(code, 0, "{message:?}");
    assert_described(&mut conn, &topic, true);

    info!("a topic with no overrides describes Kafka's defaults");
    let plain = unique_name("every-default");
    assert_eq!(create_raw(&mut conn, &plain, &[]), (0, None));
    let described = describe_raw(&mut conn, &plain);
    for (name, value) in [
        ("cleanup.policy", "delete"),
        ("compression.type", "producer"),
        ("min.cleanable.dirty.ratio", "0.5"),
        ("delete.retention.ms", "86400000"),
        ("max.compaction.lag.ms", "9223372036854775807"),
        ("message.timestamp.type", "CreateTime"),
        ("message.timestamp.before.max.ms", "9223372036854775807"),
        ("message.timestamp.after.max.ms", "3600000"),
        ("min.insync.replicas", "1"),
        ("segment.ms", "604800000"),
        ("local.retention.ms", "-2"),
        ("unclean.leader.election.enable", "false"),
    ] {
        let (_, v, source, _) = described.iter().find(|(n, ..)| n == name).expect("key");
        assert_eq!((v.as_str(), *source != 1), (value, true), "{name}");
    }
}

#[test]
fn invalid_topic_configs_are_invalid_config_naming_the_key() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let topic = unique_name("bad-configs");
    assert_eq!(create_raw(&mut conn, &topic, &[]), (0, None));
    for (key, value) in [
        ("cleanup.policy", "compact,shred"),
        ("cleanup.policy", ""),
        ("min.cleanable.dirty.ratio", "1.5"),
        ("compression.type", "brotli"),
        ("compression.gzip.level", "10"),
        ("compression.lz4.level", "0"),
        ("compression.zstd.level", "23"),
        ("message.timestamp.type", "WallClock"),
        ("message.timestamp.after.max.ms", "-1"),
        ("min.insync.replicas", "0"),
        ("preallocate", "yes"),
        ("segment.ms", "0"),
        ("max.compaction.lag.ms", "0"),
        ("local.retention.ms", "-3"),
        ("flush.messages", "0"),
        ("leader.replication.throttled.replicas", "everything"),
        ("remote.storage.enable", "true"),
        // Removed in Kafka 4.0.
        ("message.downconversion.enable", "true"),
        ("message.format.version", "3.0"),
    ] {
        let (code, message) = create_raw(&mut conn, &unique_name("bad"), &[(key, value)]);
        assert_eq!(code, ResponseError::InvalidConfig.code(), "{key}={value}");
        assert!(
            message.as_deref().is_some_and(|m| m.contains(key)),
            "{key}={value}: {message:?}"
        );
        let (code, message) = incremental(&mut conn, &topic, &[(key, SET, Some(value))]);
        assert_eq!(code, ResponseError::InvalidConfig.code(), "{key}={value}");
        assert!(
            message.as_deref().is_some_and(|m| m.contains(key)),
            "{key}={value}: {message:?}"
        );
    }
}

/// One batch (no producer id, CreateTime `timestamp`) with a record per key, values `v{i}`.
fn keyed_batch(keys: &[Option<&str>], timestamp: i64, compression: Compression) -> Bytes {
    let records: Vec<Record> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // Consecutive (-1, 0, 1, ...), or the encoder splits the records into batches.
            sequence: (-1i32).wrapping_add(i as i32),
            timestamp,
            key: key.map(|k| Bytes::from(k.to_string())),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut out, &records, &options).expect("encode");
    out.freeze()
}

/// Produce v`version` (acks=all) of `records` to partition 0 of `topic`.
fn produce_raw(
    conn: &mut TcpStream,
    topic: &str,
    records: Bytes,
    version: i16,
) -> PartitionProduceResponse {
    let response: ProduceResponse = call(
        conn,
        ApiKey::Produce,
        version,
        &produce_request(topic, records),
    );
    response.responses[0].partition_responses[0].clone()
}

/// Fetch v11 of partition 0 of `topic` from offset 0: the raw record batches.
fn fetch_raw(conn: &mut TcpStream, topic: &str) -> Bytes {
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(TopicName(s(topic)))
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_current_leader_epoch(-1)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let response: FetchResponse = call(conn, ApiKey::Fetch, 11, &request);
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0, "{partition:?}");
    partition.records.clone().unwrap_or_default()
}

/// The codec bits of the first batch of `records` (attributes at byte 21).
fn codec_of_first_batch(records: &Bytes) -> i16 {
    i16::from_be_bytes([records[21], records[22]]) & 0x07
}

#[test]
#[ignore = "needs a broker of its own: the binary with its built-in defaults"]
fn log_append_time_topics_stamp_batches_with_the_broker_clock() {
    init_logs();
    on_the_default_binary(|target| {
        let mut conn = target.connect();
        let stamped = unique_name("log-append-time");
        let created = create_raw(
            &mut conn,
            &stamped,
            &[("message.timestamp.type", "LogAppendTime")],
        );
        assert_eq!(created, (0, None));

        info!("a batch timestamped in 1970 is stamped with the broker's time");
        let before = now_ms();
        let values = (0..3).map(|i| Bytes::from(format!("m{i}")));
        let answer = produce_raw(
            &mut conn,
            &stamped,
            batch(Producer::ANONYMOUS, -1, values, 1_000),
            9,
        );
        assert_eq!(answer.error_code, 0, "{answer:?}");
        assert!(answer.log_append_time_ms >= before, "{answer:?}");

        info!("consumers read LogAppendTime and the stamped time on every record");
        let consumer = consumer(target, &[]);
        assign(&consumer, &stamped, &[(0, Offset::Beginning)]);
        let messages = consume(&consumer, 3, Duration::from_secs(20));
        for message in &messages {
            assert_eq!(
                message.timestamp(),
                Timestamp::LogAppendTime(answer.log_append_time_ms),
                "{message:?}"
            );
        }

        info!("a CreateTime topic keeps the producer's timestamps and answers -1");
        let plain = unique_name("create-time");
        assert_eq!(create_raw(&mut conn, &plain, &[]), (0, None));
        let recent = now_ms() - 1_000;
        let values = (0..2).map(|i| Bytes::from(format!("m{i}")));
        let answer = produce_raw(
            &mut conn,
            &plain,
            batch(Producer::ANONYMOUS, -1, values, recent),
            9,
        );
        assert_eq!((answer.error_code, answer.log_append_time_ms), (0, -1));
        let consumer = crate::clients::consumer(target, &[]);
        assign(&consumer, &plain, &[(0, Offset::Beginning)]);
        for message in consume(&consumer, 2, Duration::from_secs(20)) {
            assert_eq!(message.timestamp(), Timestamp::CreateTime(recent));
        }

        info!("the default message.timestamp.after.max.ms (one hour) refuses far-future records");
        let values = [Bytes::from_static(b"late")];
        let future = now_ms() + 2 * 3_600_000;
        let answer = produce_raw(
            &mut conn,
            &plain,
            batch(Producer::ANONYMOUS, -1, values, future),
            9,
        );
        assert_eq!(
            answer.error_code,
            ResponseError::InvalidTimestamp.code(),
            "{answer:?}"
        );
    });
}

#[test]
fn a_topic_codec_recompresses_batches_sent_with_another() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    for (codec, bits) in [("zstd", 4), ("gzip", 1), ("uncompressed", 0)] {
        let topic = unique_name(&format!("codec-{codec}"));
        let created = create_raw(&mut conn, &topic, &[("compression.type", codec)]);
        assert_eq!(created, (0, None));
        info!(
            codec,
            "a batch sent with another codec is stored with the topic's"
        );
        let sent_with = if codec == "uncompressed" {
            Compression::Lz4
        } else {
            Compression::None
        };
        let keys = [Some("a"), None, Some("c"), Some("d")];
        let timestamp = now_ms();
        let answer = produce_raw(
            &mut conn,
            &topic,
            keyed_batch(&keys, timestamp, sent_with),
            9,
        );
        assert_eq!(answer.error_code, 0, "{answer:?}");
        let mut stored = fetch_raw(&mut conn, &topic);
        assert_eq!(codec_of_first_batch(&stored), bits, "{codec}");
        let batches = RecordBatchDecoder::decode_all(&mut stored).expect("decode");
        assert_eq!(batches.len(), 1, "one batch sent, one stored");
        let records: Vec<&Record> = batches.iter().flat_map(|b| &b.records).collect();
        assert_eq!(records.len(), keys.len());
        for (i, record) in records.iter().enumerate() {
            assert_eq!(record.offset, i as i64);
            assert_eq!(record.key.as_deref(), keys[i].map(str::as_bytes));
            assert_eq!(record.value.as_deref(), Some(format!("v{i}").as_bytes()));
            assert_eq!(record.timestamp, timestamp);
        }
    }
}

#[test]
fn compacted_topics_refuse_records_without_a_key() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    for policy in ["compact", "compact,delete"] {
        let topic = unique_name("compacted");
        assert_eq!(
            create_raw(&mut conn, &topic, &[("cleanup.policy", policy)]),
            (0, None)
        );

        info!(
            policy,
            "a batch with keyless records is refused, each listed"
        );
        let keys = [Some("a"), None, Some("c"), None];
        let answer = produce_raw(
            &mut conn,
            &topic,
            keyed_batch(&keys, now_ms(), Compression::None),
            9,
        );
        assert_eq!(
            answer.error_code,
            ResponseError::InvalidRecord.code(),
            "{answer:?}"
        );
        let indexes: Vec<i32> = answer.record_errors.iter().map(|e| e.batch_index).collect();
        assert_eq!(indexes, [1, 3], "{answer:?}");
        for error in &answer.record_errors {
            let message = error
                .batch_index_error_message
                .as_deref()
                .unwrap_or_default();
            assert!(message.contains("without key"), "{message}");
        }
        assert!(
            answer
                .error_message
                .as_deref()
                .is_some_and(|m| !m.is_empty()),
            "{answer:?}"
        );

        info!("Produce before v8 has no record errors: the code alone");
        let answer = produce_raw(
            &mut conn,
            &topic,
            keyed_batch(&[None], now_ms(), Compression::None),
            7,
        );
        assert_eq!(answer.error_code, ResponseError::InvalidRecord.code());

        info!("keyed records (compressed too) are accepted");
        let keyed = [Some("a"), Some("b")];
        let answer = produce_raw(
            &mut conn,
            &topic,
            keyed_batch(&keyed, now_ms(), Compression::Gzip),
            9,
        );
        assert_eq!(
            (answer.error_code, answer.base_offset),
            (0, 0),
            "{answer:?}"
        );
    }
}

#[test]
fn create_time_records_outside_the_topic_bounds_are_invalid_timestamp() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let topic = unique_name("timestamp-bounds");
    let bounds = [
        ("message.timestamp.before.max.ms", "60000"),
        ("message.timestamp.after.max.ms", "60000"),
    ];
    assert_eq!(create_raw(&mut conn, &topic, &bounds), (0, None));
    for (case, timestamp) in [
        ("an hour old", now_ms() - 3_600_000),
        ("an hour ahead", now_ms() + 3_600_000),
    ] {
        info!(case, "refused with the record listed");
        let answer = produce_raw(
            &mut conn,
            &topic,
            keyed_batch(&[Some("k")], timestamp, Compression::Snappy),
            9,
        );
        assert_eq!(
            answer.error_code,
            ResponseError::InvalidTimestamp.code(),
            "{case}: {answer:?}"
        );
        assert_eq!(answer.record_errors.len(), 1, "{answer:?}");
        assert_eq!(answer.record_errors[0].batch_index, 0);
    }
    let answer = produce_raw(
        &mut conn,
        &topic,
        keyed_batch(&[Some("k")], now_ms(), Compression::None),
        9,
    );
    assert_eq!(answer.error_code, 0, "{answer:?}");
}

#[test]
fn kafka_connect_and_streams_internal_topics_are_created_with_their_configs() {
    init_logs();
    let target = Target::any();
    let admin = admin(&target);
    info!("Kafka Connect: config, offsets and status topics are compacted");
    create(
        &admin,
        &unique_name("connect-configs"),
        1,
        &[("cleanup.policy", "compact")],
    );
    create(
        &admin,
        &unique_name("connect-offsets"),
        25,
        &[("cleanup.policy", "compact")],
    );
    create(
        &admin,
        &unique_name("connect-status"),
        5,
        &[("cleanup.policy", "compact")],
    );

    info!("Kafka Streams: changelog, windowed changelog, versioned store changelog, repartition");
    create(
        &admin,
        &unique_name("app-store-changelog"),
        4,
        &[
            ("cleanup.policy", "compact"),
            ("message.timestamp.type", "CreateTime"),
            ("max.message.bytes", "1048588"),
        ],
    );
    create(
        &admin,
        &unique_name("app-window-changelog"),
        4,
        &[
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "172800000"),
            ("message.timestamp.type", "CreateTime"),
        ],
    );
    create(
        &admin,
        &unique_name("app-versioned-changelog"),
        4,
        &[
            ("cleanup.policy", "compact"),
            ("min.compaction.lag.ms", "86400000"),
            ("message.timestamp.type", "CreateTime"),
        ],
    );
    create(
        &admin,
        &unique_name("app-repartition"),
        4,
        &[
            ("cleanup.policy", "delete"),
            ("segment.bytes", "52428800"),
            ("retention.ms", "-1"),
            ("message.timestamp.type", "CreateTime"),
        ],
    );
}
