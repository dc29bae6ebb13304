//! What is asked of the groups beyond their members' requests: state and description
//! (DescribeGroups, ListGroups, expiry), deletion (DeleteGroups, expiry), and forgetting the
//! groups this broker stopped coordinating. `mod.rs` serves the members.

use std::sync::Weak;

use tokio::time::{Duration, Instant};

use super::{
    CoordinatorEpoch, GroupDescription, GroupError, GroupOverview, GroupState, Membership,
    SWEEP_INTERVAL,
};
use crate::group::Groups;

impl Membership {
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
                .is_ok_and(|replica| replica.leader_epoch() == epoch)
        });
    }
}
