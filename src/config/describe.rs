//! The broker's settings as DescribeConfigs reports them: Kafka names, values as Kafka writes
//! them, and whether each differs from the default. `kafka/handlers/describe_configs.rs` serves
//! them; the settings themselves are read once at start-up and never change while running.

use super::{Config, Listener};

/// The type of a broker setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    Boolean,
    String,
    Int,
    Long,
    Double,
    /// A comma-separated list.
    List,
}

/// One broker setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSetting {
    pub name: &'static str,
    pub value: String,
    /// The built-in default (Kafka's DEFAULT_CONFIG synonym).
    pub default: String,
    /// The value is the built-in default (Kafka's DEFAULT_CONFIG; else STATIC_BROKER_CONFIG).
    pub is_default: bool,
    pub value_type: SettingType,
    pub doc: &'static str,
}

fn listeners(list: &[Listener]) -> String {
    list.iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// `-1` for "no limit", as Kafka writes it.
fn limit(v: Option<u64>) -> String {
    v.map_or_else(|| "-1".to_string(), |v| v.to_string())
}

type Row = (
    &'static str,
    SettingType,
    &'static str,
    fn(&Config) -> String,
);

/// Every broker setting with a Kafka name, in Kafka's spelling.
const ROWS: &[Row] = &[
    (
        "broker.id",
        SettingType::Int,
        "this broker's id (same as node.id)",
        |c| c.node_id.to_string(),
    ),
    (
        "node.id",
        SettingType::Int,
        "this broker's id, also its Raft node id",
        |c| c.node_id.to_string(),
    ),
    (
        "listeners",
        SettingType::String,
        "addresses the Kafka listener binds",
        |c| listeners(&c.listeners),
    ),
    (
        "advertised.listeners",
        SettingType::String,
        "addresses clients are told to use",
        |c| listeners(&c.advertised_listeners),
    ),
    (
        "log.dirs",
        SettingType::String,
        "the directory holding all partition data",
        |c| c.data_dir.display().to_string(),
    ),
    (
        "log.segment.bytes",
        SettingType::Long,
        "size of one segment file",
        |c| c.segment_bytes.to_string(),
    ),
    (
        "log.retention.ms",
        SettingType::Long,
        "age after which segments are deleted; -1 keeps forever",
        |c| limit(c.retention_ms),
    ),
    (
        "log.retention.bytes",
        SettingType::Long,
        "partition size above which old segments are deleted; -1 = no limit",
        |c| limit(c.retention_bytes),
    ),
    (
        "log.retention.check.interval.ms",
        SettingType::Long,
        "how often each partition looks for segments to delete",
        |c| c.retention_check_interval_ms.to_string(),
    ),
    (
        "log.index.interval.bytes",
        SettingType::Int,
        "bytes between two entries of the offset index",
        |c| c.index_interval_bytes.to_string(),
    ),
    (
        "log.preallocate.step.bytes",
        SettingType::Long,
        "disk a partition reserves at a time ahead of its data",
        |c| c.preallocate_step_bytes.to_string(),
    ),
    (
        "log.flush.threads",
        SettingType::Int,
        "threads that make appended data durable, shared by all partitions (0: four per core)",
        |c| c.flush_threads.to_string(),
    ),
    (
        "log.dir.min.free.bytes",
        SettingType::Long,
        "free space kept on the logs' file system: below it produce and new partitions are refused (-1: the smaller of 1 GiB and 5%)",
        |c| limit(c.min_free_bytes),
    ),
    (
        "log.cleanup.policy",
        SettingType::List,
        "cleanup.policy of topics that set none: delete, compact, or both",
        |_| "delete".to_string(),
    ),
    (
        "log.message.timestamp.type",
        SettingType::String,
        "message.timestamp.type of topics that set none: CreateTime keeps the producer's timestamps",
        |_| "CreateTime".to_string(),
    ),
    (
        "auto.create.topics.enable",
        SettingType::Boolean,
        "Metadata or Produce naming an unknown topic creates it",
        |c| c.auto_create_topics.to_string(),
    ),
    (
        "num.partitions",
        SettingType::Int,
        "partitions of an auto-created topic",
        |c| c.num_partitions.to_string(),
    ),
    (
        "default.replication.factor",
        SettingType::Int,
        "replicas of an auto-created topic",
        |c| c.default_replication_factor.to_string(),
    ),
    (
        "message.max.bytes",
        SettingType::Int,
        "largest record batch accepted",
        |c| c.message_max_bytes.to_string(),
    ),
    (
        "fetch.max.bytes",
        SettingType::Int,
        "the most a Fetch response holds, whatever the request asks",
        |c| c.fetch_max_bytes.to_string(),
    ),
    (
        "socket.request.max.bytes",
        SettingType::Int,
        "largest request frame",
        |c| c.socket_request_max_bytes.to_string(),
    ),
    (
        "connections.max.idle.ms",
        SettingType::Long,
        "idle connections close after this long",
        |c| c.connections_max_idle_ms.to_string(),
    ),
    (
        "max.connections",
        SettingType::Int,
        "connections accepted at once",
        |c| c.max_connections.to_string(),
    ),
    (
        "max.connections.per.ip",
        SettingType::Int,
        "connections one client address may hold at once",
        |c| c.max_connections_per_ip.to_string(),
    ),
    (
        "queued.max.request.bytes",
        SettingType::Long,
        "request bytes all connections together hold before they stop reading more; -1: no bound",
        |c| c.queued_max_request_bytes.to_string(),
    ),
    (
        "replica.lag.time.max.ms",
        SettingType::Long,
        "a follower behind for this long leaves the ISR",
        |c| c.replica_lag_time_max_ms.to_string(),
    ),
    (
        "auto.leader.rebalance.enable",
        SettingType::Boolean,
        "leaders hand partitions back to their preferred replica",
        |c| c.auto_leader_rebalance.to_string(),
    ),
    (
        "leader.imbalance.check.interval.seconds",
        SettingType::Long,
        "how often leaders look for partitions to hand back",
        |c| c.leader_imbalance_check_interval_secs.to_string(),
    ),
    (
        "offsets.topic.num.partitions",
        SettingType::Int,
        "partitions of __consumer_offsets; each group's coordinator leads one",
        |c| c.offsets_topic_num_partitions.to_string(),
    ),
    (
        "offsets.topic.segment.bytes",
        SettingType::Long,
        "segment size of __consumer_offsets partitions",
        |c| c.offsets_topic_segment_bytes.to_string(),
    ),
    (
        "offsets.retention.minutes",
        SettingType::Int,
        "how long a group without members keeps its committed offsets",
        |c| c.offsets_retention_minutes.to_string(),
    ),
    (
        "offsets.retention.check.interval.ms",
        SettingType::Long,
        "how often coordinators look for expired offsets",
        |c| c.offsets_retention_check_interval_ms.to_string(),
    ),
    (
        "producer.id.expiration.ms",
        SettingType::Int,
        "how long a partition keeps the state of an idempotent producer that wrote nothing",
        |c| c.producer_id_expiration_ms.to_string(),
    ),
    (
        "producer.id.expiration.check.interval.ms",
        SettingType::Int,
        "how often partitions look for expired idempotent producers",
        |c| c.producer_id_expiration_check_interval_ms.to_string(),
    ),
    (
        "log.cleaner.enable",
        SettingType::Boolean,
        "whether compacted topics are compacted",
        |c| c.log_cleaner_enable.to_string(),
    ),
    (
        "log.cleaner.backoff.ms",
        SettingType::Long,
        "how often each compacted partition looks for compaction work",
        |c| c.log_cleaner_backoff_ms.to_string(),
    ),
    (
        "log.cleaner.dedupe.buffer.size",
        SettingType::Long,
        "memory one compaction pass may use for its key map",
        |c| c.log_cleaner_dedupe_buffer_size.to_string(),
    ),
    (
        "group.max.size",
        SettingType::Int,
        "members one consumer group may have; a further one gets GROUP_MAX_SIZE_REACHED",
        |c| c.group_max_size.to_string(),
    ),
    (
        "group.initial.rebalance.delay.ms",
        SettingType::Int,
        "how long the first rebalance of an empty group waits for more members",
        |c| c.group_initial_rebalance_delay_ms.to_string(),
    ),
    (
        "group.min.session.timeout.ms",
        SettingType::Int,
        "the shortest session timeout a group member may ask for",
        |c| c.group_min_session_timeout_ms.to_string(),
    ),
    (
        "group.max.session.timeout.ms",
        SettingType::Int,
        "the longest session timeout a group member may ask for",
        |c| c.group_max_session_timeout_ms.to_string(),
    ),
];

impl Config {
    /// Every broker setting with its value, `advertised` standing for `advertised.listeners`
    /// (the addresses actually given to clients, with bound ports filled in).
    pub fn describe(&self, advertised: &[Listener]) -> Vec<BrokerSetting> {
        let defaults = Config::default();
        let mut actual = self.clone();
        actual.advertised_listeners = advertised.to_vec();
        ROWS.iter()
            .map(|(name, value_type, doc, get)| {
                let value = get(&actual);
                let default = get(&defaults);
                BrokerSetting {
                    name,
                    is_default: value == default,
                    value,
                    default,
                    value_type: *value_type,
                    doc,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kafkas_and_defaults_are_flagged() {
        let config = Config {
            retention_bytes: None,
            num_partitions: 3,
            ..Config::default()
        };
        let described = config.describe(&config.advertised_listeners);
        let get = |name: &str| {
            described
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("{name} described"))
        };
        assert_eq!(get("num.partitions").value, "3");
        assert!(!get("num.partitions").is_default);
        assert_eq!(get("log.retention.bytes").value, "-1");
        assert!(get("log.retention.bytes").is_default);
        assert_eq!(get("listeners").value, "PLAINTEXT://127.0.0.1:9092");
        assert_eq!(get("auto.create.topics.enable").value, "true");
        for name in [
            "log.dirs",
            "log.segment.bytes",
            "log.retention.ms",
            "default.replication.factor",
            "message.max.bytes",
            "socket.request.max.bytes",
            "connections.max.idle.ms",
            "advertised.listeners",
        ] {
            assert!(get(name).is_default, "{name}");
        }
        let bound = [Listener {
            host: "127.0.0.1".into(),
            port: 40_000,
        }];
        let described = config.describe(&bound);
        let advertised = described.iter().find(|s| s.name == "advertised.listeners");
        assert_eq!(
            advertised.map(|s| (s.value.as_str(), s.is_default)),
            Some(("PLAINTEXT://127.0.0.1:40000", false))
        );
    }
}
