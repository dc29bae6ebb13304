//! The membership state machine driven through `Membership` with a paused tokio clock: joins,
//! syncs, heartbeats, expiry, static membership, leaving, offset-commit checks, epochs. This
//! file holds what the tests share; `join.rs`, `liveness.rs` and `members.rs` the tests.

mod join;
mod liveness;
mod members;

use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::{Duration, sleep};
use tracing::info;

use super::*;
use crate::types::LeaderEpoch;

const EPOCH: CoordinatorEpoch = LeaderEpoch(7);
const LATER_EPOCH: CoordinatorEpoch = LeaderEpoch(8);
const GROUP: &str = "g";
const SESSION: Duration = Duration::from_secs(10);
const REBALANCE: Duration = Duration::from_secs(30);

fn membership(initial_delay_ms: u64) -> Arc<Membership> {
    Arc::new(Membership::new(MembershipSettings {
        initial_rebalance_delay: Duration::from_millis(initial_delay_ms),
        ..MembershipSettings::default()
    }))
}

fn protocols(names: &[&str]) -> Vec<Protocol> {
    names
        .iter()
        .map(|n| Protocol {
            name: n.to_string(),
            metadata: Bytes::from(format!("meta-{n}")),
        })
        .collect()
}

fn request(member_id: &str) -> JoinRequest {
    JoinRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        client_id: "client".to_string(),
        client_host: "/127.0.0.1".to_string(),
        session_timeout: SESSION,
        rebalance_timeout: REBALANCE,
        protocol_type: "consumer".to_string(),
        protocols: protocols(&["range"]),
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn spawn_join(m: &Arc<Membership>, req: JoinRequest) -> JoinHandle<JoinResponse> {
    let m = Arc::clone(m);
    tokio::spawn(async move { m.join(EPOCH, GROUP, req).await })
}

fn spawn_sync(
    m: &Arc<Membership>,
    member_id: &str,
    generation_id: i32,
    assignments: Vec<(String, Bytes)>,
) -> JoinHandle<SyncResponse> {
    let m = Arc::clone(m);
    let req = SyncRequest {
        member_id: member_id.to_string(),
        group_instance_id: None,
        generation_id,
        protocol_type: Some("consumer".to_string()),
        protocol_name: None,
        assignments,
    };
    tokio::spawn(async move { m.sync(EPOCH, GROUP, req).await })
}

/// A new dynamic member: MEMBER_ID_REQUIRED, then its id.
async fn member_id(m: &Arc<Membership>) -> String {
    let first = m.join(EPOCH, GROUP, request("")).await;
    assert_eq!(first.error, Some(GroupError::MemberIdRequired));
    assert!(first.member_id.starts_with("client-"), "{first:?}");
    first.member_id
}

/// Lets spawned tasks run without moving the clock.
async fn settle() {
    for _ in 0..20 {
        tokio::task::yield_now().await;
    }
}

fn state(m: &Membership) -> Option<GroupState> {
    m.state(EPOCH, GROUP)
}

/// One member joined and synced alone: (member id, generation).
async fn stable_alone(m: &Arc<Membership>) -> (String, i32) {
    let id = member_id(m).await;
    let joined = m.join(EPOCH, GROUP, request(&id)).await;
    assert_eq!(joined.error, None, "{joined:?}");
    let synced = spawn_sync(m, &id, joined.generation_id, vec![(id.clone(), b("a"))])
        .await
        .expect("sync task");
    assert_eq!(synced.error, None);
    assert_eq!(state(m), Some(GroupState::Stable));
    (id, joined.generation_id)
}

/// A and B joined in one generation (the initial delay must let B in) and synced:
/// (A's id, B's id, generation).
async fn stable_pair(m: &Arc<Membership>) -> (String, String, i32) {
    let a = member_id(m).await;
    let b_id = member_id(m).await;
    let ja = spawn_join(m, request(&a));
    let jb = spawn_join(m, request(&b_id));
    let generation = ja.await.expect("a").generation_id;
    jb.await.expect("b");
    let sb = spawn_sync(m, &b_id, generation, vec![]);
    spawn_sync(m, &a, generation, vec![]).await.expect("a");
    sb.await.expect("b");
    (a, b_id, generation)
}

fn b(text: &str) -> Bytes {
    Bytes::from(text.to_string())
}
