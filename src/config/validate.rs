//! `Config::validate`: each section of the settings checks its own values and the relations it
//! has with others, in the order the sections are listed; the first problem found is the error,
//! naming the key and what is accepted. `config.rs` holds the settings and their defaults.

use super::listeners::check_advertised;
use super::{ClusterConfig, Config, ConfigError, Listener, bind_address};

/// Room for the batch framing around the largest record batch inside one segment.
const SEGMENT_SLACK_BYTES: u64 = 64 * 1024;

impl Config {
    /// Checks every value and every relation between values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_identity()?;
        self.validate_listeners()?;
        self.validate_request_limits()?;
        self.validate_log()?;
        self.validate_topics()?;
        self.validate_offsets()?;
        self.validate_groups()?;
        self.validate_producer_ids()?;
        self.validate_cleaner()?;
        self.validate_replication()?;
        self.validate_connections()?;
        self.validate_logging()?;
        self.cluster.validate(self.node_id)
    }

    /// `node.id`, `cluster.id`.
    fn validate_identity(&self) -> Result<(), ConfigError> {
        check(self.node_id >= 1, "node.id", self.node_id, "an id >= 1")?;
        check(
            !self.cluster_id.is_empty() && self.cluster_id.chars().all(|ch| ch.is_ascii_graphic()),
            "cluster.id",
            &self.cluster_id,
            "a non-empty string of printable ASCII without spaces",
        )
    }

    /// `listeners`, `advertised.listeners`.
    fn validate_listeners(&self) -> Result<(), ConfigError> {
        check(
            !self.listeners.is_empty(),
            "listeners",
            "(empty)",
            "at least one PLAINTEXT://ip:port",
        )?;
        for l in &self.listeners {
            bind_address(l)?;
        }
        check(
            self.advertised_listeners.len() == self.listeners.len(),
            "advertised.listeners",
            join(&self.advertised_listeners),
            "one entry per entry of `listeners`",
        )?;
        for l in &self.advertised_listeners {
            check_advertised(l)?;
        }
        Ok(())
    }

    /// `message.max.bytes`, `socket.request.max.bytes`: a batch must fit in a request;
    /// `fetch.max.bytes` as Kafka bounds it.
    fn validate_request_limits(&self) -> Result<(), ConfigError> {
        check(
            (1024..=i32::MAX as u32).contains(&self.fetch_max_bytes),
            "fetch.max.bytes",
            self.fetch_max_bytes,
            "1024 ..= 2147483647",
        )?;
        check(
            self.message_max_bytes >= 1024,
            "message.max.bytes",
            self.message_max_bytes,
            "1024 ..= socket.request.max.bytes",
        )?;
        check(
            self.message_max_bytes <= self.socket_request_max_bytes,
            "message.max.bytes",
            self.message_max_bytes,
            format!(
                "at most socket.request.max.bytes ({})",
                self.socket_request_max_bytes
            ),
        )?;
        check(
            self.socket_request_max_bytes >= 1024
                && self.socket_request_max_bytes <= i32::MAX as u32,
            "socket.request.max.bytes",
            self.socket_request_max_bytes,
            "1024 ..= 2147483647",
        )
    }

    /// `log.*`: where partitions live, how their segments are sized, indexed and let go.
    fn validate_log(&self) -> Result<(), ConfigError> {
        check(
            !self.data_dir.as_os_str().is_empty(),
            "log.dirs",
            "(empty)",
            "a directory path",
        )?;
        check_segment_bytes(
            "log.segment.bytes",
            self.segment_bytes,
            self.message_max_bytes,
        )?;
        check(
            self.retention_ms != Some(0),
            "log.retention.ms",
            0,
            "-1 (keep forever) or a positive number of ms",
        )?;
        check(
            self.retention_bytes.is_none_or(|b| b >= self.segment_bytes),
            "log.retention.bytes",
            self.retention_bytes.unwrap_or_default(),
            "-1 (no limit) or at least log.segment.bytes",
        )?;
        check(
            self.index_interval_bytes >= 1
                && u64::from(self.index_interval_bytes) <= self.segment_bytes,
            "log.index.interval.bytes",
            self.index_interval_bytes,
            "1 ..= log.segment.bytes",
        )?;
        check(
            (4096..=1 << 30).contains(&self.preallocate_step_bytes),
            "log.preallocate.step.bytes",
            self.preallocate_step_bytes,
            "4096 ..= 1073741824",
        )?;
        check(
            self.flush_threads <= 256,
            "log.flush.threads",
            self.flush_threads,
            "0 (four per core) ..= 256",
        )?;
        check_at_least_one(
            "log.retention.check.interval.ms",
            self.retention_check_interval_ms,
            "ms",
        )
    }

    /// `num.partitions`, `default.replication.factor`: what an auto-created topic gets.
    fn validate_topics(&self) -> Result<(), ConfigError> {
        check(
            (1..=100_000).contains(&self.num_partitions),
            "num.partitions",
            self.num_partitions,
            "1 ..= 100000",
        )?;
        let nodes = self.cluster.nodes();
        check(
            self.default_replication_factor >= 1
                && usize::from(self.default_replication_factor) <= nodes,
            "default.replication.factor",
            self.default_replication_factor,
            format!("1 ..= the number of nodes ({nodes})"),
        )
    }

    /// `offsets.*`: the `__consumer_offsets` topic and how long commits are kept.
    fn validate_offsets(&self) -> Result<(), ConfigError> {
        check(
            (1..=1000).contains(&self.offsets_topic_num_partitions),
            "offsets.topic.num.partitions",
            self.offsets_topic_num_partitions,
            "1 ..= 1000",
        )?;
        check_segment_bytes(
            "offsets.topic.segment.bytes",
            self.offsets_topic_segment_bytes,
            self.message_max_bytes,
        )?;
        check(
            (1..=i32::MAX as u64).contains(&self.offsets_retention_minutes),
            "offsets.retention.minutes",
            self.offsets_retention_minutes,
            "1 ..= 2147483647",
        )?;
        check_at_least_one(
            "offsets.retention.check.interval.ms",
            self.offsets_retention_check_interval_ms,
            "ms",
        )
    }

    /// `producer.id.*`: Kafka's int ranges, at least 1 ms.
    fn validate_producer_ids(&self) -> Result<(), ConfigError> {
        for (key, value) in [
            ("producer.id.expiration.ms", self.producer_id_expiration_ms),
            (
                "producer.id.expiration.check.interval.ms",
                self.producer_id_expiration_check_interval_ms,
            ),
        ] {
            check(
                (1..=i32::MAX as u64).contains(&value),
                key,
                value,
                "1 ..= 2147483647",
            )?;
        }
        Ok(())
    }

    /// `log.cleaner.*`: a backoff of at least 1 ms, a key map of at least 1 MiB.
    fn validate_cleaner(&self) -> Result<(), ConfigError> {
        check(
            (1..=i64::MAX as u64).contains(&self.log_cleaner_backoff_ms),
            "log.cleaner.backoff.ms",
            self.log_cleaner_backoff_ms,
            "1 ..= 9223372036854775807",
        )?;
        check(
            (1 << 20..=i64::MAX as u64).contains(&self.log_cleaner_dedupe_buffer_size),
            "log.cleaner.dedupe.buffer.size",
            self.log_cleaner_dedupe_buffer_size,
            "1048576 ..= 9223372036854775807",
        )
    }

    /// `group.*`: rebalance delay, the session timeouts members may ask for, the group size.
    fn validate_groups(&self) -> Result<(), ConfigError> {
        check(
            (1..=i32::MAX as u64).contains(&self.group_max_size),
            "group.max.size",
            self.group_max_size,
            "1 ..= 2147483647",
        )?;
        check(
            self.group_initial_rebalance_delay_ms <= i32::MAX as u64,
            "group.initial.rebalance.delay.ms",
            self.group_initial_rebalance_delay_ms,
            "0 ..= 2147483647",
        )?;
        check_at_least_one(
            "group.min.session.timeout.ms",
            self.group_min_session_timeout_ms,
            "ms",
        )?;
        check(
            self.group_max_session_timeout_ms >= self.group_min_session_timeout_ms
                && self.group_max_session_timeout_ms <= i32::MAX as u64,
            "group.max.session.timeout.ms",
            self.group_max_session_timeout_ms,
            format!(
                "group.min.session.timeout.ms ({}) ..= 2147483647",
                self.group_min_session_timeout_ms
            ),
        )
    }

    /// `replica.lag.time.max.ms`, `leader.imbalance.check.interval.seconds`.
    fn validate_replication(&self) -> Result<(), ConfigError> {
        check_at_least_one(
            "replica.lag.time.max.ms",
            self.replica_lag_time_max_ms,
            "ms",
        )?;
        check_at_least_one(
            "leader.imbalance.check.interval.seconds",
            self.leader_imbalance_check_interval_secs,
            "s",
        )
    }

    /// `connections.max.idle.ms`, `max.connections`, `connection.max.in.flight.requests`.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        check_at_least_one(
            "connections.max.idle.ms",
            self.connections_max_idle_ms,
            "ms",
        )?;
        check(
            self.max_connections >= 1,
            "max.connections",
            self.max_connections,
            "at least 1",
        )?;
        check(
            (1..=i32::MAX as u32).contains(&self.max_connections_per_ip),
            "max.connections.per.ip",
            self.max_connections_per_ip,
            "1 ..= 2147483647",
        )?;
        check(
            (1..=10_000).contains(&self.max_in_flight_requests),
            "connection.max.in.flight.requests",
            self.max_in_flight_requests,
            "1 ..= 10000",
        )?;
        check(
            self.queued_max_request_bytes == -1 || self.queued_max_request_bytes >= 1,
            "queued.max.request.bytes",
            self.queued_max_request_bytes,
            "-1 (no bound) or at least 1",
        )
    }

    /// `log.level`.
    fn validate_logging(&self) -> Result<(), ConfigError> {
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log_level).is_ok(),
            "log.level",
            &self.log_level,
            "a tracing filter such as `info` or `raftka=debug,warn`",
        )
    }
}

impl ClusterConfig {
    /// How many nodes replicas can be spread over: the members, or this node alone.
    fn nodes(&self) -> usize {
        if self.enabled {
            self.initial_members.len()
        } else {
            1
        }
    }

    /// `cluster.*`: Raft timing and, when enabled, a membership this node (`node_id`) is in at
    /// its own position.
    fn validate(&self, node_id: u64) -> Result<(), ConfigError> {
        check(
            self.rtt_ms >= 1 && self.heartbeat_rtt >= 1,
            "cluster.heartbeat_rtt",
            self.heartbeat_rtt,
            "at least 1 (with cluster.rtt_ms at least 1)",
        )?;
        check(
            self.election_rtt >= 2 * self.heartbeat_rtt,
            "cluster.election_rtt",
            self.election_rtt,
            format!(
                "at least 2 x cluster.heartbeat_rtt ({})",
                2 * self.heartbeat_rtt
            ),
        )?;
        check(
            self.snapshot_entries >= 1,
            "cluster.snapshot_entries",
            self.snapshot_entries,
            "at least 1",
        )?;
        check(
            host_port(&self.raft_address).is_some(),
            "cluster.raft_address",
            &self.raft_address,
            "host:port",
        )?;
        if !self.enabled {
            return Ok(());
        }
        let members = &self.initial_members;
        check(
            members.len() % 2 == 1,
            "cluster.initial_members",
            members.join(","),
            "an odd number of Raft addresses (1, 3, 5, ...)",
        )?;
        for (i, m) in members.iter().enumerate() {
            check(
                host_port(m).is_some() && !members[..i].contains(m),
                "cluster.initial_members",
                m,
                "distinct host:port entries",
            )?;
        }
        let position = members.iter().position(|m| *m == self.raft_address);
        check(
            position.is_some(),
            "cluster.raft_address",
            &self.raft_address,
            "one of cluster.initial_members",
        )?;
        let expected_id = position.map_or(0, |p| p as u64 + 1);
        check(
            node_id == expected_id,
            "node.id",
            node_id,
            format!(
                "{expected_id}: the position (from 1) of cluster.raft_address in cluster.initial_members"
            ),
        )
    }
}

fn check(
    ok: bool,
    key: &'static str,
    value: impl std::fmt::Display,
    expected: impl Into<String>,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            key,
            value: value.to_string(),
            expected: expected.into(),
        })
    }
}

/// An interval or count that must not be 0.
fn check_at_least_one(key: &'static str, value: u64, unit: &str) -> Result<(), ConfigError> {
    check(value >= 1, key, value, format!("at least 1 {unit}"))
}

/// A segment holds the largest batch with its framing, and its positions fit in a `u32`.
fn check_segment_bytes(
    key: &'static str,
    segment_bytes: u64,
    message_max_bytes: u32,
) -> Result<(), ConfigError> {
    let min_segment = u64::from(message_max_bytes) + SEGMENT_SLACK_BYTES;
    check(
        segment_bytes >= min_segment && segment_bytes <= u64::from(u32::MAX),
        key,
        segment_bytes,
        format!("message.max.bytes + 64 KiB ({min_segment}) ..= 4294967295"),
    )
}

fn join(listeners: &[Listener]) -> String {
    listeners
        .iter()
        .map(|l| l.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn host_port(s: &str) -> Option<(&str, u16)> {
    let (host, port) = s.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.is_empty()).then_some((host, port))
}
