//! Composition root: a validated config in, a serving broker out. Today that is the Kafka listener;
//! storage, partitions, the Raft transport and metadata are started here as they land, in
//! dependency order, and stopped in reverse.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Config;
use crate::kafka::Server;

pub struct Broker {
    server: Server,
}

impl Broker {
    /// Creates the data directory and binds the listeners; nothing is served until [`Broker::run`].
    pub async fn start(config: Config) -> anyhow::Result<Broker> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| {
            anyhow::anyhow!("cannot create log.dirs {}: {e}", config.data_dir.display())
        })?;
        let server = Server::bind(Arc::new(config)).await?;
        Ok(Broker { server })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.server.local_addrs()
    }

    /// Serves until `shutdown` completes, then answers what is in flight and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        self.server.run(shutdown).await;
    }
}
