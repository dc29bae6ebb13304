//! Every accepted key as one optional field, and how the keys given are written into a
//! `Config` (two names for one setting must agree; -1 means no limit). `sources.rs` reads the
//! keys from files, the environment and the command line; `validate.rs` checks the result.

use std::path::PathBuf;

use serde::Deserialize;

use super::{Config, ConfigError, parse_listeners};

/// Every accepted key, in the order the reference in README.md lists them.
pub const KEYS: &[&str] = &[
    "node.id",
    "cluster.id",
    "listeners",
    "advertised.listeners",
    "log.dirs",
    "log.segment.bytes",
    "log.retention.ms",
    "log.retention.bytes",
    "log.retention.check.interval.ms",
    "log.index.interval.bytes",
    "log.preallocate.step.bytes",
    "log.flush.threads",
    "log.dir.min.free.bytes",
    "auto.create.topics.enable",
    "num.partitions",
    "default.replication.factor",
    "message.max.bytes",
    "fetch.max.bytes",
    "socket.request.max.bytes",
    "connections.max.idle.ms",
    "max.connections",
    "max.connections.per.ip",
    "connection.max.in.flight.requests",
    "queued.max.request.bytes",
    "replica.lag.time.max.ms",
    "auto.leader.rebalance.enable",
    "leader.imbalance.check.interval.seconds",
    "offsets.topic.num.partitions",
    "offsets.topic.segment.bytes",
    "offsets.retention.minutes",
    "offsets.retention.check.interval.ms",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
    "group.max.size",
    "producer.id.expiration.ms",
    "producer.id.expiration.check.interval.ms",
    "log.cleaner.enable",
    "log.cleaner.backoff.ms",
    "log.cleaner.dedupe.buffer.size",
    "log.level",
    "cluster.enabled",
    "cluster.node_id",
    "cluster.raft_address",
    "cluster.initial_members",
    "cluster.data_dir",
    "cluster.rtt_ms",
    "cluster.election_rtt",
    "cluster.heartbeat_rtt",
    "cluster.snapshot_entries",
];

/// The flat settings, each optional: absent = keep the default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Settings {
    #[serde(rename = "node.id")]
    node_id: Option<u64>,
    #[serde(rename = "cluster.id")]
    cluster_id: Option<String>,
    listeners: Option<String>,
    #[serde(rename = "advertised.listeners")]
    advertised_listeners: Option<String>,
    #[serde(rename = "log.dirs")]
    log_dirs: Option<String>,
    #[serde(rename = "log.segment.bytes")]
    segment_bytes: Option<u64>,
    #[serde(rename = "log.retention.ms")]
    retention_ms: Option<i64>,
    #[serde(rename = "log.retention.bytes")]
    retention_bytes: Option<i64>,
    #[serde(rename = "log.retention.check.interval.ms")]
    retention_check_interval_ms: Option<u64>,
    #[serde(rename = "log.index.interval.bytes")]
    index_interval_bytes: Option<u32>,
    #[serde(rename = "log.preallocate.step.bytes")]
    preallocate_step_bytes: Option<u64>,
    #[serde(rename = "log.flush.threads")]
    flush_threads: Option<u32>,
    #[serde(rename = "log.dir.min.free.bytes")]
    min_free_bytes: Option<i64>,
    #[serde(rename = "auto.create.topics.enable")]
    auto_create_topics: Option<bool>,
    #[serde(rename = "num.partitions")]
    num_partitions: Option<u32>,
    #[serde(rename = "default.replication.factor")]
    default_replication_factor: Option<u16>,
    #[serde(rename = "message.max.bytes")]
    message_max_bytes: Option<u32>,
    #[serde(rename = "fetch.max.bytes")]
    fetch_max_bytes: Option<u32>,
    #[serde(rename = "socket.request.max.bytes")]
    socket_request_max_bytes: Option<u32>,
    #[serde(rename = "connections.max.idle.ms")]
    connections_max_idle_ms: Option<u64>,
    #[serde(rename = "max.connections")]
    max_connections: Option<u32>,
    #[serde(rename = "max.connections.per.ip")]
    max_connections_per_ip: Option<u32>,
    #[serde(rename = "queued.max.request.bytes")]
    queued_max_request_bytes: Option<i64>,
    #[serde(rename = "connection.max.in.flight.requests")]
    max_in_flight_requests: Option<u32>,
    #[serde(rename = "replica.lag.time.max.ms")]
    replica_lag_time_max_ms: Option<u64>,
    #[serde(rename = "auto.leader.rebalance.enable")]
    auto_leader_rebalance: Option<bool>,
    #[serde(rename = "leader.imbalance.check.interval.seconds")]
    leader_imbalance_check_interval_secs: Option<u64>,
    #[serde(rename = "offsets.topic.num.partitions")]
    offsets_topic_num_partitions: Option<u32>,
    #[serde(rename = "offsets.topic.segment.bytes")]
    offsets_topic_segment_bytes: Option<u64>,
    #[serde(rename = "offsets.retention.minutes")]
    offsets_retention_minutes: Option<u64>,
    #[serde(rename = "offsets.retention.check.interval.ms")]
    offsets_retention_check_interval_ms: Option<u64>,
    #[serde(rename = "producer.id.expiration.ms")]
    producer_id_expiration_ms: Option<u64>,
    #[serde(rename = "producer.id.expiration.check.interval.ms")]
    producer_id_expiration_check_interval_ms: Option<u64>,
    #[serde(rename = "log.cleaner.enable")]
    log_cleaner_enable: Option<bool>,
    #[serde(rename = "log.cleaner.backoff.ms")]
    log_cleaner_backoff_ms: Option<u64>,
    #[serde(rename = "log.cleaner.dedupe.buffer.size")]
    log_cleaner_dedupe_buffer_size: Option<u64>,
    #[serde(rename = "group.initial.rebalance.delay.ms")]
    group_initial_rebalance_delay_ms: Option<u64>,
    #[serde(rename = "group.max.size")]
    group_max_size: Option<u64>,
    #[serde(rename = "group.min.session.timeout.ms")]
    group_min_session_timeout_ms: Option<u64>,
    #[serde(rename = "group.max.session.timeout.ms")]
    group_max_session_timeout_ms: Option<u64>,
    #[serde(rename = "log.level")]
    log_level: Option<String>,
    #[serde(rename = "cluster.enabled")]
    cluster_enabled: Option<bool>,
    #[serde(rename = "cluster.node_id")]
    cluster_node_id: Option<u64>,
    #[serde(rename = "cluster.raft_address")]
    raft_address: Option<String>,
    #[serde(rename = "cluster.initial_members")]
    initial_members: Option<Vec<String>>,
    #[serde(rename = "cluster.data_dir")]
    cluster_data_dir: Option<String>,
    #[serde(rename = "cluster.rtt_ms")]
    rtt_ms: Option<u64>,
    #[serde(rename = "cluster.election_rtt")]
    election_rtt: Option<u64>,
    #[serde(rename = "cluster.heartbeat_rtt")]
    heartbeat_rtt: Option<u64>,
    #[serde(rename = "cluster.snapshot_entries")]
    snapshot_entries: Option<u64>,
}

impl Settings {
    /// Writes every setting that was given into `config`.
    pub(super) fn apply(self, config: &mut Config) -> Result<(), ConfigError> {
        let c = &mut config.cluster;
        if let Some(id) = same(
            "node.id",
            self.node_id,
            "cluster.node_id",
            self.cluster_node_id,
        )? {
            config.node_id = id;
        }
        let dirs = same(
            "log.dirs",
            self.log_dirs,
            "cluster.data_dir",
            self.cluster_data_dir,
        )?;
        if let Some(dirs) = dirs {
            if dirs.contains(',') || dirs.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: "log.dirs",
                    value: dirs,
                    expected: "exactly one directory".into(),
                });
            }
            config.data_dir = PathBuf::from(dirs.trim());
        }
        set(&mut config.cluster_id, self.cluster_id);
        if let Some(text) = self.listeners {
            config.listeners = parse_listeners("listeners", &text)?;
            config.advertised_listeners = config.listeners.clone();
        }
        if let Some(text) = self.advertised_listeners {
            config.advertised_listeners = parse_listeners("advertised.listeners", &text)?;
        }
        set(&mut config.segment_bytes, self.segment_bytes);
        if let Some(ms) = self.retention_ms {
            config.retention_ms = unlimited("log.retention.ms", ms)?;
        }
        if let Some(bytes) = self.retention_bytes {
            config.retention_bytes = unlimited("log.retention.bytes", bytes)?;
        }
        set(
            &mut config.retention_check_interval_ms,
            self.retention_check_interval_ms,
        );
        set(&mut config.index_interval_bytes, self.index_interval_bytes);
        set(
            &mut config.preallocate_step_bytes,
            self.preallocate_step_bytes,
        );
        set(&mut config.flush_threads, self.flush_threads);
        if let Some(bytes) = self.min_free_bytes {
            config.min_free_bytes = minus_one_means("log.dir.min.free.bytes", bytes, "automatic")?;
        }
        set(&mut config.auto_create_topics, self.auto_create_topics);
        set(&mut config.num_partitions, self.num_partitions);
        set(
            &mut config.default_replication_factor,
            self.default_replication_factor,
        );
        set(&mut config.message_max_bytes, self.message_max_bytes);
        set(&mut config.fetch_max_bytes, self.fetch_max_bytes);
        set(
            &mut config.socket_request_max_bytes,
            self.socket_request_max_bytes,
        );
        set(
            &mut config.connections_max_idle_ms,
            self.connections_max_idle_ms,
        );
        set(&mut config.max_connections, self.max_connections);
        set(
            &mut config.max_connections_per_ip,
            self.max_connections_per_ip,
        );
        set(
            &mut config.max_in_flight_requests,
            self.max_in_flight_requests,
        );
        set(
            &mut config.queued_max_request_bytes,
            self.queued_max_request_bytes,
        );
        set(
            &mut config.replica_lag_time_max_ms,
            self.replica_lag_time_max_ms,
        );
        set(
            &mut config.auto_leader_rebalance,
            self.auto_leader_rebalance,
        );
        set(
            &mut config.leader_imbalance_check_interval_secs,
            self.leader_imbalance_check_interval_secs,
        );
        set(
            &mut config.offsets_topic_num_partitions,
            self.offsets_topic_num_partitions,
        );
        set(
            &mut config.offsets_topic_segment_bytes,
            self.offsets_topic_segment_bytes,
        );
        set(
            &mut config.offsets_retention_minutes,
            self.offsets_retention_minutes,
        );
        set(
            &mut config.offsets_retention_check_interval_ms,
            self.offsets_retention_check_interval_ms,
        );
        set(
            &mut config.group_initial_rebalance_delay_ms,
            self.group_initial_rebalance_delay_ms,
        );
        set(
            &mut config.producer_id_expiration_ms,
            self.producer_id_expiration_ms,
        );
        set(
            &mut config.producer_id_expiration_check_interval_ms,
            self.producer_id_expiration_check_interval_ms,
        );
        set(&mut config.log_cleaner_enable, self.log_cleaner_enable);
        set(
            &mut config.log_cleaner_backoff_ms,
            self.log_cleaner_backoff_ms,
        );
        set(
            &mut config.log_cleaner_dedupe_buffer_size,
            self.log_cleaner_dedupe_buffer_size,
        );
        set(
            &mut config.group_min_session_timeout_ms,
            self.group_min_session_timeout_ms,
        );
        set(&mut config.group_max_size, self.group_max_size);
        set(
            &mut config.group_max_session_timeout_ms,
            self.group_max_session_timeout_ms,
        );
        set(&mut config.log_level, self.log_level);
        set(&mut c.enabled, self.cluster_enabled);
        if let Some(address) = self.raft_address {
            if self.initial_members.is_none() && !c.enabled {
                c.initial_members = vec![address.clone()];
            }
            c.raft_address = address;
        }
        set(&mut c.initial_members, self.initial_members);
        set(&mut c.rtt_ms, self.rtt_ms);
        set(&mut c.election_rtt, self.election_rtt);
        set(&mut c.heartbeat_rtt, self.heartbeat_rtt);
        set(&mut c.snapshot_entries, self.snapshot_entries);
        Ok(())
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Two keys for one setting (a Kafka name and the seed's name): either, or both if equal.
fn same<T: PartialEq>(
    first: &'static str,
    a: Option<T>,
    second: &'static str,
    b: Option<T>,
) -> Result<Option<T>, ConfigError> {
    match (a, b) {
        (Some(a), Some(b)) if a != b => Err(ConfigError::Conflict { first, second }),
        (a, b) => Ok(a.or(b)),
    }
}

/// Kafka's convention: -1 means no limit.
fn unlimited(key: &'static str, value: i64) -> Result<Option<u64>, ConfigError> {
    minus_one_means(key, value, "no limit")
}

/// A non-negative number, or -1 for `meaning` (`None`).
fn minus_one_means(
    key: &'static str,
    value: i64,
    meaning: &str,
) -> Result<Option<u64>, ConfigError> {
    match value {
        -1 => Ok(None),
        v if v >= 0 => Ok(Some(v as u64)),
        v => Err(ConfigError::Invalid {
            key,
            value: v.to_string(),
            expected: format!("-1 ({meaning}) or a non-negative number"),
        }),
    }
}
