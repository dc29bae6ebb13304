//! Consumer-group membership on the coordinator: the groups this broker coordinates, each a
//! [`state::Group`] state machine driven by its requests and by one timer task, and the bounded
//! waits of JoinGroup and SyncGroup. `state.rs` holds the protocol itself; the handlers in
//! `kafka/handlers/` translate the wire; `group/offsets.rs` keeps committed offsets.
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

pub mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};
use tokio::time::{Duration, Instant, sleep_until, timeout};

use state::{Group, Timing};
pub use state::{GroupState, Protocol};

use super::Groups;

/// The coordinator epoch a request was checked against: the Raft term of the group's
/// `__consumer_offsets` partition when `Groups::coordinator` answered (`replica.leadership().term`).
pub type CoordinatorEpoch = u64;

/// Why a group request is refused. `kafka/error_map.rs` turns each into Kafka's code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    #[error("the group id is empty")]
    InvalidGroupId,
    #[error("the session timeout is outside the broker's range")]
    InvalidSessionTimeout,
    #[error("unknown member id")]
    UnknownMemberId,
    #[error("the member's generation is not the group's")]
    IllegalGeneration,
    #[error("the group is rebalancing: rejoin")]
    RebalanceInProgress,
    #[error("the member's protocols do not fit the group's")]
    InconsistentGroupProtocol,
    #[error("rejoin with the member id given")]
    MemberIdRequired,
    #[error("another member id holds this group.instance.id")]
    FencedInstanceId,
    #[error("the group has members")]
    NonEmptyGroup,
    /// The group was removed while the request was being served; the client looks again.
    #[error("the group is not available here right now")]
    CoordinatorNotAvailable,
    /// This broker stopped coordinating the group.
    #[error("this broker no longer coordinates the group")]
    NotCoordinator,
}

/// A JoinGroup, version differences resolved by the handler.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED and its id.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a static leader replaced in a Stable group is told to skip assigning.
    pub supports_skip_assignment: bool,
}

/// A member as the leader's JoinGroup answer lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub skip_assignment: bool,
    /// The member's id (also with MEMBER_ID_REQUIRED: the id to rejoin with).
    pub member_id: String,
    /// Every member with its metadata, for the leader only.
    pub members: Vec<JoinedMember>,
}

#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    /// SyncGroup v5+: checked against the group's when given.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// The leader's assignments, by member id (ignored from followers).
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

/// One member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// One group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    /// The selected protocol when Stable, else empty.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// One group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOverview {
    pub group_id: String,
    pub protocol_type: String,
    pub state: GroupState,
}

/// The coordinator's settings (`group.*` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipSettings {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout: Duration,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout: Duration,
}

impl Default for MembershipSettings {
    fn default() -> Self {
        MembershipSettings {
            initial_rebalance_delay: Duration::from_millis(3000),
            min_session_timeout: Duration::from_millis(6000),
            max_session_timeout: Duration::from_millis(1_800_000),
        }
    }
}

/// Beyond a member's own timeouts, how long a parked JoinGroup/SyncGroup may wait before it is
/// answered REBALANCE_IN_PROGRESS (the group answers sooner; this only bounds the wait).
const WAIT_MARGIN: Duration = Duration::from_secs(5);

/// How often [`sweep_stale`] looks for groups this broker stopped coordinating.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// One group, its coordinator epoch and the timer task's wake-up.
#[derive(Debug)]
struct Cell {
    epoch: CoordinatorEpoch,
    group: Mutex<Group>,
    /// Set once the group left the registry; the timer task then ends.
    removed: std::sync::atomic::AtomicBool,
    wake: Notify,
}

impl Cell {
    fn lock(&self) -> MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_removed(&self) -> bool {
        self.removed.load(std::sync::atomic::Ordering::Acquire)
    }
}

#[derive(Debug, Default)]
struct Registry {
    groups: Mutex<HashMap<String, Arc<Cell>>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Cell>>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every group held, without holding the registry's lock afterwards.
    fn cells(&self) -> Vec<(String, Arc<Cell>)> {
        self.lock()
            .iter()
            .map(|(id, cell)| (id.clone(), Arc::clone(cell)))
            .collect()
    }

    /// Removes `group_id` if it is still `cell`, answering parked requests with `error`.
    fn remove(&self, group_id: &str, cell: &Arc<Cell>, error: GroupError) {
        let mut groups = self.lock();
        if groups.get(group_id).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            groups.remove(group_id);
        }
        drop(groups);
        cell.lock().kill(error);
        cell.removed
            .store(true, std::sync::atomic::Ordering::Release);
        cell.wake.notify_one();
    }
}

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
        let cell = Arc::new(Cell {
            epoch,
            group: Mutex::new(Group::new(
                group_id.to_string(),
                Timing {
                    initial_rebalance_delay: self.settings.initial_rebalance_delay,
                },
            )),
            removed: std::sync::atomic::AtomicBool::new(false),
            wake: Notify::new(),
        });
        if let Some(old) = groups.insert(group_id.to_string(), Arc::clone(&cell)) {
            old.lock().kill(GroupError::NotCoordinator);
            old.removed
                .store(true, std::sync::atomic::Ordering::Release);
            old.wake.notify_one();
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
        let refuse = |error| JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: req.member_id.clone(),
            members: Vec::new(),
        };
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

    /// The group's state, `None` if this broker has no live membership for it (unknown here:
    /// it may still have committed offsets).
    pub fn state(&self, epoch: CoordinatorEpoch, group_id: &str) -> Option<GroupState> {
        let cell = self.current(group_id, epoch)?;
        let state = cell.lock().state();
        Some(state)
    }

    /// How long the group has been Empty here; `None` if it is not Empty or not known here.
    pub fn empty_for(&self, epoch: CoordinatorEpoch, group_id: &str) -> Option<Duration> {
        let cell = self.current(group_id, epoch)?;
        cell.lock().empty_for(Instant::now())
    }

    /// The Empty groups held under `epoch` that `wanted` selects.
    pub fn empty_groups(
        &self,
        epoch: CoordinatorEpoch,
        wanted: impl Fn(&str) -> bool,
    ) -> Vec<String> {
        self.registry
            .cells()
            .into_iter()
            .filter(|(id, cell)| {
                cell.epoch == epoch && wanted(id) && cell.lock().state() == GroupState::Empty
            })
            .map(|(id, _)| id)
            .collect()
    }

    /// DeleteGroups: forgets the group's membership if it is Empty (or unknown: `Ok(false)`);
    /// a group with members is NON_EMPTY_GROUP. Committed offsets are the caller's to delete.
    pub fn delete(&self, epoch: CoordinatorEpoch, group_id: &str) -> Result<bool, GroupError> {
        let Some(cell) = self.current(group_id, epoch) else {
            return Ok(false);
        };
        let state = cell.lock().state();
        match state {
            GroupState::Empty | GroupState::Dead => {
                self.registry
                    .remove(group_id, &cell, GroupError::CoordinatorNotAvailable);
                Ok(true)
            }
            GroupState::PreparingRebalance
            | GroupState::CompletingRebalance
            | GroupState::Stable => Err(GroupError::NonEmptyGroup),
        }
    }

    /// DescribeGroups of one group; `None` if unknown here (Kafka describes it as Dead).
    pub fn describe(&self, epoch: CoordinatorEpoch, group_id: &str) -> Option<GroupDescription> {
        let cell = self.current(group_id, epoch)?;
        let group = cell.lock();
        let (protocol, members) = group.describe();
        Some(GroupDescription {
            state: group.state(),
            protocol_type: group.protocol_type().unwrap_or_default().to_string(),
            protocol,
            members,
        })
    }

    /// Every group held here with the epoch it was created under; the caller keeps those whose
    /// epoch is still current (`is_current(group_id, epoch)`).
    pub fn list(&self, is_current: impl Fn(&str, CoordinatorEpoch) -> bool) -> Vec<GroupOverview> {
        let cells = self.registry.cells();
        let mut out: Vec<GroupOverview> = cells
            .into_iter()
            .filter(|(id, cell)| is_current(id, cell.epoch))
            .map(|(group_id, cell)| {
                let group = cell.lock();
                GroupOverview {
                    group_id,
                    protocol_type: group.protocol_type().unwrap_or_default().to_string(),
                    state: group.state(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// Forgets every group `is_current` rejects (this broker no longer leads its offsets
    /// partition, or leads it under a newer epoch), answering its parked requests with
    /// NOT_COORDINATOR. Returns how many were forgotten.
    pub fn drop_stale(&self, is_current: impl Fn(&str, CoordinatorEpoch) -> bool) -> usize {
        let cells = self.registry.cells();
        let mut dropped = 0;
        for (id, cell) in cells {
            if !is_current(&id, cell.epoch) {
                tracing::info!(group = %id, "no longer the coordinator; forgetting the group");
                self.registry.remove(&id, &cell, GroupError::NotCoordinator);
                dropped += 1;
            }
        }
        dropped
    }

    /// How many groups are held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.registry.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
        JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: String::new(),
            members: Vec::new(),
        }
    }
}

impl Answer for SyncResponse {
    fn refused(error: GroupError) -> Self {
        SyncResponse::error(error)
    }
}

/// The timer task of one group: sleeps until its next deadline (or a change), runs what is
/// due, forgets the group once it is disposable, and ends when the group is removed.
async fn drive(group_id: String, cell: Arc<Cell>, registry: Weak<Registry>) {
    loop {
        if cell.is_removed() {
            return;
        }
        let next = cell.lock().next_deadline();
        match next {
            Some(at) => {
                tokio::select! {
                    _ = sleep_until(at) => {}
                    _ = cell.wake.notified() => {}
                }
            }
            None => cell.wake.notified().await,
        }
        if cell.is_removed() {
            return;
        }
        let disposable = {
            let mut group = cell.lock();
            group.tick(Instant::now());
            group.is_disposable()
        };
        if disposable {
            let Some(registry) = registry.upgrade() else {
                return;
            };
            registry.remove(&group_id, &cell, GroupError::CoordinatorNotAvailable);
            return;
        }
    }
}

/// Every [`SWEEP_INTERVAL`], forgets the groups this broker no longer coordinates under the
/// epoch they were created in. Ends when the broker's `Groups` is dropped.
pub async fn sweep_stale(groups: Weak<Groups>) {
    let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(groups) = groups.upgrade() else {
            return;
        };
        groups.membership().drop_stale(|group_id, epoch| {
            groups
                .coordinator(group_id)
                .is_ok_and(|replica| replica.leadership().term == epoch)
        });
    }
}
