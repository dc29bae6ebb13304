//! Members that stop answering: heartbeats during a rebalance, expired sessions, joins and
//! syncs that never come.

use super::*;

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
    let (a, b_id, generation) = stable_pair(&m).await;

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
    let (a, b_id, _) = stable_pair(&m).await;

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
