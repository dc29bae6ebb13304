//! The state every request handler shares: the validated config and the addresses clients are told
//! to use. Partitions, metadata and group coordination join here as they land; `broker.rs` builds it.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::{Config, Listener};

#[derive(Debug)]
pub struct BrokerContext {
    pub config: Arc<Config>,
    /// `advertised.listeners`, with port 0 replaced by the port actually bound.
    pub advertised: Vec<Listener>,
}

impl BrokerContext {
    /// `bound[i]` is where `config.listeners[i]` ended up (its port matters when 0 was asked for).
    pub fn new(config: Arc<Config>, bound: &[SocketAddr]) -> Self {
        let advertised = config
            .advertised_listeners
            .iter()
            .zip(bound)
            .map(|(l, addr)| Listener {
                host: l.host.clone(),
                port: if l.port == 0 { addr.port() } else { l.port },
            })
            .collect();
        BrokerContext { config, advertised }
    }
}
