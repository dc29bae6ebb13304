//! The table of every topic setting Kafka 4.x defines: name, broker synonym, value type,
//! validator, built-in default and what it means on raftka. `topic_config.rs` validates,
//! describes and resolves values with it.

use crate::config::SettingType;

/// `Long.MAX_VALUE` as Kafka writes it.
const LONG_MAX: &str = "9223372036854775807";

/// One topic setting.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigKey {
    pub name: &'static str,
    /// The broker setting that gives the default (Kafka's synonym, e.g. `log.retention.ms`);
    /// `None` where Kafka has none.
    pub broker_name: Option<&'static str>,
    /// What the setting does on raftka (or why it does nothing).
    pub doc: &'static str,
    /// The type DescribeConfigs reports.
    pub value_type: SettingType,
    /// Kafka's built-in default; `topic_config::default_value` replaces it where a broker
    /// setting of raftka gives the default.
    pub default: &'static str,
    pub(super) kind: Kind,
}

/// How a value is checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Kind {
    /// An integer in `[min, max]`, or exactly `also` (Kafka's `-1` for "no limit").
    Integer {
        min: i64,
        max: i64,
        also: Option<i64>,
    },
    /// A floating-point number in `[min, max]`.
    Double { min: f64, max: f64 },
    /// `true` or `false`, in any case.
    Boolean,
    /// One of a fixed set of words (matched ignoring case, stored as spelled here).
    OneOf(&'static [&'static str]),
    /// A comma-separated, non-empty list of words from a fixed set.
    ListOf(&'static [&'static str]),
    /// Kafka's throttled-replica list: empty, `*`, or `partition:broker` pairs.
    ThrottledReplicas,
}

const fn at_least(min: i64) -> Kind {
    Kind::Integer {
        min,
        max: i64::MAX,
        also: None,
    }
}

const fn int_at_least(min: i64) -> Kind {
    Kind::Integer {
        min,
        max: i32::MAX as i64,
        also: None,
    }
}

/// Every topic setting of Kafka 4.x, sorted by name. Keys Kafka 4.x removed
/// (`message.format.version`, `message.downconversion.enable`,
/// `message.timestamp.difference.max.ms`) are unknown here too.
pub const TOPIC_CONFIGS: &[ConfigKey] = &[
    ConfigKey {
        name: "cleanup.policy",
        broker_name: Some("log.cleanup.policy"),
        doc: "delete, compact, or both (\"compact,delete\"): with delete, whole segments go once \
              retention.ms or retention.bytes says so; without it they are kept whatever the \
              retention settings say; compact keeps the latest record of each key, and records \
              without a key are refused",
        value_type: SettingType::List,
        default: "delete",
        kind: Kind::ListOf(&["compact", "delete"]),
    },
    ConfigKey {
        name: "compression.gzip.level",
        broker_name: Some("compression.gzip.level"),
        doc: "gzip level the broker compresses at when compression.type=gzip makes it compress \
              (-1: the codec's default, 6)",
        value_type: SettingType::Int,
        default: "-1",
        kind: Kind::Integer {
            min: 1,
            max: 9,
            also: Some(-1),
        },
    },
    ConfigKey {
        name: "compression.lz4.level",
        broker_name: Some("compression.lz4.level"),
        doc: "lz4 level the broker compresses at when compression.type=lz4 makes it compress",
        value_type: SettingType::Int,
        default: "9",
        kind: Kind::Integer {
            min: 1,
            max: 17,
            also: None,
        },
    },
    ConfigKey {
        name: "compression.type",
        broker_name: Some("compression.type"),
        doc: "codec batches are stored with: producer keeps each batch as sent; a codec (or \
              uncompressed) makes the leader recompress any batch sent with another one before \
              it is replicated",
        value_type: SettingType::String,
        default: "producer",
        kind: Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    },
    ConfigKey {
        name: "compression.zstd.level",
        broker_name: Some("compression.zstd.level"),
        doc: "zstd level the broker compresses at when compression.type=zstd makes it compress",
        value_type: SettingType::Int,
        default: "3",
        kind: Kind::Integer {
            min: -131_072,
            max: 22,
            also: None,
        },
    },
    ConfigKey {
        name: "delete.retention.ms",
        broker_name: Some("log.cleaner.delete.retention.ms"),
        doc: "how long compaction keeps a tombstone (a record with a key and no value)",
        value_type: SettingType::Long,
        default: "86400000",
        kind: at_least(0),
    },
    ConfigKey {
        name: "file.delete.delay.ms",
        broker_name: Some("log.segment.delete.delay.ms"),
        doc: "no effect: raftka removes a segment's files as soon as no reader holds them",
        value_type: SettingType::Long,
        default: "60000",
        kind: at_least(0),
    },
    ConfigKey {
        name: "flush.messages",
        broker_name: Some("log.flush.interval.messages"),
        doc: "no effect: a write is durable once a majority of the replicas have synced it \
              (Raft quorum with group commit), never on a message count",
        value_type: SettingType::Long,
        default: LONG_MAX,
        kind: at_least(1),
    },
    ConfigKey {
        name: "flush.ms",
        broker_name: Some("log.flush.interval.ms"),
        doc: "no effect: a write is durable once a majority of the replicas have synced it \
              (Raft quorum with group commit), never on a timer",
        value_type: SettingType::Long,
        default: LONG_MAX,
        kind: at_least(0),
    },
    ConfigKey {
        name: "follower.replication.throttled.replicas",
        broker_name: None,
        doc: "no effect: Raft replication is not throttled",
        value_type: SettingType::List,
        default: "",
        kind: Kind::ThrottledReplicas,
    },
    ConfigKey {
        name: "index.interval.bytes",
        broker_name: Some("log.index.interval.bytes"),
        doc: "bytes between two entries of the sparse offset index",
        value_type: SettingType::Int,
        default: "4096",
        kind: int_at_least(0),
    },
    ConfigKey {
        name: "leader.replication.throttled.replicas",
        broker_name: None,
        doc: "no effect: Raft replication is not throttled",
        value_type: SettingType::List,
        default: "",
        kind: Kind::ThrottledReplicas,
    },
    ConfigKey {
        name: "local.retention.bytes",
        broker_name: Some("log.local.retention.bytes"),
        doc: "no effect: raftka has no tiered storage, every segment is local (-2: as \
              retention.bytes)",
        value_type: SettingType::Long,
        default: "-2",
        kind: at_least(-2),
    },
    ConfigKey {
        name: "local.retention.ms",
        broker_name: Some("log.local.retention.ms"),
        doc: "no effect: raftka has no tiered storage, every segment is local (-2: as \
              retention.ms)",
        value_type: SettingType::Long,
        default: "-2",
        kind: at_least(-2),
    },
    ConfigKey {
        name: "max.compaction.lag.ms",
        broker_name: Some("log.cleaner.max.compaction.lag.ms"),
        doc: "longest time a record stays uncompacted",
        value_type: SettingType::Long,
        default: LONG_MAX,
        kind: at_least(1),
    },
    ConfigKey {
        name: "max.message.bytes",
        broker_name: Some("message.max.bytes"),
        doc: "largest record batch accepted by Produce",
        value_type: SettingType::Int,
        default: "1048588",
        kind: int_at_least(0),
    },
    ConfigKey {
        name: "message.timestamp.after.max.ms",
        broker_name: Some("log.message.timestamp.after.max.ms"),
        doc: "with CreateTime, a batch holding a record timestamped further than this ahead of \
              the leader's clock is refused (INVALID_TIMESTAMP)",
        value_type: SettingType::Long,
        default: "3600000",
        kind: at_least(0),
    },
    ConfigKey {
        name: "message.timestamp.before.max.ms",
        broker_name: Some("log.message.timestamp.before.max.ms"),
        doc: "with CreateTime, a batch holding a record timestamped further than this behind \
              the leader's clock is refused (INVALID_TIMESTAMP)",
        value_type: SettingType::Long,
        default: LONG_MAX,
        kind: at_least(0),
    },
    ConfigKey {
        name: "message.timestamp.type",
        broker_name: Some("log.message.timestamp.type"),
        doc: "CreateTime: records keep the producer's timestamps; LogAppendTime: the leader \
              stamps each batch with its clock before replicating it",
        value_type: SettingType::String,
        default: "CreateTime",
        kind: Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    },
    ConfigKey {
        name: "min.cleanable.dirty.ratio",
        broker_name: Some("log.cleaner.min.cleanable.ratio"),
        doc: "share of the log not yet compacted above which compaction runs",
        value_type: SettingType::Double,
        default: "0.5",
        kind: Kind::Double { min: 0.0, max: 1.0 },
    },
    ConfigKey {
        name: "min.compaction.lag.ms",
        broker_name: Some("log.cleaner.min.compaction.lag.ms"),
        doc: "shortest time a record stays uncompacted",
        value_type: SettingType::Long,
        default: "0",
        kind: at_least(0),
    },
    ConfigKey {
        name: "min.insync.replicas",
        broker_name: Some("min.insync.replicas"),
        doc: "no further effect: on Raft a write is acknowledged (acks=all or 1) once a \
              majority of the replicas have it, and a partition without a majority takes no \
              writes at all",
        value_type: SettingType::Int,
        default: "1",
        kind: int_at_least(1),
    },
    ConfigKey {
        name: "preallocate",
        broker_name: Some("log.preallocate"),
        doc: "no effect: raftka always reserves disk ahead of the data, \
              log.preallocate.step.bytes at a time",
        value_type: SettingType::Boolean,
        default: "false",
        kind: Kind::Boolean,
    },
    ConfigKey {
        name: "remote.log.copy.disable",
        broker_name: None,
        doc: "no effect: raftka has no tiered storage",
        value_type: SettingType::Boolean,
        default: "false",
        kind: Kind::Boolean,
    },
    ConfigKey {
        name: "remote.log.delete.on.disable",
        broker_name: None,
        doc: "no effect: raftka has no tiered storage",
        value_type: SettingType::Boolean,
        default: "false",
        kind: Kind::Boolean,
    },
    ConfigKey {
        name: "remote.storage.enable",
        broker_name: None,
        doc: "false only: raftka has no tiered storage (true is refused, as Kafka refuses it \
              with tiered storage off), every segment stays local",
        value_type: SettingType::Boolean,
        default: "false",
        kind: Kind::Boolean,
    },
    ConfigKey {
        name: "retention.bytes",
        broker_name: Some("log.retention.bytes"),
        doc: "with cleanup.policy delete, size above which the oldest segments are deleted; \
              -1 keeps everything",
        value_type: SettingType::Long,
        default: "-1",
        kind: Kind::Integer {
            min: 0,
            max: i64::MAX,
            also: Some(-1),
        },
    },
    ConfigKey {
        name: "retention.ms",
        broker_name: Some("log.retention.ms"),
        doc: "with cleanup.policy delete, age after which a whole segment is deleted; -1 keeps \
              forever",
        value_type: SettingType::Long,
        default: "604800000",
        kind: Kind::Integer {
            min: 0,
            max: i64::MAX,
            also: Some(-1),
        },
    },
    ConfigKey {
        name: "segment.bytes",
        broker_name: Some("log.segment.bytes"),
        doc: "size at which a segment file is rolled",
        value_type: SettingType::Int,
        default: "1073741824",
        kind: int_at_least(1024),
    },
    ConfigKey {
        name: "segment.index.bytes",
        broker_name: Some("log.index.size.max.bytes"),
        doc: "no effect: raftka's offset index grows with its segment instead of being \
              preallocated",
        value_type: SettingType::Int,
        default: "10485760",
        kind: int_at_least(4),
    },
    ConfigKey {
        name: "segment.jitter.ms",
        broker_name: Some("log.roll.jitter.ms"),
        doc: "no effect: segments are not rolled at staggered times",
        value_type: SettingType::Long,
        default: "0",
        kind: at_least(0),
    },
    ConfigKey {
        name: "segment.ms",
        broker_name: Some("log.roll.ms"),
        doc: "age at which a segment is to be rolled even if not full, so retention and \
              compaction can act on it (handed to the log; raftka rolls segments by size only \
              so far)",
        value_type: SettingType::Long,
        default: "604800000",
        kind: at_least(1),
    },
    ConfigKey {
        name: "unclean.leader.election.enable",
        broker_name: Some("unclean.leader.election.enable"),
        doc: "no effect: a Raft leader always holds every committed record, so no unclean \
              leader is ever elected",
        value_type: SettingType::Boolean,
        default: "false",
        kind: Kind::Boolean,
    },
];
