//! The membership state machine driven through `Membership` with a paused tokio clock: joins,
//! syncs, heartbeats, expiry, static membership, leaving, offset-commit checks, epochs.

use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;
use tokio::time::{Duration, sleep};
use tracing::info;

use super::*;

const EPOCH: CoordinatorEpoch = 7;
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

fn b(text: &str) -> Bytes {
    Bytes::from(text.to_string())
}

#[tokio::test(start_paused = true)]
async fn member_id_required_then_join_alone() {
    let m = membership(0);
    info!("an empty member id gets MEMBER_ID_REQUIRED and an id of client id + uuid");
    let id = member_id(&m).await;
    assert_eq!(id.len(), "client-".len() + 36);
    info!("rejoining with it: the sole member leads generation 1 and sees itself");
    let joined = m.join(EPOCH, GROUP, request(&id)).await;
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader, id);
    assert_eq!(joined.member_id, id);
    assert_eq!(joined.protocol_name.as_deref(), Some("range"));
    assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
    assert_eq!(joined.members.len(), 1);
    assert_eq!(joined.members[0].metadata, b("meta-range"));
    assert_eq!(state(&m), Some(GroupState::CompletingRebalance));

    info!("an unknown member id is refused; an unknown group too");
    let unknown = m.join(EPOCH, GROUP, request("client-nope")).await;
    assert_eq!(unknown.error, Some(GroupError::UnknownMemberId));
    let other = m.join(EPOCH, "other", request("client-nope")).await;
    assert_eq!(other.error, Some(GroupError::UnknownMemberId));
}

#[tokio::test(start_paused = true)]
async fn old_versions_join_without_member_id_round_trip() {
    let m = membership(0);
    let joined = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                require_known_member_id: false,
                ..request("")
            },
        )
        .await;
    assert_eq!(joined.error, None);
    assert_eq!(joined.generation_id, 1);
    assert!(joined.member_id.starts_with("client-"));
}

#[tokio::test(start_paused = true)]
async fn two_members_join_and_sync_after_the_initial_delay() {
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    info!("both join; the initial delay holds the join phase open");
    let ja = spawn_join(&m, request(&a));
    sleep(Duration::from_millis(100)).await;
    let jb = spawn_join(&m, request(&b_id));
    sleep(Duration::from_millis(2000)).await;
    assert!(!ja.is_finished() && !jb.is_finished());
    assert_eq!(state(&m), Some(GroupState::PreparingRebalance));
    info!("B arrived during the delay: it is extended once more, then completes");
    let ra = ja.await.expect("join a");
    let rb = jb.await.expect("join b");
    assert_eq!(ra.error, None);
    assert_eq!(rb.error, None);
    assert_eq!(ra.generation_id, 1);
    assert_eq!(rb.generation_id, 1);
    assert_eq!(ra.leader, a, "the first to join leads");
    assert_eq!(rb.leader, a);
    let listed: Vec<&str> = ra.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(listed, vec![a.as_str(), b_id.as_str()]);
    assert!(rb.members.is_empty(), "followers get no member list");

    info!("the follower's SyncGroup waits for the leader's assignments");
    let sb = spawn_sync(&m, &b_id, 1, vec![]);
    settle().await;
    assert!(!sb.is_finished());
    let sa = spawn_sync(
        &m,
        &a,
        1,
        vec![(a.clone(), b("for-a")), (b_id.clone(), b("for-b"))],
    )
    .await
    .expect("sync a");
    let sb = sb.await.expect("sync b");
    assert_eq!(sa.error, None);
    assert_eq!(sa.assignment, b("for-a"));
    assert_eq!(sb.error, None);
    assert_eq!(sb.assignment, b("for-b"));
    assert_eq!(sb.protocol_name.as_deref(), Some("range"));
    assert_eq!(state(&m), Some(GroupState::Stable));

    info!("Stable: described with metadata and assignments; heartbeats are fine");
    let d = m.describe(EPOCH, GROUP).expect("described");
    assert_eq!(d.state, GroupState::Stable);
    assert_eq!(d.protocol, "range");
    assert_eq!(d.protocol_type, "consumer");
    assert_eq!(d.members.len(), 2);
    assert_eq!(d.members[1].assignment, b("for-b"));
    assert_eq!(d.members[1].metadata, b("meta-range"));
    assert_eq!(d.members[1].client_host, "/127.0.0.1");
    assert_eq!(m.heartbeat(EPOCH, GROUP, &b_id, None, 1), Ok(()));
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &b_id, None, 0),
        Err(GroupError::IllegalGeneration)
    );
    info!("a follower syncing again in Stable gets its assignment at once");
    let again = spawn_sync(&m, &b_id, 1, vec![]).await.expect("sync");
    assert_eq!(again.assignment, b("for-b"));
    let overview = m.list(|_, _| true);
    assert_eq!(overview.len(), 1);
    assert_eq!(overview[0].state, GroupState::Stable);
}

#[tokio::test(start_paused = true)]
async fn heartbeat_during_rebalance_says_rejoin() {
    let m = membership(0);
    let (a, generation) = stable_alone(&m).await;
    info!("a newcomer starts a rebalance");
    let newcomer = member_id(&m).await;
    let jn = spawn_join(&m, request(&newcomer));
    settle().await;
    assert_eq!(state(&m), Some(GroupState::PreparingRebalance));
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &a, None, generation),
        Err(GroupError::RebalanceInProgress)
    );
    info!("the old member rejoins: everyone is in, the join phase completes at once");
    let ra = m.join(EPOCH, GROUP, request(&a)).await;
    let rn = jn.await.expect("join");
    assert_eq!(ra.generation_id, generation + 1);
    assert_eq!(rn.generation_id, generation + 1);
    assert_eq!(ra.leader, a);
    assert_eq!(ra.members.len(), 2);
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &a, None, generation + 1),
        Ok(()),
        "CompletingRebalance accepts heartbeats"
    );
}

#[tokio::test(start_paused = true)]
async fn expired_session_removes_the_member_and_rebalances() {
    // A delay, so the first members form one generation together.
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    let ja = spawn_join(&m, request(&a));
    let jb = spawn_join(&m, request(&b_id));
    let generation = ja.await.expect("a").generation_id;
    assert_eq!(jb.await.expect("b").generation_id, generation);
    let sa = spawn_sync(&m, &a, generation, vec![]);
    let sb = spawn_sync(&m, &b_id, generation, vec![]);
    assert_eq!(sa.await.expect("a").error, None);
    assert_eq!(sb.await.expect("b").error, None);

    info!("only A heartbeats; B's session passes");
    for _ in 0..4 {
        sleep(Duration::from_secs(3)).await;
        let _ = m.heartbeat(EPOCH, GROUP, &a, None, generation);
    }
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &b_id, None, generation),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &a, None, generation),
        Err(GroupError::RebalanceInProgress)
    );
    let ra = m.join(EPOCH, GROUP, request(&a)).await;
    assert_eq!(ra.generation_id, generation + 1);
    assert_eq!(ra.members.len(), 1);

    info!("A stops heartbeating without syncing: it expires too and the group empties");
    sleep(REBALANCE + SESSION).await;
    assert_eq!(state(&m), Some(GroupState::Empty));
    assert_eq!(m.describe(EPOCH, GROUP).map(|d| d.members.len()), Some(0));
}

#[tokio::test(start_paused = true)]
async fn members_that_do_not_rejoin_within_the_rebalance_timeout_are_removed() {
    // A delay, so the first members form one generation together.
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    let ja = spawn_join(&m, request(&a));
    let jb = spawn_join(&m, request(&b_id));
    let generation = ja.await.expect("a").generation_id;
    jb.await.expect("b");
    spawn_sync(&m, &b_id, generation, vec![]);
    spawn_sync(&m, &a, generation, vec![]).await.expect("a");

    info!("a newcomer joins; A rejoins, B keeps heartbeating but never rejoins");
    let c = member_id(&m).await;
    let jc = spawn_join(&m, request(&c));
    let ja = spawn_join(&m, request(&a));
    for _ in 0..9 {
        sleep(Duration::from_secs(3)).await;
        assert_eq!(
            m.heartbeat(EPOCH, GROUP, &b_id, None, generation),
            Err(GroupError::RebalanceInProgress)
        );
        assert!(!ja.is_finished());
    }
    let ra = ja.await.expect("a");
    let rc = jc.await.expect("c");
    assert_eq!(ra.generation_id, generation + 1);
    assert_eq!(rc.generation_id, generation + 1);
    let listed: Vec<&str> = ra.members.iter().map(|m| m.member_id.as_str()).collect();
    assert_eq!(listed, vec![a.as_str(), c.as_str()]);
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &b_id, None, generation),
        Err(GroupError::UnknownMemberId)
    );
}

#[tokio::test(start_paused = true)]
async fn a_dropped_join_does_not_hold_the_group() {
    // A delay, so the first members form one generation together.
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    let ja = spawn_join(&m, request(&a));
    let jb = spawn_join(&m, request(&b_id));
    let generation = ja.await.expect("a").generation_id;
    jb.await.expect("b");
    spawn_sync(&m, &b_id, generation, vec![]);
    spawn_sync(&m, &a, generation, vec![]).await.expect("a");

    info!("B rejoins, then its client goes away (the request future is dropped)");
    let c = member_id(&m).await;
    let jc = spawn_join(&m, request(&c));
    let jb = spawn_join(&m, request(&b_id));
    settle().await;
    jb.abort();
    let _ = jb.await;
    info!("A rejoins: B no longer counts as joined, so the phase ends at the rebalance timeout");
    let ra = m.join(EPOCH, GROUP, request(&a)).await;
    let rc = jc.await.expect("c");
    assert_eq!(ra.error, None);
    assert_eq!(rc.generation_id, ra.generation_id);
    assert_eq!(ra.members.len(), 2, "{ra:?}");
    assert!(
        !m.describe(EPOCH, GROUP)
            .expect("group")
            .members
            .iter()
            .any(|d| d.member_id == b_id)
    );
}

#[tokio::test(start_paused = true)]
async fn leader_that_never_syncs_is_removed_and_followers_told_to_rejoin() {
    // A delay, so the first members form one generation together.
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    let ja = spawn_join(&m, request(&a));
    let jb = spawn_join(&m, request(&b_id));
    let ra = ja.await.expect("a");
    jb.await.expect("b");
    assert_eq!(ra.leader, a);
    info!("B syncs and waits; A (the leader) never syncs but keeps heartbeating");
    let sb = spawn_sync(&m, &b_id, ra.generation_id, vec![]);
    for _ in 0..11 {
        sleep(Duration::from_secs(3)).await;
        let _ = m.heartbeat(EPOCH, GROUP, &a, None, ra.generation_id);
    }
    let rb = sb.await.expect("b");
    assert_eq!(rb.error, Some(GroupError::RebalanceInProgress));
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &a, None, ra.generation_id),
        Err(GroupError::UnknownMemberId)
    );
}

#[tokio::test(start_paused = true)]
async fn static_member_rejoins_without_rebalance_and_fences_its_old_id() {
    let m = membership(0);
    let with_instance = |member: &str| JoinRequest {
        group_instance_id: Some("instance-1".to_string()),
        ..request(member)
    };
    info!("a static member joins at once (no MEMBER_ID_REQUIRED)");
    let first = m.join(EPOCH, GROUP, with_instance("")).await;
    assert_eq!(first.error, None);
    assert!(first.member_id.starts_with("instance-1-"));
    let old = first.member_id.clone();
    spawn_sync(&m, &old, first.generation_id, vec![(old.clone(), b("x"))])
        .await
        .expect("sync");
    assert_eq!(state(&m), Some(GroupState::Stable));

    info!("restarted, it joins again with an empty member id: new id, same generation");
    let second = m.join(EPOCH, GROUP, with_instance("")).await;
    assert_eq!(second.error, None);
    assert_ne!(second.member_id, old);
    assert_eq!(second.generation_id, first.generation_id);
    assert_eq!(state(&m), Some(GroupState::Stable));
    assert!(
        second.skip_assignment,
        "the static leader keeps the assignment (v9)"
    );
    let synced = spawn_sync(&m, &second.member_id, second.generation_id, vec![])
        .await
        .expect("sync");
    assert_eq!(synced.assignment, b("x"), "the assignment carries over");

    info!("the old member id is fenced");
    assert_eq!(
        m.heartbeat(EPOCH, GROUP, &old, Some("instance-1"), first.generation_id),
        Err(GroupError::FencedInstanceId)
    );
    let fenced = m.join(EPOCH, GROUP, with_instance(&old)).await;
    assert_eq!(fenced.error, Some(GroupError::FencedInstanceId));
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, &old, first.generation_id, Some("instance-1")),
        Err(GroupError::FencedInstanceId)
    );

    info!("before v9 the replaced static member is told the old leader id, so it does not assign");
    let third = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                supports_skip_assignment: false,
                ..with_instance("")
            },
        )
        .await;
    assert_eq!(third.leader, second.member_id);
    assert!(!third.skip_assignment);

    info!("LeaveGroup by instance id alone removes it");
    let left = m
        .leave(
            EPOCH,
            GROUP,
            &[(String::new(), Some("instance-1".to_string()))],
        )
        .expect("leave");
    assert_eq!(left, vec![Ok(())]);
    assert_eq!(state(&m), Some(GroupState::Empty));
}

#[tokio::test(start_paused = true)]
async fn leave_in_batches_with_an_error_per_member() {
    // A delay, so the first members form one generation together.
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    let ja = spawn_join(&m, request(&a));
    let jb = spawn_join(&m, request(&b_id));
    let generation = ja.await.expect("a").generation_id;
    jb.await.expect("b");
    let sb = spawn_sync(&m, &b_id, generation, vec![]);
    spawn_sync(&m, &a, generation, vec![]).await.expect("a");
    sb.await.expect("b");

    info!("the leader leaves: a rebalance starts and B is the leader of the next generation");
    let left = m
        .leave(
            EPOCH,
            GROUP,
            &[(a.clone(), None), ("client-unknown".to_string(), None)],
        )
        .expect("leave");
    assert_eq!(left, vec![Ok(()), Err(GroupError::UnknownMemberId)]);
    assert_eq!(state(&m), Some(GroupState::PreparingRebalance));
    let rb = m.join(EPOCH, GROUP, request(&b_id)).await;
    assert_eq!(rb.leader, b_id);
    assert_eq!(rb.generation_id, generation + 1);

    info!("the last member leaves: Empty");
    let left = m
        .leave(EPOCH, GROUP, &[(b_id.clone(), None)])
        .expect("leave");
    assert_eq!(left, vec![Ok(())]);
    assert_eq!(state(&m), Some(GroupState::Empty));
    info!("a group this broker does not know: every member is unknown");
    let unknown = m.leave(EPOCH, "nope", &[(b_id, None)]).expect("leave");
    assert_eq!(unknown, vec![Err(GroupError::UnknownMemberId)]);
}

#[tokio::test(start_paused = true)]
async fn protocols_are_chosen_by_vote_among_common_ones() {
    // A delay, so the first members form one generation together.
    let m = membership(3000);
    let a = member_id(&m).await;
    let b_id = member_id(&m).await;
    let c = member_id(&m).await;
    let ja = spawn_join(
        &m,
        JoinRequest {
            protocols: protocols(&["range", "roundrobin", "sticky"]),
            ..request(&a)
        },
    );
    let jb = spawn_join(
        &m,
        JoinRequest {
            protocols: protocols(&["sticky", "roundrobin"]),
            ..request(&b_id)
        },
    );
    let jc = spawn_join(
        &m,
        JoinRequest {
            protocols: protocols(&["roundrobin", "sticky"]),
            ..request(&c)
        },
    );
    let ra = ja.await.expect("a");
    jb.await.expect("b");
    jc.await.expect("c");
    info!("range is not common; roundrobin and sticky are; each member votes its first common one");
    // Votes: A -> roundrobin (its first common), B -> sticky, C -> roundrobin.
    assert_eq!(ra.protocol_name.as_deref(), Some("roundrobin"));
    assert!(
        ra.members
            .iter()
            .all(|m| m.metadata == b("meta-roundrobin"))
    );

    info!("a member without a common protocol, or of another type, is refused");
    let refused = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                protocols: protocols(&["range"]),
                ..request("")
            },
        )
        .await;
    assert_eq!(refused.error, Some(GroupError::InconsistentGroupProtocol));
    info!("an existing member changing to protocols the others lack is refused too");
    let changed = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                protocols: protocols(&["range"]),
                ..request(&c)
            },
        )
        .await;
    assert_eq!(changed.error, Some(GroupError::InconsistentGroupProtocol));
    let refused = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                protocol_type: "connect".to_string(),
                protocols: protocols(&["roundrobin"]),
                ..request("")
            },
        )
        .await;
    assert_eq!(refused.error, Some(GroupError::InconsistentGroupProtocol));
}

#[tokio::test(start_paused = true)]
async fn bad_joins_are_refused_and_leave_nothing_behind() {
    let m = membership(0);
    let short = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                session_timeout: Duration::from_millis(5999),
                ..request("")
            },
        )
        .await;
    assert_eq!(short.error, Some(GroupError::InvalidSessionTimeout));
    let long = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                session_timeout: Duration::from_millis(1_800_001),
                ..request("")
            },
        )
        .await;
    assert_eq!(long.error, Some(GroupError::InvalidSessionTimeout));
    let empty_id = m.join(EPOCH, "", request("")).await;
    assert_eq!(empty_id.error, Some(GroupError::InvalidGroupId));
    let no_protocols = m
        .join(
            EPOCH,
            GROUP,
            JoinRequest {
                protocols: vec![],
                ..request("")
            },
        )
        .await;
    assert_eq!(
        no_protocols.error,
        Some(GroupError::InconsistentGroupProtocol)
    );
    assert!(m.is_empty(), "a refused join creates no group");

    info!("a handed-out member id that never joins expires with its session");
    let _ = member_id(&m).await;
    assert_eq!(m.len(), 1);
    sleep(SESSION + Duration::from_millis(10)).await;
    settle().await;
    assert!(m.is_empty(), "the group with nothing in it is forgotten");
}

#[tokio::test(start_paused = true)]
async fn offset_commits_are_checked_against_the_group() {
    let m = membership(0);
    info!("unknown group: simple commits only");
    assert_eq!(m.validate_commit(EPOCH, GROUP, "", -1, None), Ok(()));
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, "", 3, None),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, "client-x", -1, None),
        Err(GroupError::UnknownMemberId)
    );
    let id = member_id(&m).await;
    let joined = m.join(EPOCH, GROUP, request(&id)).await;
    info!("CompletingRebalance: the member has no assignment yet");
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, &id, joined.generation_id, None),
        Err(GroupError::RebalanceInProgress)
    );
    spawn_sync(&m, &id, joined.generation_id, vec![])
        .await
        .expect("sync");
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, &id, joined.generation_id, None),
        Ok(())
    );
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, &id, joined.generation_id + 1, None),
        Err(GroupError::IllegalGeneration)
    );
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, "client-x", joined.generation_id, None),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(
        m.validate_commit(EPOCH, GROUP, "", -1, None),
        Err(GroupError::UnknownMemberId),
        "no simple commits while the group is in use"
    );
    info!("a member with live group cannot be deleted; an empty one can");
    assert_eq!(m.delete(EPOCH, GROUP), Err(GroupError::NonEmptyGroup));
    m.leave(EPOCH, GROUP, &[(id, None)]).expect("leave");
    assert_eq!(m.validate_commit(EPOCH, GROUP, "", -1, None), Ok(()));
    assert_eq!(m.delete(EPOCH, GROUP), Ok(true));
    assert_eq!(m.delete(EPOCH, GROUP), Ok(false));
    assert_eq!(state(&m), None);
}

#[tokio::test(start_paused = true)]
async fn a_new_coordinator_epoch_forgets_the_group() {
    let m = membership(3000);
    let (a, generation) = stable_alone(&m).await;
    info!("the same broker leads again under a new term: the old generation is not served");
    assert_eq!(
        m.heartbeat(EPOCH + 1, GROUP, &a, None, generation),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(m.state(EPOCH + 1, GROUP), None);

    info!(
        "a join parked in the initial delay is answered NOT_COORDINATOR when the sweep drops its group"
    );
    let x = m.join(EPOCH + 1, GROUP, request("")).await.member_id;
    let parked = {
        let m = Arc::clone(&m);
        tokio::spawn(async move { m.join(EPOCH + 1, GROUP, request(&x)).await })
    };
    settle().await;
    assert!(!parked.is_finished());
    assert_eq!(m.drop_stale(|_, epoch| epoch == EPOCH + 1), 0);
    assert_eq!(m.drop_stale(|_, _| false), 1);
    let answered = parked.await.expect("join");
    assert_eq!(answered.error, Some(GroupError::NotCoordinator));
    assert!(m.is_empty());
}
