//! Rebalances and timers: preparing a rebalance, completing the join phase (early once everyone
//! is in, or at its deadline), removing members, and `tick`, which runs whatever fell due.
//! `join.rs` starts rebalances; `membership/mod.rs` calls `tick` at `next_deadline`.

use bytes::Bytes;
use tokio::time::Instant;

use super::member::Member;
use super::{Group, GroupState, InitialDelay};
use crate::group::membership::{GroupError, JoinResponse, SyncResponse};

impl Group {
    pub(super) fn maybe_prepare_rebalance(&mut self, now: Instant) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        }
    }

    pub(super) fn prepare_rebalance(&mut self, now: Instant) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for the assignment must rejoin.
            for member in self.members.values_mut() {
                member.assignment = Bytes::new();
                member.answer_sync(SyncResponse::error(GroupError::RebalanceInProgress));
            }
        }
        self.sync_deadline = None;
        let rebalance_timeout = self.rebalance_timeout();
        if self.state == GroupState::Empty {
            let delay = self.timing.initial_rebalance_delay;
            self.join_deadline = Some(now + delay);
            self.initial_delay = Some(InitialDelay {
                remaining: rebalance_timeout.saturating_sub(delay),
            });
            self.new_member_added = false;
        } else {
            self.join_deadline = Some(now + rebalance_timeout);
            self.initial_delay = None;
        }
        tracing::info!(group = %self.id, generation = self.generation, "preparing to rebalance");
        self.state = GroupState::PreparingRebalance;
        // Kafka's `tryCompleteElseWatch`: nobody left to wait for (e.g. the last member left).
        self.try_complete_join(now);
    }

    /// Completes the join phase early when everyone is in (never during the initial delay).
    pub(super) fn try_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending.is_empty()
            && self.members.values().all(Member::awaiting_join)
        {
            self.complete_join(now);
        }
    }

    /// Kafka's `onCompleteJoin`: dynamic members that did not rejoin are dropped, a leader is
    /// chosen among those that did, and everyone waiting gets the new generation.
    fn complete_join(&mut self, now: Instant) {
        self.join_deadline = None;
        self.initial_delay = None;
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %self.id, member = %id, "member did not rejoin in time; removed");
            self.remove_member(&id, GroupError::UnknownMemberId);
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined: wait for them, or for their sessions.
            self.join_deadline = Some(now + self.rebalance_timeout());
            return;
        }
        self.generation += 1;
        self.pending_sync.clear();
        if self.members.is_empty() {
            self.protocol_name = None;
            self.state = GroupState::Empty;
            self.empty_since = now;
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            return;
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        tracing::info!(
            group = %self.id,
            generation = self.generation,
            members = self.members.len(),
            protocol = self.protocol_name.as_deref().unwrap_or(""),
            "join phase complete"
        );
        let ids: Vec<String> = self.members.keys().cloned().collect();
        let leader = self.leader.clone();
        for id in ids {
            let answer = self.generation_answer(&id, leader.as_deref() == Some(id.as_str()));
            if let Some(member) = self.members.get_mut(&id) {
                member.answer_join(answer);
                member.expires = now + member.session_timeout;
                member.is_new = false;
            }
            self.pending_sync.insert(id);
        }
        self.sync_deadline = Some(now + self.rebalance_timeout());
    }

    /// Keeps a leader that rejoined, else picks the longest-standing member that did.
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.as_ref() else {
            return false;
        };
        if self.members.get(leader).is_some_and(Member::awaiting_join) {
            return true;
        }
        let joined = self
            .members
            .values()
            .filter(|m| m.awaiting_join())
            .min_by_key(|m| m.seq)
            .map(|m| m.id.clone());
        match joined {
            Some(id) => {
                self.leader = Some(id);
                true
            }
            None => false,
        }
    }

    /// Removes a member, answering whatever it has parked with `error`, and re-elects the
    /// leader if it was the leader.
    pub(super) fn remove_member(&mut self, member_id: &str, error: GroupError) {
        let Some(mut member) = self.members.remove(member_id) else {
            return;
        };
        member.answer_join(JoinResponse::error(error.clone(), ""));
        member.answer_sync(SyncResponse::error(error));
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).map(String::as_str) == Some(member_id)
        {
            self.static_members.remove(instance);
        }
        self.pending_sync.remove(member_id);
        if self.leader.as_deref() == Some(member_id) {
            self.leader = self
                .members
                .values()
                .min_by_key(|m| m.seq)
                .map(|m| m.id.clone());
        }
    }

    /// Kafka's `removeMemberAndUpdateGroup`: a member left or expired.
    pub(super) fn remove_member_and_update(&mut self, now: Instant, member_id: &str) {
        self.remove_member(member_id, GroupError::UnknownMemberId);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
        }
    }

    /// Runs whatever is due at `now`: session expiry of members and of handed-out member ids,
    /// the end of the join phase (or of one initial delay step), members that never synced.
    pub fn tick(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.expires <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            let Some(member) = self.members.get_mut(&id) else {
                continue;
            };
            if member.alive_while_waiting() {
                member.expires = now + member.session_timeout;
            } else {
                tracing::info!(group = %self.id, member = %id, "member session expired");
                self.remove_member_and_update(now, &id);
            }
        }
        let before = self.pending.len();
        self.pending.retain(|_, expires| *expires > now);
        if self.pending.len() != before {
            self.try_complete_join(now);
        }
        if self.state == GroupState::PreparingRebalance
            && self.join_deadline.is_some_and(|d| d <= now)
        {
            match self.initial_delay {
                Some(delay) if self.new_member_added && !delay.remaining.is_zero() => {
                    let step = self.timing.initial_rebalance_delay.min(delay.remaining);
                    self.new_member_added = false;
                    self.initial_delay = Some(InitialDelay {
                        remaining: delay.remaining - step,
                    });
                    self.join_deadline = Some(now + step);
                }
                _ => self.complete_join(now),
            }
        }
        if matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        ) && self.sync_deadline.is_some_and(|d| d <= now)
        {
            self.sync_deadline = None;
            let laggards: Vec<String> = self.pending_sync.drain().collect();
            if !laggards.is_empty() {
                for id in &laggards {
                    tracing::info!(group = %self.id, member = %id, "member did not sync in time; removed");
                    self.remove_member(id, GroupError::UnknownMemberId);
                }
                self.maybe_prepare_rebalance(now);
            }
        }
    }

    /// The group is forgotten (deleted, or no longer coordinated here): everything parked is
    /// answered with `error`.
    pub fn kill(&mut self, error: GroupError) {
        for member in self.members.values_mut() {
            member.answer_join(JoinResponse::error(error.clone(), &member.id.clone()));
            member.answer_sync(SyncResponse::error(error.clone()));
        }
        self.members.clear();
        self.static_members.clear();
        self.pending.clear();
        self.pending_sync.clear();
        self.join_deadline = None;
        self.sync_deadline = None;
        self.initial_delay = None;
        self.leader = None;
        self.state = GroupState::Dead;
    }
}
