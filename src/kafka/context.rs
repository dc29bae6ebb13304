//! The state every request handler shares: config, the addresses clients are told to use, and
//! the broker's services (hosted partitions, replicated metadata). `broker.rs` builds it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, Listener};
use crate::group::Groups;
use crate::metadata::{MetadataStore, TopicDefaults};
use crate::partition::Partitions;

/// What the broker runs that handlers reach through the context.
#[derive(Debug)]
pub struct Services {
    pub partitions: Arc<Partitions>,
    pub metadata: Arc<MetadataStore>,
    /// Broker-wide topic defaults (`log.retention.ms`, ...), for new topics and DescribeConfigs.
    pub topic_defaults: TopicDefaults,
    /// Consumer groups coordinated here and their committed offsets.
    pub groups: Arc<Groups>,
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
