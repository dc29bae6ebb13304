//! Composition root: a validated config in, a serving broker out. Started in dependency order
//! (listeners, metadata log, hosted partitions, Kafka service) and stopped in reverse.
//! Every partition this broker hosts is started and stopped as the replicated metadata says.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::config::Config;
use crate::kafka::Server;
use crate::kafka::context::{self, BrokerContext, Services};
use crate::metadata::{
    BrokerInfo, Command, EffectiveConfig, METADATA_TOPIC, MetadataState, MetadataStore,
    TopicDefaults,
};
use crate::partition::{Partitions, Replica, ReplicaSpec, leftovers, partition_dir};

pub struct Broker {
    server: Server,
    context: Arc<BrokerContext>,
    reconciler: JoinHandle<()>,
    retention: JoinHandle<()>,
}

impl Broker {
    /// Binds the listeners, replays the metadata log, starts the hosted partitions; nothing is
    /// served until [`Broker::run`].
    pub async fn start(config: Config) -> anyhow::Result<Broker> {
        if config.cluster.enabled && config.cluster.initial_members.len() > 1 {
            anyhow::bail!(
                "cluster.enabled with {} initial_members: multi-node clusters are not supported by this build yet; run a single node (cluster.enabled = false)",
                config.cluster.initial_members.len()
            );
        }
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create log.dirs {}: {e}", config.data_dir.display())
        })?;
        let config = Arc::new(config);
        let server = Server::bind(Arc::clone(&config)).await?;
        let bound: Vec<SocketAddr> = server.local_addrs();
        let advertised = context::advertised(&config, &bound);
        let topic_defaults = topic_defaults(&config);

        let metadata_replica = Replica::start(
            &partition_dir(&config.data_dir, METADATA_TOPIC, 0),
            ReplicaSpec {
                topic: METADATA_TOPIC.to_string(),
                partition: 0,
                node_id: config.node_id,
                members: members(&config),
                // The metadata log is small and its whole history is the state: keep it all.
                config: EffectiveConfig::resolve(
                    &BTreeMap::new(),
                    &TopicDefaults {
                        retention_ms: -1,
                        retention_bytes: -1,
                        segment_bytes: 64 << 20,
                        ..topic_defaults.clone()
                    },
                ),
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
        if metadata.current().state.brokers.get(&me.node_id) != Some(&me) {
            metadata.propose(&Command::RegisterBroker(me)).await?;
        }

        let services = Services {
            partitions: Arc::new(Partitions::new(config.data_dir.clone())),
            metadata,
            topic_defaults,
        };
        let context = Arc::new(BrokerContext::new(config, &bound, services));
        remove_leftovers(&context)?;
        let mut reconciler = Reconciler::default();
        reconciler.run_once(&context).await;
        let reconciler = tokio::spawn(reconciler.run(Arc::clone(&context)));
        let retention = tokio::spawn(retention_loop(Arc::clone(&context)));
        Ok(Broker {
            server,
            context,
            reconciler,
            retention,
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
        let services = &self.context.services;
        services.partitions.shutdown_all().await;
        services.metadata.shutdown().await;
    }
}

/// Every `log.retention.check.interval.ms`, lets each hosted partition delete the whole
/// segments its retention settings let go.
async fn retention_loop(context: Arc<BrokerContext>) {
    let every = Duration::from_millis(context.config.retention_check_interval_ms);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        for replica in context.services.partitions.all() {
            match replica.apply_retention(now_ms).await {
                Ok(Some(index)) => tracing::info!(
                    topic = %replica.topic,
                    partition = replica.partition,
                    purge_up_to = index,
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
}

/// Broker-wide defaults of topic settings, from the `log.*` keys.
fn topic_defaults(config: &Config) -> TopicDefaults {
    TopicDefaults {
        retention_ms: config.retention_ms.map_or(-1, |ms| ms as i64),
        retention_bytes: config.retention_bytes.map_or(-1, |b| b as i64),
        segment_bytes: config.segment_bytes as i64,
        max_message_bytes: i64::from(config.message_max_bytes),
        index_interval_bytes: i64::from(config.index_interval_bytes),
    }
}

/// Voters of the groups this node creates: itself alone until clusters are supported.
fn members(config: &Config) -> BTreeMap<u64, String> {
    BTreeMap::from([(config.node_id, config.cluster.raft_address.clone())])
}

/// Brings the hosted replicas in line with the metadata: starts those assigned here, deletes
/// those whose topic is gone (or was recreated under a new id), passes on config changes.
#[derive(Debug, Default)]
struct Reconciler {
    /// Topic ids this broker has replicas of.
    hosted: HashMap<String, Uuid>,
}

impl Reconciler {
    async fn run(mut self, context: Arc<BrokerContext>) {
        let mut changes = context.services.metadata.subscribe();
        while changes.changed().await.is_ok() {
            self.run_once(&context).await;
        }
    }

    async fn run_once(&mut self, context: &BrokerContext) {
        let view = context.services.metadata.current();
        let state = view.state;
        let partitions = &context.services.partitions;
        let gone: Vec<String> = self
            .hosted
            .iter()
            .filter(|(name, id)| state.topics.get(*name).is_none_or(|t| t.id != **id))
            .map(|(name, _)| name.clone())
            .collect();
        for name in gone {
            if let Err(e) = partitions.delete_topic(&name).await {
                tracing::error!(topic = %name, error = %e, "deleting a topic's replicas");
            }
            self.hosted.remove(&name);
        }
        if let Err(e) = start_assigned(context, &state).await {
            tracing::error!(error = %e, "starting assigned replicas");
        }
        for (name, topic) in &state.topics {
            self.hosted.insert(name.clone(), topic.id);
        }
        partitions.mark_reconciled(view.next_offset);
    }
}

/// Removes the directories of partitions deleted (or moved away) while this broker was down,
/// before any replica starts.
fn remove_leftovers(context: &BrokerContext) -> anyhow::Result<()> {
    let state = context.services.metadata.current().state;
    let node_id = context.node_id();
    let wanted: HashMap<(String, i32), Uuid> = state
        .topics
        .values()
        .flat_map(|topic| {
            topic
                .partitions
                .iter()
                .enumerate()
                .filter(|(_, replicas)| replicas.contains(&node_id))
                .map(|(p, _)| ((topic.name.clone(), p as i32), topic.id))
        })
        .collect();
    let removed = leftovers::remove_leftovers(&context.config.data_dir, &wanted, METADATA_TOPIC)?;
    if !removed.is_empty() {
        tracing::info!(
            count = removed.len(),
            "removed directories of deleted partitions"
        );
    }
    Ok(())
}

/// Starts every replica of `state` assigned to this node that is not running yet, and hands
/// each running one its current settings.
pub(crate) async fn start_assigned(
    context: &BrokerContext,
    state: &MetadataState,
) -> Result<(), crate::partition::Error> {
    let node_id = context.node_id();
    let partitions = &context.services.partitions;
    for (name, topic) in &state.topics {
        let config = EffectiveConfig::resolve(&topic.configs, &context.services.topic_defaults);
        for (p, replicas) in topic.partitions.iter().enumerate() {
            if !replicas.contains(&node_id) {
                continue;
            }
            let p = p as i32;
            match partitions.get(name, p) {
                Some(replica) => replica.set_config(config.clone()),
                None => {
                    let replica = partitions
                        .start(ReplicaSpec {
                            topic: name.clone(),
                            partition: p,
                            node_id,
                            members: members(&context.config),
                            config: config.clone(),
                        })
                        .await?;
                    // Lets a restart tell this topic's files from those of a recreated one.
                    if let Err(e) = leftovers::write_topic_id(replica.dir(), topic.id) {
                        tracing::warn!(topic = %name, partition = p, error = %e, "recording the topic id");
                    }
                }
            }
        }
    }
    Ok(())
}
