//! The broker's configuration: one `Config`, its defaults, and `validate()`. Every limit lives here.
//! `config/sources.rs` turns files (TOML or the seed's JSON layout), `RAFTKA_*` variables and CLI
//! overrides into the Kafka-named settings this file applies.

mod describe;
mod listeners;
mod sources;
#[cfg(test)]
mod tests;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use describe::{BrokerSetting, SettingType};
use listeners::check_advertised;
pub use listeners::{Listener, bind_address, parse_listeners};
pub use sources::{ENV_PREFIX, KEYS, Overrides, RESERVED_ENV};

/// Everything a broker needs to start. Built only through [`Config::load`] or [`Config::default`]
/// followed by [`Config::validate`], so a running broker is never half-configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `node.id` (or `cluster.node_id`): this broker's id, also its Raft node id.
    pub node_id: u64,
    /// `cluster.id`: reported to clients in Metadata and DescribeCluster.
    pub cluster_id: String,
    /// `listeners`: addresses the Kafka listener binds.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`: what Metadata tells clients; defaults to `listeners`.
    pub advertised_listeners: Vec<Listener>,
    /// `log.dirs` (or `cluster.data_dir`): the one directory holding all partition data.
    pub data_dir: PathBuf,
    /// `log.segment.bytes`: size of one segment file.
    pub segment_bytes: u64,
    /// `log.retention.ms`: delete segments older than this; `None` (-1) keeps them forever.
    pub retention_ms: Option<u64>,
    /// `log.retention.bytes`: delete old segments past this size per partition; `None` (-1) = no limit.
    pub retention_bytes: Option<u64>,
    /// `log.retention.check.interval.ms`: how often each partition looks for segments to delete.
    pub retention_check_interval_ms: u64,
    /// `log.index.interval.bytes`: bytes between two entries of the sparse offset index.
    pub index_interval_bytes: u32,
    /// `auto.create.topics.enable`: Metadata/Produce naming an unknown topic creates it.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: u32,
    /// `default.replication.factor`: replicas of an auto-created topic.
    pub default_replication_factor: u16,
    /// `message.max.bytes`: largest record batch accepted.
    pub message_max_bytes: u32,
    /// `socket.request.max.bytes`: largest request frame; a bigger size prefix closes the connection.
    pub socket_request_max_bytes: u32,
    /// `connections.max.idle.ms`: close a connection with nothing in flight after this long.
    pub connections_max_idle_ms: u64,
    /// `max.connections`: connections accepted at once; more wait in the listen backlog.
    pub max_connections: u32,
    /// `connection.max.in.flight.requests`: requests read ahead of their answers on one connection.
    pub max_in_flight_requests: u32,
    /// `replica.lag.time.max.ms`: a follower that has not had all the leader had this long ago,
    /// or has not answered for this long, leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `auto.leader.rebalance.enable`: leaders hand partitions back to their preferred replica.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`: how often leaders look for partitions to hand
    /// back to their preferred replica.
    pub leader_imbalance_check_interval_secs: u64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`, each a Raft group;
    /// a group's coordinator is the leader of one of them.
    pub offsets_topic_num_partitions: u32,
    /// `offsets.topic.segment.bytes`: segment size of `__consumer_offsets` partitions (small:
    /// commits are small, each partition preallocates a segment, and compaction deletes whole
    /// segments).
    pub offsets_topic_segment_bytes: u64,
    /// `offsets.retention.minutes`: how long a group without members keeps its committed
    /// offsets after its last commit (or after it became empty).
    pub offsets_retention_minutes: u64,
    /// `offsets.retention.check.interval.ms`: how often coordinators look for expired offsets.
    pub offsets_retention_check_interval_ms: u64,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members (extended by each newcomer, up to the rebalance timeout).
    pub group_initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms`: the shortest session timeout a member may ask for.
    pub group_min_session_timeout_ms: u64,
    /// `group.max.session.timeout.ms`: the longest session timeout a member may ask for.
    pub group_max_session_timeout_ms: u64,
    /// `log.level`: tracing filter used when `RUST_LOG` is not set.
    pub log_level: String,
    /// The seed's `cluster` section: Raft membership and timing.
    pub cluster: ClusterConfig,
}

/// Raft settings in the seed's layout (`cluster.*`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// `cluster.enabled`: false = a single node that is the only member of every group.
    pub enabled: bool,
    /// `cluster.raft_address`: where this node's Raft transport listens.
    pub raft_address: String,
    /// `cluster.initial_members`: Raft addresses of all nodes; member i (from 1) has node id i.
    pub initial_members: Vec<String>,
    /// `cluster.rtt_ms`: one round-trip unit in milliseconds.
    pub rtt_ms: u64,
    /// `cluster.election_rtt`: election timeout, in round trips.
    pub election_rtt: u64,
    /// `cluster.heartbeat_rtt`: heartbeat interval, in round trips.
    pub heartbeat_rtt: u64,
    /// `cluster.snapshot_entries`: log entries between two snapshots of a group.
    pub snapshot_entries: u64,
}

/// What can be wrong with a configuration. Every variant names the key and what is accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("unknown setting `{key}` ({origin}); accepted settings: {accepted}")]
    UnknownKey {
        key: String,
        origin: String,
        accepted: String,
    },
    #[error("bad value for `{key}` ({origin}): {message}")]
    BadValue {
        key: String,
        origin: String,
        message: String,
    },
    #[error("`{key}` = {value}: expected {expected}")]
    Invalid {
        key: &'static str,
        value: String,
        expected: String,
    },
    #[error("`{first}` and `{second}` set the same thing to different values; set only one")]
    Conflict {
        first: &'static str,
        second: &'static str,
    },
}

pub const DEFAULT_PORT: u16 = 9092;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// Room for the batch framing around the largest record batch inside one segment.
const SEGMENT_SLACK_BYTES: u64 = 64 * KIB;

impl Default for Config {
    fn default() -> Self {
        let listener = Listener {
            host: Ipv4Addr::LOCALHOST.to_string(),
            port: DEFAULT_PORT,
        };
        Config {
            node_id: 1,
            cluster_id: "raftka-cluster".to_string(),
            listeners: vec![listener.clone()],
            advertised_listeners: vec![listener],
            data_dir: PathBuf::from("./data"),
            segment_bytes: 1024 * MIB,
            retention_ms: Some(7 * 24 * 3600 * 1000),
            retention_bytes: None,
            retention_check_interval_ms: 300_000,
            index_interval_bytes: 4096,
            auto_create_topics: true,
            num_partitions: 1,
            default_replication_factor: 1,
            message_max_bytes: 1_048_588,
            socket_request_max_bytes: 100 * MIB as u32,
            connections_max_idle_ms: 600_000,
            max_connections: 1000,
            max_in_flight_requests: 64,
            replica_lag_time_max_ms: 30_000,
            auto_leader_rebalance: true,
            leader_imbalance_check_interval_secs: 10,
            offsets_topic_num_partitions: 10,
            offsets_topic_segment_bytes: 16 * MIB,
            offsets_retention_minutes: 10080,
            offsets_retention_check_interval_ms: 600_000,
            group_initial_rebalance_delay_ms: 3000,
            group_min_session_timeout_ms: 6000,
            group_max_session_timeout_ms: 1_800_000,
            log_level: "info".to_string(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            raft_address: "127.0.0.1:9093".to_string(),
            initial_members: vec!["127.0.0.1:9093".to_string()],
            rtt_ms: 50,
            election_rtt: 4,
            heartbeat_rtt: 1,
            snapshot_entries: 10_000,
        }
    }
}

impl Config {
    /// Defaults, then the file (if any), then `RAFTKA_*` variables from `env`, then `overrides`
    /// (CLI); validated. `env` is passed in so tests need not touch the process environment.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        let settings = sources::collect(file, env, overrides)?;
        settings.apply(&mut config)?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value and every relation between values.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        check(self.node_id >= 1, "node.id", self.node_id, "an id >= 1")?;
        check(
            !self.cluster_id.is_empty() && self.cluster_id.chars().all(|ch| ch.is_ascii_graphic()),
            "cluster.id",
            &self.cluster_id,
            "a non-empty string of printable ASCII without spaces",
        )?;
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
        check(
            !self.data_dir.as_os_str().is_empty(),
            "log.dirs",
            "(empty)",
            "a directory path",
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
        )?;
        let min_segment = u64::from(self.message_max_bytes) + SEGMENT_SLACK_BYTES;
        check(
            self.segment_bytes >= min_segment && self.segment_bytes <= u64::from(u32::MAX),
            "log.segment.bytes",
            self.segment_bytes,
            format!("message.max.bytes + 64 KiB ({min_segment}) ..= 4294967295"),
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
            (1..=100_000).contains(&self.num_partitions),
            "num.partitions",
            self.num_partitions,
            "1 ..= 100000",
        )?;
        let nodes = if c.enabled {
            c.initial_members.len()
        } else {
            1
        };
        check(
            self.default_replication_factor >= 1
                && usize::from(self.default_replication_factor) <= nodes,
            "default.replication.factor",
            self.default_replication_factor,
            format!("1 ..= the number of nodes ({nodes})"),
        )?;
        check(
            self.retention_check_interval_ms >= 1,
            "log.retention.check.interval.ms",
            self.retention_check_interval_ms,
            "at least 1 ms",
        )?;
        check(
            (1..=1000).contains(&self.offsets_topic_num_partitions),
            "offsets.topic.num.partitions",
            self.offsets_topic_num_partitions,
            "1 ..= 1000",
        )?;
        check(
            self.offsets_topic_segment_bytes >= min_segment
                && self.offsets_topic_segment_bytes <= u64::from(u32::MAX),
            "offsets.topic.segment.bytes",
            self.offsets_topic_segment_bytes,
            format!("message.max.bytes + 64 KiB ({min_segment}) ..= 4294967295"),
        )?;
        check(
            (1..=i32::MAX as u64).contains(&self.offsets_retention_minutes),
            "offsets.retention.minutes",
            self.offsets_retention_minutes,
            "1 ..= 2147483647",
        )?;
        check(
            self.offsets_retention_check_interval_ms >= 1,
            "offsets.retention.check.interval.ms",
            self.offsets_retention_check_interval_ms,
            "at least 1 ms",
        )?;
        check(
            self.group_initial_rebalance_delay_ms <= i32::MAX as u64,
            "group.initial.rebalance.delay.ms",
            self.group_initial_rebalance_delay_ms,
            "0 ..= 2147483647",
        )?;
        check(
            self.group_min_session_timeout_ms >= 1,
            "group.min.session.timeout.ms",
            self.group_min_session_timeout_ms,
            "at least 1 ms",
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
        )?;
        check(
            self.replica_lag_time_max_ms >= 1,
            "replica.lag.time.max.ms",
            self.replica_lag_time_max_ms,
            "at least 1 ms",
        )?;
        check(
            self.leader_imbalance_check_interval_secs >= 1,
            "leader.imbalance.check.interval.seconds",
            self.leader_imbalance_check_interval_secs,
            "at least 1 s",
        )?;
        check(
            self.connections_max_idle_ms >= 1,
            "connections.max.idle.ms",
            self.connections_max_idle_ms,
            "at least 1 ms",
        )?;
        check(
            self.max_connections >= 1,
            "max.connections",
            self.max_connections,
            "at least 1",
        )?;
        check(
            (1..=10_000).contains(&self.max_in_flight_requests),
            "connection.max.in.flight.requests",
            self.max_in_flight_requests,
            "1 ..= 10000",
        )?;
        check(
            tracing_subscriber::EnvFilter::try_new(&self.log_level).is_ok(),
            "log.level",
            &self.log_level,
            "a tracing filter such as `info` or `raftka=debug,warn`",
        )?;
        self.validate_cluster()
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        check(
            c.rtt_ms >= 1 && c.heartbeat_rtt >= 1,
            "cluster.heartbeat_rtt",
            c.heartbeat_rtt,
            "at least 1 (with cluster.rtt_ms at least 1)",
        )?;
        check(
            c.election_rtt >= 2 * c.heartbeat_rtt,
            "cluster.election_rtt",
            c.election_rtt,
            format!(
                "at least 2 x cluster.heartbeat_rtt ({})",
                2 * c.heartbeat_rtt
            ),
        )?;
        check(
            c.snapshot_entries >= 1,
            "cluster.snapshot_entries",
            c.snapshot_entries,
            "at least 1",
        )?;
        check(
            host_port(&c.raft_address).is_some(),
            "cluster.raft_address",
            &c.raft_address,
            "host:port",
        )?;
        if !c.enabled {
            return Ok(());
        }
        let members = &c.initial_members;
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
        let position = members.iter().position(|m| *m == c.raft_address);
        check(
            position.is_some(),
            "cluster.raft_address",
            &c.raft_address,
            "one of cluster.initial_members",
        )?;
        let expected_id = position.map_or(0, |p| p as u64 + 1);
        check(
            self.node_id == expected_id,
            "node.id",
            self.node_id,
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
