//! The state every request handler shares: config, the addresses clients are told to use, and
//! the broker's services (hosted partitions, replicated metadata, topic administration,
//! groups). `broker.rs` builds it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Listener};
use crate::group::Groups;
use crate::metadata::admin::Admin;
use crate::metadata::{LeaderRecord, MetadataStore, ProducerIds, TopicMeta, routing};
use crate::partition::{self, Partitions, Replica};

/// What the broker runs that handlers reach through the context.
#[derive(Debug)]
pub struct Services {
    pub partitions: Arc<Partitions>,
    pub metadata: Arc<MetadataStore>,
    /// Creates, deletes, grows and configures topics.
    pub admin: Arc<Admin>,
    /// Consumer groups coordinated here and their committed offsets.
    pub groups: Arc<Groups>,
    /// Hands out ids to idempotent producers.
    pub producer_ids: Arc<ProducerIds>,
}

#[derive(Debug)]
pub struct BrokerContext {
    pub config: Arc<Config>,
    /// `advertised.listeners`, with port 0 replaced by the port actually bound.
    pub advertised: Vec<Listener>,
    pub services: Services,
}

impl BrokerContext {
    /// `bound[i]` is where `config.listeners[i]` ended up (its port matters when 0 was asked for).
    pub fn new(config: Arc<Config>, bound: &[SocketAddr], services: Services) -> Self {
        BrokerContext {
            advertised: advertised(&config, bound),
            config,
            services,
        }
    }

    pub fn node_id(&self) -> u64 {
        self.config.node_id
    }

    /// The replica serving a partition request here, or why there is none.
    pub fn replica(&self, topic: &str, partition: i32) -> Result<Arc<Replica>, partition::Error> {
        let state = self.services.metadata.current().state;
        routing::hosted_replica(&state, &self.services.partitions, topic, partition)
    }

    /// Whether this broker's replica of `partition` of `topic` would not open.
    pub fn offline_here(&self, topic: &TopicMeta, partition: i32) -> bool {
        routing::offline_here(&self.services.partitions, topic, partition)
    }

    /// Who leads `partition` of `topic` as far as this broker can tell.
    pub fn leader_view(&self, topic: &TopicMeta, partition: i32) -> Option<LeaderRecord> {
        let lag = Duration::from_millis(self.config.replica_lag_time_max_ms);
        routing::leader_view(
            &self.services.partitions,
            self.node_id(),
            lag,
            topic,
            partition,
        )
    }
}

/// `advertised.listeners` with each port 0 replaced by the bound port of its listener.
pub fn advertised(config: &Config, bound: &[SocketAddr]) -> Vec<Listener> {
    config
        .advertised_listeners
        .iter()
        .zip(bound)
        .map(|(l, addr)| Listener {
            host: l.host.clone(),
            port: if l.port == 0 { addr.port() } else { l.port },
        })
        .collect()
}
