//! JoinGroup: new, known and static members joining, the protocol the group settles on, and the
//! answer of a generation. `rebalance.rs` completes the join phase.

use std::collections::HashMap;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::member::{Member, member_id};
use super::{Group, GroupState, JoinSender, NEW_MEMBER_JOIN_TIMEOUT, Protocol};
use crate::group::membership::{GroupError, JoinRequest, JoinResponse, JoinedMember, SyncResponse};

impl Group {
    /// Kafka's `supportsProtocols`: an empty group takes any non-empty protocol type and list;
    /// otherwise the type must match and one protocol must be supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.members.is_empty() {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    /// The protocol every member supports that most members prefer (ties: the leader's order).
    pub(super) fn select_protocol(&self) -> Option<String> {
        let leader = self.leader.as_ref().and_then(|l| self.members.get(l))?;
        let candidates: Vec<&str> = leader
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: HashMap<&str, usize> = HashMap::new();
        for member in self.members.values() {
            if let Some(choice) = member
                .protocols
                .iter()
                .find(|p| candidates.contains(&p.name.as_str()))
            {
                *votes.entry(choice.name.as_str()).or_default() += 1;
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for name in candidates {
            let count = votes.get(name).copied().unwrap_or(0);
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((name, count));
            }
        }
        best.map(|(name, _)| name.to_string())
    }

    /// What the leader gets in its JoinGroup answer: every member with its metadata for the
    /// selected protocol.
    fn member_metadata(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.seq);
        members
            .into_iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata_for(&protocol),
            })
            .collect()
    }

    /// The join answer of the current generation for `member_id`.
    pub(super) fn generation_answer(&self, member_id: &str, with_members: bool) -> JoinResponse {
        JoinResponse {
            error: None,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.member_metadata()
            } else {
                Vec::new()
            },
        }
    }

    /// JoinGroup. The receiver is already filled when the answer is immediate; otherwise it is
    /// filled when the join phase completes (or the member is removed or fenced meanwhile).
    pub fn join(&mut self, now: Instant, req: JoinRequest) -> oneshot::Receiver<JoinResponse> {
        let (tx, rx) = oneshot::channel();
        if req.member_id.is_empty() {
            self.join_new_member(now, req, tx);
        } else {
            self.join_existing_member(now, req, tx);
        }
        self.try_complete_join(now);
        rx
    }

    fn join_new_member(&mut self, now: Instant, req: JoinRequest, tx: JoinSender) {
        if self.state == GroupState::Dead {
            let _ = tx.send(JoinResponse::error(GroupError::CoordinatorNotAvailable, ""));
            return;
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let _ = tx.send(JoinResponse::error(
                GroupError::InconsistentGroupProtocol,
                "",
            ));
            return;
        }
        let known_instance = req
            .group_instance_id
            .as_ref()
            .is_some_and(|instance| self.static_members.contains_key(instance));
        // A static member coming back takes its own place; anyone else needs a free one.
        if !known_instance && self.members.len() + self.pending.len() >= self.timing.max_size {
            let _ = tx.send(JoinResponse::error(GroupError::GroupMaxSizeReached, ""));
            return;
        }
        let new_id = member_id(req.group_instance_id.as_deref().unwrap_or(&req.client_id));
        match req.group_instance_id.clone() {
            Some(instance) => match self.static_members.get(&instance).cloned() {
                Some(old_id) => {
                    self.replace_static_member(now, &instance, &old_id, new_id, req, tx)
                }
                None => self.add_member_and_rebalance(now, new_id, req, tx),
            },
            None if req.require_known_member_id => {
                self.pending
                    .insert(new_id.clone(), now + req.session_timeout);
                let _ = tx.send(JoinResponse::error(GroupError::MemberIdRequired, &new_id));
            }
            None => self.add_member_and_rebalance(now, new_id, req, tx),
        }
    }

    fn join_existing_member(&mut self, now: Instant, req: JoinRequest, tx: JoinSender) {
        let id = req.member_id.clone();
        if self.state == GroupState::Dead {
            let _ = tx.send(JoinResponse::error(
                GroupError::CoordinatorNotAvailable,
                &id,
            ));
            return;
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let _ = tx.send(JoinResponse::error(
                GroupError::InconsistentGroupProtocol,
                &id,
            ));
            return;
        }
        if self.pending.contains_key(&id) {
            self.pending.remove(&id);
            if req.group_instance_id.is_some() {
                // Ids handed out by MEMBER_ID_REQUIRED are for dynamic members only.
                let _ = tx.send(JoinResponse::error(GroupError::UnknownMemberId, &id));
                return;
            }
            self.add_member_and_rebalance(now, id, req, tx);
            return;
        }
        let instance = req.group_instance_id.as_deref();
        if self.is_static_member_fenced(instance, &id) {
            let _ = tx.send(JoinResponse::error(GroupError::FencedInstanceId, &id));
            return;
        }
        let instance_unknown = instance.is_some_and(|i| !self.static_members.contains_key(i));
        if !self.members.contains_key(&id) || instance_unknown {
            let _ = tx.send(JoinResponse::error(GroupError::UnknownMemberId, &id));
            return;
        }
        let is_leader = self.leader.as_deref() == Some(id.as_str());
        let matches = self
            .members
            .get(&id)
            .is_some_and(|m| m.matches(&req.protocols));
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(now, req, tx),
            // Same metadata: the member lost its join answer; give it the generation again.
            GroupState::CompletingRebalance if matches => {
                let _ = tx.send(self.generation_answer(&id, is_leader));
            }
            GroupState::CompletingRebalance => self.update_member_and_rebalance(now, req, tx),
            // The leader rejoining asks for a rebalance (e.g. topic metadata changed).
            GroupState::Stable if is_leader || !matches => {
                self.update_member_and_rebalance(now, req, tx)
            }
            GroupState::Stable => {
                let _ = tx.send(self.generation_answer(&id, false));
            }
            GroupState::Empty | GroupState::Dead => {
                let _ = tx.send(JoinResponse::error(GroupError::UnknownMemberId, &id));
            }
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        now: Instant,
        id: String,
        req: JoinRequest,
        tx: JoinSender,
    ) {
        if self.state == GroupState::PreparingRebalance && self.generation == 0 {
            self.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.members.insert(
            id.clone(),
            Member {
                id,
                instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout: req.session_timeout,
                rebalance_timeout: req.rebalance_timeout,
                protocols: req.protocols,
                assignment: Bytes::new(),
                join_waiter: Some(tx),
                sync_waiter: None,
                expires: now + NEW_MEMBER_JOIN_TIMEOUT,
                is_new: true,
                seq,
            },
        );
        self.maybe_prepare_rebalance(now);
    }

    fn update_member(&mut self, req: JoinRequest, member_id: &str, tx: JoinSender) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.protocols = req.protocols;
            member.session_timeout = req.session_timeout;
            member.rebalance_timeout = req.rebalance_timeout;
            // A retried JoinGroup replaces the one parked before (its client gave up on it).
            member.answer_join(JoinResponse::error(
                GroupError::RebalanceInProgress,
                member_id,
            ));
            member.join_waiter = Some(tx);
        }
    }

    fn update_member_and_rebalance(&mut self, now: Instant, req: JoinRequest, tx: JoinSender) {
        let id = req.member_id.clone();
        self.update_member(req, &id, tx);
        self.maybe_prepare_rebalance(now);
    }

    /// A known group.instance.id joins with an empty member id: the new member id replaces the
    /// old one (whose parked requests are fenced). In a Stable group whose selected protocol
    /// would not change, no rebalance happens.
    fn replace_static_member(
        &mut self,
        now: Instant,
        instance: &str,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        tx: JoinSender,
    ) {
        let Some(mut member) = self.members.remove(old_id) else {
            let _ = tx.send(JoinResponse::error(GroupError::UnknownMemberId, ""));
            return;
        };
        let previous_leader = self.leader.clone().unwrap_or_default();
        member.answer_join(JoinResponse::error(GroupError::FencedInstanceId, old_id));
        member.answer_sync(SyncResponse::error(GroupError::FencedInstanceId));
        member.id = new_id.clone();
        self.members.insert(new_id.clone(), member);
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        self.static_members
            .insert(instance.to_string(), new_id.clone());
        let skip_supported = req.supports_skip_assignment;
        self.update_member(req, &new_id, tx);
        if let Some(member) = self.members.get_mut(&new_id) {
            member.expires = now + member.session_timeout;
        }
        match self.state {
            GroupState::Stable => {
                if self.protocol_name == self.select_protocol() {
                    let is_leader = self.leader.as_deref() == Some(new_id.as_str());
                    let answer = if skip_supported {
                        JoinResponse {
                            skip_assignment: is_leader,
                            ..self.generation_answer(&new_id, is_leader)
                        }
                    } else {
                        // The previous leader id: the new member must not assign in a Stable
                        // group, since its SyncGroup would not be propagated.
                        JoinResponse {
                            leader: previous_leader,
                            ..self.generation_answer(&new_id, false)
                        }
                    };
                    if let Some(member) = self.members.get_mut(&new_id) {
                        member.answer_join(answer);
                    }
                } else {
                    self.maybe_prepare_rebalance(now);
                }
            }
            // The leader may be assigning to the old member id: assign again.
            GroupState::CompletingRebalance => self.prepare_rebalance(now),
            GroupState::PreparingRebalance => {}
            GroupState::Empty | GroupState::Dead => {
                if let Some(member) = self.members.get_mut(&new_id) {
                    member.answer_join(JoinResponse::error(GroupError::UnknownMemberId, &new_id));
                }
            }
        }
    }
}
