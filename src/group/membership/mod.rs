//! Consumer-group membership on the coordinator: the groups this broker coordinates, each a
//! [`state::Group`] state machine driven by its requests and by one timer task, and the bounded
//! waits of JoinGroup and SyncGroup. `state/` holds the protocol itself, `messages.rs` its
//! requests and answers, `registry.rs` the groups held, `admin.rs` what is asked of them beyond
//! member requests; the handlers in `kafka/handlers/` translate the wire; `group/offsets/` keeps
//! committed offsets.
//!
//! Membership lives in memory on the coordinator only and is not replicated: when the leader of a
//! group's `__consumer_offsets` partition changes, the new coordinator starts without the group,
//! members get NOT_COORDINATOR from the old one, find the new one and rejoin (as after a Kafka
//! coordinator failover, with a rebalance). Every group remembers the coordinator epoch (the Raft
//! term of its offsets partition) it was created under; a request carrying another epoch finds the
//! group forgotten, and [`sweep_stale`] forgets groups whose partition this broker stopped
//! leading, answering their parked requests with NOT_COORDINATOR.
//!
//! Waits are bounded and cancel-safe: a parked JoinGroup or SyncGroup is a one-shot receiver; a
//! client that goes away drops it, and the group treats a member whose parked request nobody
//! listens to as absent (it neither keeps the member alive nor counts as rejoined).

mod admin;
mod messages;
mod registry;
pub mod state;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::time::{Duration, Instant, timeout};

pub use admin::sweep_stale;
pub use messages::{
    GroupDescription, GroupError, GroupOverview, JoinRequest, JoinResponse, JoinedMember,
    MemberDescription, SyncRequest, SyncResponse,
};
use registry::{Cell, Registry, drive};
use state::{Group, GroupSettings};
pub use state::{GroupState, Protocol};

/// The coordinator epoch a request was checked against: the leader epoch of the group's
/// `__consumer_offsets` partition when `Groups::coordinator` answered (`replica.leader_epoch()`).
pub type CoordinatorEpoch = crate::types::LeaderEpoch;

/// The coordinator's settings (`group.*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipSettings {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
    /// `group.max.size`.
    pub max_size: usize,
}

impl Default for MembershipSettings {
    fn default() -> Self {
        MembershipSettings {
            initial_rebalance_delay: Duration::from_millis(3000),
            min_session_timeout: Duration::from_millis(6000),
            max_session_timeout: Duration::from_millis(1_800_000),
            max_size: i32::MAX as usize,
        }
    }
}

/// Beyond a member's own timeouts, how long a parked JoinGroup/SyncGroup may wait before it is
/// answered REBALANCE_IN_PROGRESS (the group answers sooner; this only bounds the wait).
const WAIT_MARGIN: Duration = Duration::from_secs(5);

/// How often [`sweep_stale`] looks for groups this broker stopped coordinating.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The groups this broker coordinates.
#[derive(Debug)]
pub struct Membership {
    settings: MembershipSettings,
    registry: Arc<Registry>,
}

/// `Ok` for a group id Kafka accepts in JoinGroup, SyncGroup, Heartbeat and LeaveGroup.
pub fn check_group_id(group_id: &str) -> Result<(), GroupError> {
    if group_id.is_empty() {
        Err(GroupError::InvalidGroupId)
    } else {
        Ok(())
    }
}

impl Membership {
    pub fn new(settings: MembershipSettings) -> Membership {
        Membership {
            settings,
            registry: Arc::new(Registry::default()),
        }
    }

    pub fn settings(&self) -> MembershipSettings {
        self.settings
    }

    /// The group if it exists under `epoch`; a group created under an older epoch is forgotten
    /// (its parked requests get NOT_COORDINATOR) and `None` returned. One created under a newer
    /// epoch stays: the caller's view of the epoch is out of date.
    fn current(&self, group_id: &str, epoch: CoordinatorEpoch) -> Option<Arc<Cell>> {
        let cell = self.registry.lock().get(group_id).cloned()?;
        if cell.epoch == epoch {
            return Some(cell);
        }
        if cell.epoch > epoch {
            return None;
        }
        tracing::info!(
            group = group_id,
            "coordinator epoch changed; forgetting the group"
        );
        self.registry
            .remove(group_id, &cell, GroupError::NotCoordinator);
        None
    }

    /// The group under `epoch`, created (Empty) if absent, with its timer task.
    fn current_or_create(&self, group_id: &str, epoch: CoordinatorEpoch) -> Arc<Cell> {
        if let Some(cell) = self.current(group_id, epoch) {
            return cell;
        }
        let mut groups = self.registry.lock();
        // Created meanwhile, or under a newer epoch than the caller saw.
        if let Some(cell) = groups.get(group_id)
            && cell.epoch >= epoch
        {
            return Arc::clone(cell);
        }
        let timing = GroupSettings {
            initial_rebalance_delay: self.settings.initial_rebalance_delay,
            max_size: self.settings.max_size,
        };
        let cell = Arc::new(Cell::new(epoch, Group::new(group_id.to_string(), timing)));
        if let Some(old) = groups.insert(group_id.to_string(), Arc::clone(&cell)) {
            old.retire(GroupError::NotCoordinator);
        }
        drop(groups);
        tokio::spawn(drive(
            group_id.to_string(),
            Arc::clone(&cell),
            Arc::downgrade(&self.registry),
        ));
        cell
    }

    /// Runs `f` on the group, then what fell due, then forgets the group if it is disposable
    /// and wakes its timer task (deadlines may have moved).
    fn with<T>(&self, group_id: &str, cell: &Arc<Cell>, f: impl FnOnce(&mut Group) -> T) -> T {
        let (result, disposable) = {
            let mut group = cell.lock();
            let result = f(&mut group);
            group.tick(Instant::now());
            (result, group.is_disposable())
        };
        if disposable {
            self.registry
                .remove(group_id, cell, GroupError::CoordinatorNotAvailable);
        } else {
            cell.wake.notify_one();
        }
        result
    }

    /// JoinGroup: answers at once or when the join phase completes, within the member's
    /// rebalance timeout (plus the initial delay and a margin); past that, REBALANCE_IN_PROGRESS.
    pub async fn join(
        &self,
        epoch: CoordinatorEpoch,
        group_id: &str,
        req: JoinRequest,
    ) -> JoinResponse {
        let refuse = |error| JoinResponse::error(error, &req.member_id);
        if let Err(e) = check_group_id(group_id) {
            return refuse(e);
        }
        let s = &self.settings;
        if req.session_timeout < s.min_session_timeout
            || req.session_timeout > s.max_session_timeout
        {
            return refuse(GroupError::InvalidSessionTimeout);
        }
        let cell = if req.member_id.is_empty() {
            self.current_or_create(group_id, epoch)
        } else {
            match self.current(group_id, epoch) {
                Some(cell) => cell,
                None => return refuse(GroupError::UnknownMemberId),
            }
        };
        let bound = req.rebalance_timeout.max(req.session_timeout)
            + self.settings.initial_rebalance_delay
            + WAIT_MARGIN;
        let fallback = refuse(GroupError::RebalanceInProgress);
        let rx = self.with(group_id, &cell, |g| g.join(Instant::now(), req));
        wait(rx, bound, fallback).await
    }

    /// SyncGroup: the leader's completes the rebalance; a follower's waits for it, within the
    /// member's rebalance timeout plus a margin; past that, REBALANCE_IN_PROGRESS.
    pub async fn sync(
        &self,
        epoch: CoordinatorEpoch,
        group_id: &str,
        req: SyncRequest,
    ) -> SyncResponse {
        if let Err(e) = check_group_id(group_id) {
            return SyncResponse::error(e);
        }
        let Some(cell) = self.current(group_id, epoch) else {
            return SyncResponse::error(GroupError::UnknownMemberId);
        };
        let bound = {
            let group = cell.lock();
            group.sync_wait_bound(&req.member_id)
        } + WAIT_MARGIN;
        let rx = self.with(group_id, &cell, |g| g.sync(Instant::now(), req));
        wait(
            rx,
            bound,
            SyncResponse::error(GroupError::RebalanceInProgress),
        )
        .await
    }

    pub fn heartbeat(
        &self,
        epoch: CoordinatorEpoch,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        check_group_id(group_id)?;
        let cell = self
            .current(group_id, epoch)
            .ok_or(GroupError::UnknownMemberId)?;
        self.with(group_id, &cell, |g| {
            g.heartbeat(Instant::now(), member_id, group_instance_id, generation_id)
        })
    }

    /// LeaveGroup of `members` (member id, group.instance.id): one result per member.
    pub fn leave(
        &self,
        epoch: CoordinatorEpoch,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<Result<(), GroupError>>, GroupError> {
        check_group_id(group_id)?;
        let Some(cell) = self.current(group_id, epoch) else {
            return Ok(vec![Err(GroupError::UnknownMemberId); members.len()]);
        };
        Ok(self.with(group_id, &cell, |g| {
            members
                .iter()
                .map(|(member, instance)| g.leave(Instant::now(), member, instance.as_deref()))
                .collect()
        }))
    }

    /// Checks an OffsetCommit's identity against the live group (Kafka's `validateOffsetCommit`):
    /// a member of the current generation commits (refreshing its session) unless the group
    /// awaits assignments (REBALANCE_IN_PROGRESS); a commit with generation -1, no member id
    /// and no group.instance.id (a simple, standalone commit) is accepted only when the group is
    /// Empty or unknown; an unknown group accepts no generation >= 0 (ILLEGAL_GENERATION).
    pub fn validate_commit(
        &self,
        epoch: CoordinatorEpoch,
        group_id: &str,
        member_id: &str,
        generation_id: i32,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        match self.current(group_id, epoch) {
            Some(cell) => self.with(group_id, &cell, |g| {
                g.validate_commit(Instant::now(), member_id, group_instance_id, generation_id)
            }),
            None if generation_id >= 0 => Err(GroupError::IllegalGeneration),
            None if !member_id.is_empty() || group_instance_id.is_some() => {
                Err(GroupError::UnknownMemberId)
            }
            None => Ok(()),
        }
    }
}

/// Waits for a parked answer, at most `bound`; a dropped sender (the group was removed without
/// answering) reads as COORDINATOR_NOT_AVAILABLE: the client looks the coordinator up again.
async fn wait<T: Answer>(rx: oneshot::Receiver<T>, bound: Duration, on_timeout: T) -> T {
    match timeout(bound, rx).await {
        Ok(Ok(answer)) => answer,
        Ok(Err(_)) => T::refused(GroupError::CoordinatorNotAvailable),
        Err(_) => on_timeout,
    }
}

/// An answer that can carry a refusal.
trait Answer {
    fn refused(error: GroupError) -> Self;
}

impl Answer for JoinResponse {
    fn refused(error: GroupError) -> Self {
        JoinResponse::error(error, "")
    }
}

impl Answer for SyncResponse {
    fn refused(error: GroupError) -> Self {
        SyncResponse::error(error)
    }
}
