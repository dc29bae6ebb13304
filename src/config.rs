//! The broker's configuration: one `Config` and its defaults. Every limit lives here; each
//! section's checks are in `config/validate.rs`.
//! `config/sources.rs` turns files (TOML or the seed's JSON layout), `RAFTKA_*` variables and CLI
//! overrides into the Kafka-named settings this file applies.

mod describe;
mod listeners;
mod settings;
mod sources;
#[cfg(test)]
mod tests;
mod validate;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub use describe::{BrokerSetting, SettingType};
pub use listeners::{Listener, bind_address, parse_listeners};
pub use settings::KEYS;
pub use sources::{ENV_PREFIX, Overrides, RESERVED_ENV};

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
    /// `log.preallocate.step.bytes`: disk a partition reserves at a time ahead of its data, so
    /// disk use follows data instead of whole segments.
    pub preallocate_step_bytes: u64,
    /// `log.flush.threads`: threads that make appended data durable, shared by all partitions;
    /// 0 is four per core, at most 64.
    pub flush_threads: u32,
    /// `log.dir.min.free.bytes`: free space kept on the logs' file system; below it clients'
    /// writes and new partitions are refused. `None` (-1): the smaller of 1 GiB and 5%.
    pub min_free_bytes: Option<u64>,
    /// `auto.create.topics.enable`: Metadata/Produce naming an unknown topic creates it.
    pub auto_create_topics: bool,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: u32,
    /// `default.replication.factor`: replicas of an auto-created topic.
    pub default_replication_factor: u16,
    /// `message.max.bytes`: largest record batch accepted.
    pub message_max_bytes: u32,
    /// `fetch.max.bytes`: the most a Fetch response holds, whatever the request asks (Kafka:
    /// 55 MiB); the first batch of the first partition with data still comes whole.
    pub fetch_max_bytes: u32,
    /// `socket.request.max.bytes`: largest request frame; a bigger size prefix closes the connection.
    pub socket_request_max_bytes: u32,
    /// `connections.max.idle.ms`: close a connection with nothing in flight after this long.
    pub connections_max_idle_ms: u64,
    /// `max.connections`: connections accepted at once; more wait in the listen backlog.
    pub max_connections: u32,
    /// `max.connections.per.ip`: connections one client address may hold at once; a further
    /// one is closed as soon as it is accepted, as Kafka does.
    pub max_connections_per_ip: u32,
    /// `connection.max.in.flight.requests`: requests read ahead of their answers on one connection.
    pub max_in_flight_requests: u32,
    /// `queued.max.request.bytes`: request bytes all connections together hold in memory before
    /// they stop reading more; -1 (Kafka's default) for no such bound.
    pub queued_max_request_bytes: i64,
    /// `replica.lag.time.max.ms`: a follower that has not had all the leader had this long ago,
    /// or has not answered for this long, leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `auto.leader.rebalance.enable`: leaders hand partitions back to their preferred replica.
    pub auto_leader_rebalance: bool,
    /// `leader.imbalance.check.interval.seconds`: how often leaders look for partitions to hand
    /// back to their preferred replica.
    pub leader_imbalance_check_interval_secs: u64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`, each a Raft instance;
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
    /// `group.max.size`: members one consumer group may have.
    pub group_max_size: u64,
    /// `producer.id.expiration.ms`: a partition forgets an idempotent producer that wrote
    /// nothing for this long (its next batch may then start at any sequence).
    pub producer_id_expiration_ms: u64,
    /// `producer.id.expiration.check.interval.ms`: how often partitions look for such producers.
    pub producer_id_expiration_check_interval_ms: u64,
    /// `log.cleaner.enable`: compacted topics are compacted (off, they only grow).
    pub log_cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`: how often each compacted partition looks for work.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: memory one compaction pass may use for its key map.
    pub log_cleaner_dedupe_buffer_size: u64,
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
    #[error("config file {path}: {source}")]
    Syntax {
        path: PathBuf,
        #[source]
        source: SyntaxError,
    },
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

/// Why a config file does not parse as settings.
#[derive(Debug, thiserror::Error)]
pub enum SyntaxError {
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    #[error("the top level must be a table/object of settings")]
    NotATable,
}

pub const DEFAULT_PORT: u16 = 9092;
/// `log.preallocate.step.bytes` unless set: an empty partition holds this much disk.
pub const DEFAULT_PREALLOCATE_STEP_BYTES: u64 = 4 << 20;
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

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
            preallocate_step_bytes: DEFAULT_PREALLOCATE_STEP_BYTES,
            flush_threads: 0,
            min_free_bytes: None,
            auto_create_topics: true,
            num_partitions: 1,
            default_replication_factor: 1,
            message_max_bytes: 1_048_588,
            fetch_max_bytes: 57_671_680,
            socket_request_max_bytes: 100 * MIB as u32,
            connections_max_idle_ms: 600_000,
            max_connections: 1000,
            max_connections_per_ip: i32::MAX as u32,
            max_in_flight_requests: 64,
            queued_max_request_bytes: -1,
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
            group_max_size: i32::MAX as u64,
            producer_id_expiration_ms: 86_400_000,
            producer_id_expiration_check_interval_ms: 600_000,
            log_cleaner_enable: true,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_dedupe_buffer_size: 128 * MIB,
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
}
