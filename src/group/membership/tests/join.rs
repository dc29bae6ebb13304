//! Joining: member ids, the initial delay, protocol choice by vote, and joins that are refused.

use super::*;

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
async fn a_full_group_refuses_newcomers_but_not_a_returning_static_member() {
    let m = Arc::new(Membership::new(MembershipSettings {
        initial_rebalance_delay: Duration::ZERO,
        max_size: 2,
        ..MembershipSettings::default()
    }));
    let static_join = |id: &str| JoinRequest {
        group_instance_id: Some("instance-1".to_string()),
        ..request(id)
    };
    let joined = m.join(EPOCH, GROUP, static_join("")).await;
    assert_eq!(joined.error, None);
    let _waiting = member_id(&m).await;
    info!("two members (one joined, one holding its id): a third is refused");
    let third = m.join(EPOCH, GROUP, request("")).await;
    assert_eq!(third.error, Some(GroupError::GroupMaxSizeReached));
    info!("the static member coming back with an empty member id takes its own place");
    let again = m.join(EPOCH, GROUP, static_join("")).await;
    assert_ne!(again.error, Some(GroupError::GroupMaxSizeReached));
}
