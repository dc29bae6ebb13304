//! Static members, leaving, offset-commit checks, and coordinator epochs.

use super::*;

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
    let (a, b_id, generation) = stable_pair(&m).await;

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
        m.heartbeat(LATER_EPOCH, GROUP, &a, None, generation),
        Err(GroupError::UnknownMemberId)
    );
    assert_eq!(m.state(LATER_EPOCH, GROUP), None);

    info!(
        "a join parked in the initial delay is answered NOT_COORDINATOR when the sweep drops its group"
    );
    let x = m.join(LATER_EPOCH, GROUP, request("")).await.member_id;
    let parked = {
        let m = Arc::clone(&m);
        tokio::spawn(async move { m.join(LATER_EPOCH, GROUP, request(&x)).await })
    };
    settle().await;
    assert!(!parked.is_finished());
    assert_eq!(m.drop_stale(|_, epoch| epoch == LATER_EPOCH), 0);
    assert_eq!(m.drop_stale(|_, _| false), 1);
    let answered = parked.await.expect("join");
    assert_eq!(answered.error, Some(GroupError::NotCoordinator));
    assert!(m.is_empty());
}
