//! Composition root: a validated config in, a serving broker out. Started in dependency order
//! (listeners, metadata log, hosted partitions, Kafka service) and stopped in reverse.
//! Every partition this broker hosts is started and stopped as the replicated metadata says
//! (`broker/reconcile.rs`).
//! With `cluster.enabled` and several members, every group (metadata log included) runs over
//! the Raft transport with its replicas as voters; otherwise each group is this node alone.

mod reconcile;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;

use crate::config::Config;
use crate::group::compaction;
use crate::group::expiry::{self, ExpirySettings};
use crate::group::membership::{self, Membership, MembershipSettings};
use crate::group::{Groups, OFFSETS_TOPIC};
use crate::kafka::Server;
use crate::kafka::context::{self, BrokerContext, Services};
use crate::metadata::admin::{Admin, AdminSettings};
use crate::metadata::leadership::{self, LeadershipSettings};
use crate::metadata::{
    BrokerInfo, Command, METADATA_TOPIC, MetadataStore, ProducerIds, ProposeError, TopicDefaults,
    topic_config,
};
use crate::partition::{Partitions, Replica, ReplicaSpec, partition_dir};
use crate::raft::{RaftNodeOptions, RaftTiming, Transport, TransportConfig};
use crate::storage::DiskSpace;
use reconcile::Reconciler;

pub struct Broker {
    server: Server,
    context: Arc<BrokerContext>,
    reconciler: JoinHandle<()>,
    retention: JoinHandle<()>,
    /// Reads the free disk space, which decides whether produce is taken.
    space_watch: JoinHandle<()>,
    leadership: JoinHandle<()>,
    /// Forgets the membership of groups this broker stopped coordinating.
    group_sweep: JoinHandle<()>,
    /// Drops expired committed offsets and those of deleted topics.
    offsets_expiry: JoinHandle<()>,
    /// Snapshots `__consumer_offsets` partitions and deletes what the snapshots cover.
    offsets_compaction: JoinHandle<()>,
    /// Forgets idempotent producers idle for `producer.id.expiration.ms`.
    producer_expiry: JoinHandle<()>,
    cleaner: JoinHandle<()>,
    /// The Raft transport of a multi-node cluster; `None` for a single node.
    transport: Option<Transport>,
}

impl Broker {
    /// Binds the listeners, replays the metadata log, starts the hosted partitions; nothing is
    /// served until [`Broker::run`].
    pub async fn start(config: Config) -> anyhow::Result<Broker> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create log.dirs {}: {e}", config.data_dir.display())
        })?;
        let space = DiskSpace::new(&config.data_dir, config.min_free_bytes).map_err(|e| {
            anyhow::anyhow!(
                "cannot read free space of {}: {e}",
                config.data_dir.display()
            )
        })?;
        if space.is_low() {
            tracing::warn!(
                free_bytes = space.free_bytes(),
                floor_bytes = space.floor_bytes(),
                "free disk space below log.dir.min.free.bytes: produce and new partitions are refused"
            );
        }
        let space = Arc::new(space);
        if !crate::storage::configure_flush_threads(config.flush_threads as usize) {
            tracing::warn!("log.flush.threads: the flusher pool already runs; keeping its size");
        }
        let config = Arc::new(config);
        let server = Server::bind(Arc::clone(&config)).await?;
        let bound: Vec<SocketAddr> = server.local_addrs();
        let advertised = context::advertised(&config, &bound);
        let topic_defaults = topic_defaults(&config);
        let options = raft_options(&config).await?;

        let metadata_replica = Replica::start(
            &partition_dir(&config.data_dir, METADATA_TOPIC, 0, None),
            ReplicaSpec {
                topic: METADATA_TOPIC.to_string(),
                partition: 0,
                topic_id: None,
                node_id: config.node_id,
                members: members(&config),
                preferred_leader: None,
                config: topic_config::metadata_log(&topic_defaults),
                options: options.clone(),
            },
        )
        .await?;
        let metadata = Arc::new(MetadataStore::start(Arc::new(metadata_replica)).await);
        let first = advertised
            .first()
            .ok_or_else(|| anyhow::anyhow!("no advertised listener"))?;
        let me = BrokerInfo {
            node_id: config.node_id,
            host: first.host.clone(),
            port: first.port,
        };
        register(&metadata, me).await?;

        let transport = options.transport.clone();
        let partitions = Arc::new(Partitions::new(
            config.data_dir.clone(),
            options,
            Arc::clone(&space),
        ));
        let mut reconciler = Reconciler::new(
            Arc::clone(&metadata),
            Arc::clone(&partitions),
            config.node_id,
            members(&config),
            topic_defaults.clone(),
        );
        let admin = Arc::new(Admin::new(
            Arc::clone(&metadata),
            Arc::clone(&partitions),
            topic_defaults,
            admin_settings(&config),
            config.describe(&advertised),
        ));
        let services = Services {
            groups: Arc::new(Groups::new(
                Arc::clone(&partitions),
                config.offsets_topic_num_partitions,
                Membership::new(membership_settings(&config)),
            )),
            producer_ids: Arc::new(ProducerIds::new(Arc::clone(&metadata), config.node_id)),
            partitions,
            metadata,
            admin,
        };
        reconciler.tidy_data_dir(&config.data_dir)?;
        reconciler.run_once().await;
        let reconciler = tokio::spawn(reconciler.run());
        let context = Arc::new(BrokerContext::new(config, &bound, services));
        let retention = tokio::spawn(retention_loop(Arc::clone(&context)));
        let space_watch = tokio::spawn(watch_space(space));
        let leadership = tokio::spawn(leadership::run(
            Arc::clone(&context.services.metadata),
            Arc::clone(&context.services.partitions),
            leadership_settings(&context.config),
        ));
        let group_sweep = tokio::spawn(membership::sweep_stale(Arc::downgrade(
            &context.services.groups,
        )));
        let offsets_expiry = tokio::spawn(expiry::run(
            Arc::downgrade(&context.services.groups),
            Arc::clone(&context.services.metadata),
            expiry_settings(&context.config),
        ));
        let offsets_compaction = tokio::spawn(compaction::run(
            Arc::downgrade(&context.services.groups),
            Duration::from_millis(context.config.retention_check_interval_ms),
        ));
        let producer_expiry = tokio::spawn(producer_expiry_loop(Arc::clone(&context)));
        let cleaner = tokio::spawn(cleaner_loop(Arc::clone(&context)));
        Ok(Broker {
            server,
            context,
            reconciler,
            retention,
            space_watch,
            leadership,
            group_sweep,
            offsets_expiry,
            offsets_compaction,
            producer_expiry,
            cleaner,
            transport,
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.server.local_addrs()
    }

    /// Serves until `shutdown` completes, answers what is in flight, then stops every group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.server.run(Arc::clone(&self.context), shutdown).await;
        self.reconciler.abort();
        self.retention.abort();
        self.space_watch.abort();
        self.leadership.abort();
        self.group_sweep.abort();
        self.offsets_expiry.abort();
        self.offsets_compaction.abort();
        self.producer_expiry.abort();
        self.cleaner.abort();
        let services = &self.context.services;
        services.partitions.shutdown_all().await;
        services.metadata.shutdown().await;
        if let Some(transport) = &self.transport {
            transport.shutdown();
        }
    }
}

/// Reads the free disk space every [`SPACE_CHECK`]; produce reads the answer on every append.
async fn watch_space(space: Arc<DiskSpace>) {
    let mut ticks = tokio::time::interval(SPACE_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        if let Err(e) = space.refresh() {
            tracing::warn!(error = %e, "cannot read the free disk space");
        }
    }
}

/// Runs `pass` with the wall clock (ms since the epoch) every `period`, the first time one
/// period after start; a pass that overruns delays the next.
async fn periodic<F, Fut>(period: Duration, mut pass: F)
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        pass(now_ms).await;
    }
}

/// Every `log.retention.check.interval.ms`, lets each hosted partition delete the whole
/// segments its retention settings let go.
async fn retention_loop(context: Arc<BrokerContext>) {
    let every = Duration::from_millis(context.config.retention_check_interval_ms);
    periodic(every, |now_ms| {
        // Compaction, not time or size, decides what `__consumer_offsets` lets go.
        let replicas = context.services.partitions.all();
        async move {
            for replica in replicas.iter().filter(|r| r.topic != OFFSETS_TOPIC) {
                match replica.apply_retention(now_ms).await {
                    Ok(Some(log_start)) => tracing::info!(
                        topic = %replica.topic,
                        partition = replica.partition,
                        %log_start,
                        "retention: purging whole segments"
                    ),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        topic = %replica.topic,
                        partition = replica.partition,
                        error = %e,
                        "retention failed"
                    ),
                }
            }
        }
    })
    .await
}

/// Every `log.cleaner.backoff.ms`, each hosted partition rolls an active segment older than
/// its `segment.ms`, and each compacted one runs a compaction pass when one is due (with
/// `log.cleaner.enable`). One partition at a time: a pass is disk-bound.
async fn cleaner_loop(context: Arc<BrokerContext>) {
    let config = &context.config;
    let every = Duration::from_millis(config.log_cleaner_backoff_ms);
    let key_map_bytes =
        usize::try_from(config.log_cleaner_dedupe_buffer_size).unwrap_or(usize::MAX);
    let enabled = config.log_cleaner_enable;
    periodic(every, |now_ms| {
        // `__consumer_offsets` is compacted by its group coordinator.
        let replicas = context.services.partitions.all();
        async move {
            for replica in replicas.iter().filter(|r| r.topic != OFFSETS_TOPIC) {
                let upkeep = async {
                    replica.roll_if_older(now_ms).await?;
                    if enabled {
                        return replica.apply_compaction(now_ms, key_map_bytes).await;
                    }
                    Ok(None)
                };
                match upkeep.await {
                    Ok(Some(done)) => tracing::info!(
                        topic = %replica.topic,
                        partition = replica.partition,
                        segments = done.segments_rewritten,
                        records_removed = done.records_removed,
                        bytes_before = done.bytes_before,
                        bytes_after = done.bytes_after,
                        cleaned_to = %done.cleaned_to,
                        "compaction pass"
                    ),
                    Ok(None) => {}
                    Err(e) => tracing::warn!(
                        topic = %replica.topic,
                        partition = replica.partition,
                        error = %e,
                        "log upkeep failed"
                    ),
                }
            }
        }
    })
    .await
}

/// Every `producer.id.expiration.check.interval.ms`, each hosted partition forgets the
/// idempotent producers that wrote nothing for `producer.id.expiration.ms` (Kafka's rule; each
/// replica by its own clock, as in Kafka).
async fn producer_expiry_loop(context: Arc<BrokerContext>) {
    let every = Duration::from_millis(context.config.producer_id_expiration_check_interval_ms);
    let expiration_ms = context.config.producer_id_expiration_ms as i64;
    periodic(every, |now_ms| {
        for replica in context.services.partitions.all() {
            replica.expire_producers(now_ms, expiration_ms);
        }
        std::future::ready(())
    })
    .await
}

/// The group coordinator's `group.*` settings.
fn membership_settings(config: &Config) -> MembershipSettings {
    MembershipSettings {
        initial_rebalance_delay: Duration::from_millis(config.group_initial_rebalance_delay_ms),
        min_session_timeout: Duration::from_millis(config.group_min_session_timeout_ms),
        max_session_timeout: Duration::from_millis(config.group_max_session_timeout_ms),
        max_size: config.group_max_size as usize,
    }
}

/// `offsets.retention.*`.
fn expiry_settings(config: &Config) -> ExpirySettings {
    ExpirySettings {
        retention: Duration::from_secs(config.offsets_retention_minutes * 60),
        check_interval: Duration::from_millis(config.offsets_retention_check_interval_ms),
    }
}

fn leadership_settings(config: &Config) -> LeadershipSettings {
    LeadershipSettings {
        node_id: config.node_id,
        replica_lag: Duration::from_millis(config.replica_lag_time_max_ms),
        rebalance: config.auto_leader_rebalance,
        rebalance_every: Duration::from_secs(config.leader_imbalance_check_interval_secs),
    }
}

fn admin_settings(config: &Config) -> AdminSettings {
    AdminSettings {
        node_id: config.node_id,
        num_partitions: config.num_partitions,
        default_replication_factor: config.default_replication_factor,
        auto_create_topics: config.auto_create_topics,
    }
}

/// Broker-wide defaults of topic settings, from the `log.*` keys.
fn topic_defaults(config: &Config) -> TopicDefaults {
    TopicDefaults {
        retention_ms: config.retention_ms.map_or(-1, |ms| ms as i64),
        retention_bytes: config.retention_bytes.map_or(-1, |b| b as i64),
        segment_bytes: config.segment_bytes as i64,
        max_message_bytes: i64::from(config.message_max_bytes),
        index_interval_bytes: i64::from(config.index_interval_bytes),
        preallocate_step_bytes: config.preallocate_step_bytes,
        largest_replicated_batch_bytes: i64::from(
            TransportConfig::from_config(config).largest_batch_bytes(),
        ),
    }
}

/// Whether this node runs with peers: `cluster.enabled` with more than one member.
fn clustered(config: &Config) -> bool {
    config.cluster.enabled && config.cluster.initial_members.len() > 1
}

/// A single node runs every group alone ([`crate::raft::NoPeers`], openraft's timing); a
/// cluster node starts the Raft transport on `cluster.raft_address` and uses the cluster timing.
async fn raft_options(config: &Config) -> anyhow::Result<RaftNodeOptions> {
    if !clustered(config) {
        return Ok(RaftNodeOptions::default());
    }
    let transport = Transport::bind(TransportConfig::from_config(config))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot start the raft transport on cluster.raft_address {}: {e}",
                config.cluster.raft_address
            )
        })?;
    Ok(RaftNodeOptions {
        transport: Some(transport),
        timing: RaftTiming::from_cluster(&config.cluster),
    })
}

/// Every cluster member with its Raft address (member i is node i), or this node alone: the
/// voters of the metadata log, and those partition groups draw theirs from.
fn members(config: &Config) -> BTreeMap<u64, String> {
    if clustered(config) {
        TransportConfig::from_config(config).members
    } else {
        BTreeMap::from([(config.node_id, config.cluster.raft_address.clone())])
    }
}

/// First and longest pause between two attempts to register this broker.
/// How often the free disk space is read.
const SPACE_CHECK: Duration = Duration::from_secs(1);
const REGISTER_BACKOFF_MIN: Duration = Duration::from_millis(100);
const REGISTER_BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Records this broker (id and advertised address) in the metadata unless it is there already.
/// In a cluster that waits for a controller: retried with bounded backoff while no metadata
/// leader is reachable; a refusal of the command itself is an error.
async fn register(metadata: &MetadataStore, me: BrokerInfo) -> anyhow::Result<()> {
    let mut backoff = REGISTER_BACKOFF_MIN;
    for attempt in 1u64.. {
        if metadata.current().state.brokers.get(&me.node_id) == Some(&me) {
            break;
        }
        match metadata.propose(&Command::RegisterBroker(me.clone())).await {
            Ok(()) => {
                tracing::info!(node = me.node_id, attempt, "broker registered");
                break;
            }
            Err(ProposeError::Rejected(e)) => anyhow::bail!("broker registration refused: {e}"),
            Err(e) => {
                tracing::info!(
                    node = me.node_id,
                    attempt,
                    error = %e,
                    retry_in_ms = backoff.as_millis() as u64,
                    "no controller to register with yet; retrying"
                );
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(REGISTER_BACKOFF_MAX);
            }
        }
    }
    Ok(())
}
