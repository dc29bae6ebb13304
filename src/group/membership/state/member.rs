//! One member of a consumer group: its protocols, its parked JoinGroup/SyncGroup answers and
//! when its session ends. `mod.rs` holds the group the member belongs to.

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::Protocol;
use crate::group::membership::{JoinResponse, SyncResponse};

#[derive(Debug)]
pub(super) struct Member {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) session_timeout: Duration,
    pub(super) rebalance_timeout: Duration,
    pub(super) protocols: Vec<Protocol>,
    pub(super) assignment: Bytes,
    pub(super) join_waiter: Option<oneshot::Sender<JoinResponse>>,
    pub(super) sync_waiter: Option<oneshot::Sender<SyncResponse>>,
    /// Removed at this time unless it heartbeats or is waiting for a join/sync answer.
    pub(super) expires: Instant,
    /// Joined for the first time and has not had a join answer yet.
    pub(super) is_new: bool,
    /// Join order: the longest-standing member becomes leader when the leader goes.
    pub(super) seq: u64,
}

impl Member {
    /// Has a JoinGroup parked here whose client is still listening.
    pub(super) fn awaiting_join(&self) -> bool {
        self.join_waiter.as_ref().is_some_and(|w| !w.is_closed())
    }

    pub(super) fn awaiting_sync(&self) -> bool {
        self.sync_waiter.as_ref().is_some_and(|w| !w.is_closed())
    }

    /// Kafka's `hasSatisfiedHeartbeat` at expiry: members waiting for a rebalance answer are
    /// alive; new members only until their join timeout.
    pub(super) fn alive_while_waiting(&self) -> bool {
        !self.is_new && (self.awaiting_join() || self.awaiting_sync())
    }

    pub(super) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    pub(super) fn supports(&self, name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == name)
    }

    pub(super) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    pub(super) fn answer_join(&mut self, response: JoinResponse) {
        if let Some(waiter) = self.join_waiter.take() {
            let _ = waiter.send(response);
        }
    }

    pub(super) fn answer_sync(&mut self, response: SyncResponse) {
        if let Some(waiter) = self.sync_waiter.take() {
            let _ = waiter.send(response);
        }
    }
}

/// Generates `prefix-<uuid>`, Kafka's member id format.
pub(super) fn member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}
