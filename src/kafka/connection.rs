//! One client connection: read frames, start their handlers, write answers back in request order.
//! Bounded read-ahead (requests and bytes in flight), idle close, and the close-on-garbage rule.
//! `server.rs` accepts connections; `request.rs` judges each frame.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use kafka_protocol::messages::ApiKey;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::{Instrument, debug, info, info_span, warn};

use super::budget::RequestBudget;
use super::context::BrokerContext;
use super::frame::{FrameError, FrameReader};
use super::handlers::{self, HandlerError, Reply, RequestContext, api_versions};
use super::request::{self, Parsed, RequestError};

/// Limits of one connection, from the config.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionLimits {
    pub max_frame_bytes: u32,
    pub max_in_flight: usize,
    /// Frames plus their decoded estimates in flight; reading pauses above this.
    pub max_in_flight_bytes: usize,
    pub idle: Duration,
    /// `queued.max.request.bytes`, shared by all connections; `None` when unbounded.
    pub budget: Option<Arc<RequestBudget>>,
}

/// Why a connection is closed before the client is done with it.
#[derive(Debug, thiserror::Error)]
enum CloseError {
    #[error("client not reading answers")]
    NotReading,
    #[error("write failed: {0}")]
    Write(#[source] std::io::Error),
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Handler(#[from] HandlerError),
}

/// One answer in the making, with what it holds in memory.
struct InFlight {
    correlation_id: i32,
    api: ApiKey,
    version: i16,
    held_bytes: usize,
    reply: Reply,
}

/// Serves one connection until the client leaves, sends garbage, idles out, or shutdown is asked.
pub(crate) async fn serve(
    stream: TcpStream,
    conn: u64,
    broker: Arc<BrokerContext>,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) {
    let peer_addr = stream.peer_addr().ok();
    let peer = peer_addr.map(|a| a.to_string()).unwrap_or_default();
    let client_host: Arc<str> = peer_addr
        .map(|a| format!("/{}", a.ip()))
        .unwrap_or_default()
        .into();
    let span = info_span!("conn", conn, %peer);
    async move {
        debug!("connection opened");
        match run(stream, conn, broker, limits, shutdown, client_host).await {
            Ok(reason) => debug!(reason, "connection closed"),
            Err(reason) => info!(%reason, "connection closed"),
        }
    }
    .instrument(span)
    .await
}

async fn run(
    mut stream: TcpStream,
    conn: u64,
    broker: Arc<BrokerContext>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    client_host: Arc<str>,
) -> Result<&'static str, CloseError> {
    let _ = stream.set_nodelay(true);
    let (mut rd, mut wr) = stream.split();
    let mut reader = FrameReader::new(limits.max_frame_bytes);
    let mut in_flight: FuturesOrdered<BoxFuture<'static, InFlight>> = FuturesOrdered::new();
    let mut held = Held {
        bytes: 0,
        budget: limits.budget.clone(),
    };
    let mut last_activity = Instant::now();
    let mut reading = !*shutdown.borrow();
    let budget = limits.budget.clone();
    let mut budget_changes = budget.as_ref().map(|b| b.watcher());
    loop {
        if !reading && in_flight.is_empty() {
            return Ok("drained");
        }
        let budget_full = budget.as_ref().is_some_and(|b| !b.has_room());
        let may_read = reading
            && in_flight.len() < limits.max_in_flight
            && held.bytes < limits.max_in_flight_bytes
            && !budget_full;
        tokio::select! {
            // Answers first: they free room for more requests.
            biased;
            Some(done) = in_flight.next() => {
                held.give_back(done.held_bytes);
                match done.reply {
                    Ok(Some(bytes)) => {
                        timeout(limits.idle, wr.write_all(&bytes))
                            .await
                            .map_err(|_| CloseError::NotReading)?
                            .map_err(CloseError::Write)?;
                        debug!(api = ?done.api, version = done.version, correlation_id = done.correlation_id, "answered");
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(api = ?done.api, version = done.version, correlation_id = done.correlation_id, error = %e, "closing");
                        return Err(e.into());
                    }
                }
                last_activity = Instant::now();
            }
            frame = reader.read_frame(&mut rd), if may_read => {
                let Some(frame) = frame? else {
                    // The client finished sending; answer what it already asked, then close.
                    reading = false;
                    continue;
                };
                last_activity = Instant::now();
                let (future, bytes) = start(frame, conn, &broker, &client_host)?;
                held.take(bytes);
                in_flight.push_back(future);
            }
            // Waiting for room in the shared budget: look again when it changes.
            Some(_) = changed(&mut budget_changes), if reading && budget_full => {}
            _ = sleep_until(last_activity + limits.idle), if in_flight.is_empty() && !budget_full => {
                return Ok("idle");
            }
            _ = shutdown.changed(), if reading => {
                reading = false;
            }
        }
    }
}

/// The request bytes a connection holds: counted against the shared budget as they are read,
/// given back as they are answered, and whatever is left when the connection ends.
struct Held {
    bytes: usize,
    budget: Option<Arc<RequestBudget>>,
}

impl Held {
    fn take(&mut self, bytes: usize) {
        self.bytes += bytes;
        if let Some(budget) = &self.budget {
            budget.take(bytes);
        }
    }

    fn give_back(&mut self, bytes: usize) {
        self.bytes -= bytes;
        if let Some(budget) = &self.budget {
            budget.give_back(bytes);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(budget) = &self.budget {
            budget.give_back(self.bytes);
        }
    }
}

/// The next change of the shared budget; never resolves without one.
async fn changed(watcher: &mut Option<watch::Receiver<usize>>) -> Option<()> {
    match watcher {
        Some(w) => w.changed().await.ok(),
        None => std::future::pending().await,
    }
}

/// Judges one frame and starts its handler; an error closes the connection.
fn start(
    frame: Bytes,
    conn: u64,
    broker: &Arc<BrokerContext>,
    client_host: &Arc<str>,
) -> Result<(BoxFuture<'static, InFlight>, usize), RequestError> {
    let frame_len = frame.len();
    match request::parse(frame) {
        Ok(Parsed::Routed {
            api,
            header,
            body,
            decoded_bytes,
        }) => {
            let held = frame_len + decoded_bytes;
            let (version, correlation_id) = (header.request_api_version, header.correlation_id);
            let name = api.key;
            debug!(api = ?name, version, correlation_id, "request");
            let ctx = RequestContext {
                broker: broker.clone(),
                api_version: version,
                correlation_id,
                client_id: header.client_id,
                conn,
                client_host: Arc::clone(client_host),
            };
            let reply = (api.route)(ctx, body);
            let future = async move {
                InFlight {
                    correlation_id,
                    api: name,
                    version,
                    held_bytes: held,
                    reply: reply.await,
                }
            };
            Ok((Box::pin(future), held))
        }
        Ok(Parsed::NewerApiVersions {
            correlation_id,
            version,
        }) => {
            // The normal handshake of clients newer than the served versions (the Java client
            // opens every connection with one): not worth a line per connection.
            debug!(
                version,
                correlation_id, "ApiVersions version not served; answering v0 UNSUPPORTED_VERSION"
            );
            let reply =
                handlers::encode_response(correlation_id, 0, &api_versions::unsupported_version());
            let done = InFlight {
                correlation_id,
                api: ApiKey::ApiVersions,
                version,
                held_bytes: frame_len,
                reply,
            };
            Ok((Box::pin(std::future::ready(done)), frame_len))
        }
        Err(e) => {
            warn!(error = %e, "refusing frame, closing");
            Err(e)
        }
    }
}
