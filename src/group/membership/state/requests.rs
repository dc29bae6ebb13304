//! The requests of members that joined: SyncGroup (the leader's assignments end the rebalance),
//! Heartbeat, LeaveGroup, and OffsetCommit's check of the committer (Kafka's
//! `validateOffsetCommit`).

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Group, GroupState};
use crate::group::membership::{GroupError, SyncRequest, SyncResponse};

impl Group {
    /// SyncGroup. The leader's assignments complete the rebalance; a follower's SyncGroup waits
    /// for them (the receiver fills then).
    pub fn sync(&mut self, now: Instant, req: SyncRequest) -> oneshot::Receiver<SyncResponse> {
        let id = req.member_id.as_str();
        let refused = if self.state == GroupState::Dead {
            Some(GroupError::CoordinatorNotAvailable)
        } else if self.is_static_member_fenced(req.group_instance_id.as_deref(), id) {
            Some(GroupError::FencedInstanceId)
        } else if !self.members.contains_key(id) {
            Some(GroupError::UnknownMemberId)
        } else if req.generation_id != self.generation {
            Some(GroupError::IllegalGeneration)
        } else if req
            .protocol_type
            .as_ref()
            .is_some_and(|t| self.protocol_type.as_ref() != Some(t))
            || req
                .protocol_name
                .as_ref()
                .is_some_and(|n| self.protocol_name.as_ref() != Some(n))
        {
            Some(GroupError::InconsistentGroupProtocol)
        } else {
            match self.state {
                GroupState::Empty | GroupState::Dead => Some(GroupError::UnknownMemberId),
                GroupState::PreparingRebalance => Some(GroupError::RebalanceInProgress),
                GroupState::CompletingRebalance | GroupState::Stable => None,
            }
        };
        if let Some(error) = refused {
            return Self::filled(SyncResponse::error(error));
        }
        let (tx, rx) = oneshot::channel();
        self.pending_sync.remove(id);
        let answer = self.sync_answer(Bytes::new());
        let is_leader = self.leader.as_deref() == Some(id);
        let state = self.state;
        let Some(member) = self.members.get_mut(id) else {
            return Self::filled(SyncResponse::error(GroupError::UnknownMemberId));
        };
        member.expires = now + member.session_timeout;
        if state == GroupState::Stable {
            let _ = tx.send(SyncResponse {
                assignment: member.assignment.clone(),
                ..answer
            });
            return rx;
        }
        member.answer_sync(SyncResponse::error(GroupError::RebalanceInProgress));
        member.sync_waiter = Some(tx);
        if is_leader {
            tracing::info!(
                group = %self.id,
                generation = self.generation,
                assignments = req.assignments.len(),
                "assignment received from the leader"
            );
            let mut assignments: HashMap<String, Bytes> = req.assignments.into_iter().collect();
            for member in self.members.values_mut() {
                member.assignment = assignments.remove(&member.id).unwrap_or_default();
                member.answer_sync(SyncResponse {
                    assignment: member.assignment.clone(),
                    ..answer.clone()
                });
                member.expires = now + member.session_timeout;
            }
            self.state = GroupState::Stable;
        }
        rx
    }

    fn sync_answer(&self, assignment: Bytes) -> SyncResponse {
        SyncResponse {
            error: None,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment,
        }
    }

    pub fn heartbeat(
        &mut self,
        now: Instant,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let state = self.state;
        let member = self.member_of_generation(member_id, instance_id, generation_id)?;
        match state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.expires = now + member.session_timeout;
                Ok(())
            }
            GroupState::PreparingRebalance => {
                member.expires = now + member.session_timeout;
                Err(GroupError::RebalanceInProgress)
            }
        }
    }

    /// One member of a LeaveGroup: by member id, or by group.instance.id alone (an empty member
    /// id: administrative removal of a static member).
    pub fn leave(
        &mut self,
        now: Instant,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if member_id.is_empty() {
            let current = instance_id
                .and_then(|i| self.static_members.get(i))
                .cloned()
                .ok_or(GroupError::UnknownMemberId)?;
            self.remove_member_and_update(now, &current);
            return Ok(());
        }
        if self.pending.remove(member_id).is_some() {
            self.try_complete_join(now);
            return Ok(());
        }
        if self.is_static_member_fenced(instance_id, member_id) {
            return Err(GroupError::FencedInstanceId);
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId);
        }
        tracing::info!(group = %self.id, member = member_id, "member left");
        self.remove_member_and_update(now, member_id);
        Ok(())
    }

    /// Kafka's `validateOffsetCommit` for a group that exists. A member's commit refreshes its
    /// session like a heartbeat.
    pub fn validate_commit(
        &mut self,
        now: Instant,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        let simple = generation_id < 0 && member_id.is_empty() && instance_id.is_none();
        if simple {
            // Not using group management: only while nobody is.
            return if self.state == GroupState::Empty {
                Ok(())
            } else {
                Err(GroupError::UnknownMemberId)
            };
        }
        let state = self.state;
        let member = self.member_of_generation(member_id, instance_id, generation_id)?;
        match state {
            // The member has its generation but not its assignment yet.
            GroupState::CompletingRebalance => Err(GroupError::RebalanceInProgress),
            GroupState::Stable | GroupState::PreparingRebalance => {
                member.expires = now + member.session_timeout;
                Ok(())
            }
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
        }
    }
}
