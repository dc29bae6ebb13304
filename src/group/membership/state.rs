//! One consumer group's membership as Kafka's classic `GroupCoordinator` runs it: members and
//! their protocols, generations, the leader, the five states and their error codes. A plain
//! state machine: time is passed in, answers leave through one-shot channels (already filled when
//! the answer is immediate), and nothing here sleeps. `mod.rs` owns the registry, the timers
//! (`tick` at `next_deadline`) and the bounded waits.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::{
    GroupError, JoinRequest, JoinResponse, JoinedMember, MemberDescription, SyncRequest,
    SyncResponse,
};

/// Kafka's `GroupCoordinator.NewMemberJoinTimeoutMs`: a member that joined for the first time
/// and never completed a join is dropped after this long (it cannot heartbeat without an id).
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// The states of a classic group, spelled as Kafka spells them in ListGroups/DescribeGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (the group may still have committed offsets).
    Empty,
    /// A rebalance started: members must rejoin before the join phase completes.
    PreparingRebalance,
    /// The join phase completed; waiting for the leader's assignments.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Removed (deleted, or no longer coordinated here).
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// One protocol a member supports (e.g. the assignor "range"), with its opaque metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// Timing settings of the group coordinator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
}

#[derive(Debug)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocols: Vec<Protocol>,
    assignment: Bytes,
    join_waiter: Option<oneshot::Sender<JoinResponse>>,
    sync_waiter: Option<oneshot::Sender<SyncResponse>>,
    /// Removed at this time unless it heartbeats or is waiting for a join/sync answer.
    expires: Instant,
    /// Joined for the first time and has not had a join answer yet.
    is_new: bool,
    /// Join order: the longest-standing member becomes leader when the leader goes.
    seq: u64,
}

impl Member {
    /// Has a JoinGroup parked here whose client is still listening.
    fn awaiting_join(&self) -> bool {
        self.join_waiter.as_ref().is_some_and(|w| !w.is_closed())
    }

    fn awaiting_sync(&self) -> bool {
        self.sync_waiter.as_ref().is_some_and(|w| !w.is_closed())
    }

    /// Kafka's `hasSatisfiedHeartbeat` at expiry: members waiting for a rebalance answer are
    /// alive; new members only until their join timeout.
    fn alive_while_waiting(&self) -> bool {
        !self.is_new && (self.awaiting_join() || self.awaiting_sync())
    }

    fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    fn supports(&self, name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == name)
    }

    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    fn answer_join(&mut self, response: JoinResponse) {
        if let Some(waiter) = self.join_waiter.take() {
            let _ = waiter.send(response);
        }
    }

    fn answer_sync(&mut self, response: SyncResponse) {
        if let Some(waiter) = self.sync_waiter.take() {
            let _ = waiter.send(response);
        }
    }
}

/// Kafka's `InitialDelayedJoin`: the first rebalance of an empty group waits
/// `group.initial.rebalance.delay.ms`, again each time a newcomer arrived meanwhile, until
/// the rebalance timeout is used up.
#[derive(Debug, Clone, Copy)]
struct InitialDelay {
    remaining: Duration,
}

/// One group's membership.
#[derive(Debug)]
pub struct Group {
    id: String,
    timing: Timing,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    members: HashMap<String, Member>,
    /// group.instance.id -> its current member id.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, until they join or their session passes.
    pending: HashMap<String, Instant>,
    /// Members that got this generation's join answer but have not sent SyncGroup yet.
    pending_sync: HashSet<String>,
    /// The join phase completes at this time at the latest.
    join_deadline: Option<Instant>,
    initial_delay: Option<InitialDelay>,
    /// A newcomer arrived during the initial delay.
    new_member_added: bool,
    /// Members still in `pending_sync` at this time are removed.
    sync_deadline: Option<Instant>,
    /// When the group last became Empty (or was created): offsets expire counting from here.
    empty_since: Instant,
    next_seq: u64,
}

/// Generates `prefix-<uuid>`, Kafka's member id format.
fn member_id(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

impl Group {
    pub fn new(id: String, timing: Timing) -> Group {
        Group {
            id,
            timing,
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: HashMap::new(),
            static_members: HashMap::new(),
            pending: HashMap::new(),
            pending_sync: HashSet::new(),
            join_deadline: None,
            initial_delay: None,
            new_member_added: false,
            sync_deadline: None,
            empty_since: Instant::now(),
            next_seq: 0,
        }
    }

    pub fn state(&self) -> GroupState {
        self.state
    }

    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }

    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    /// How long the group has been Empty; `None` unless it is.
    pub fn empty_for(&self, now: Instant) -> Option<Duration> {
        (self.state == GroupState::Empty).then(|| now.saturating_duration_since(self.empty_since))
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// How long a SyncGroup of `member_id` may wait: its rebalance timeout (the leader must sync
    /// within it, else the laggards are removed and the group rebalances).
    pub fn sync_wait_bound(&self, member_id: &str) -> Duration {
        self.members
            .get(member_id)
            .map(|m| m.rebalance_timeout)
            .unwrap_or_default()
    }

    /// Never had a generation and holds nobody: nothing would be lost by forgetting it.
    pub fn is_disposable(&self) -> bool {
        self.state == GroupState::Empty
            && self.generation == 0
            && self.members.is_empty()
            && self.pending.is_empty()
    }

    /// The earliest time `tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let members = self.members.values().map(|m| m.expires);
        let pending = self.pending.values().copied();
        members
            .chain(pending)
            .chain(self.join_deadline)
            .chain(self.sync_deadline)
            .min()
    }

    /// The longest rebalance timeout among the members (Kafka's `group.rebalanceTimeoutMs`).
    fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    fn error_join(error: GroupError, member_id: &str) -> JoinResponse {
        JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }

    fn filled<T>(value: T) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(value);
        rx
    }

    /// The member a heartbeat or commit names, checked as Kafka checks it: a replaced static
    /// member is fenced, an unknown one refused, a stale generation illegal.
    fn member_of_generation(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<&mut Member, GroupError> {
        if self.is_static_member_fenced(instance_id, member_id) {
            return Err(GroupError::FencedInstanceId);
        }
        let generation = self.generation;
        let member = self
            .members
            .get_mut(member_id)
            .ok_or(GroupError::UnknownMemberId)?;
        if generation_id != generation {
            return Err(GroupError::IllegalGeneration);
        }
        Ok(member)
    }

    fn is_static_member_fenced(&self, instance_id: Option<&str>, member_id: &str) -> bool {
        instance_id
            .and_then(|i| self.static_members.get(i))
            .is_some_and(|current| current != member_id)
    }

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
    fn select_protocol(&self) -> Option<String> {
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
    fn generation_answer(&self, member_id: &str, with_members: bool) -> JoinResponse {
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

    // ---- JoinGroup ----

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
            let _ = tx.send(Self::error_join(GroupError::CoordinatorNotAvailable, ""));
            return;
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let _ = tx.send(Self::error_join(GroupError::InconsistentGroupProtocol, ""));
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
                let _ = tx.send(Self::error_join(GroupError::MemberIdRequired, &new_id));
            }
            None => self.add_member_and_rebalance(now, new_id, req, tx),
        }
    }

    fn join_existing_member(&mut self, now: Instant, req: JoinRequest, tx: JoinSender) {
        let id = req.member_id.clone();
        if self.state == GroupState::Dead {
            let _ = tx.send(Self::error_join(GroupError::CoordinatorNotAvailable, &id));
            return;
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let _ = tx.send(Self::error_join(GroupError::InconsistentGroupProtocol, &id));
            return;
        }
        if self.pending.contains_key(&id) {
            self.pending.remove(&id);
            if req.group_instance_id.is_some() {
                // Ids handed out by MEMBER_ID_REQUIRED are for dynamic members only.
                let _ = tx.send(Self::error_join(GroupError::UnknownMemberId, &id));
                return;
            }
            self.add_member_and_rebalance(now, id, req, tx);
            return;
        }
        let instance = req.group_instance_id.as_deref();
        if self.is_static_member_fenced(instance, &id) {
            let _ = tx.send(Self::error_join(GroupError::FencedInstanceId, &id));
            return;
        }
        let instance_unknown = instance.is_some_and(|i| !self.static_members.contains_key(i));
        if !self.members.contains_key(&id) || instance_unknown {
            let _ = tx.send(Self::error_join(GroupError::UnknownMemberId, &id));
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
                let _ = tx.send(Self::error_join(GroupError::UnknownMemberId, &id));
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
            member.answer_join(Self::error_join(GroupError::RebalanceInProgress, member_id));
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
            let _ = tx.send(Self::error_join(GroupError::UnknownMemberId, ""));
            return;
        };
        let previous_leader = self.leader.clone().unwrap_or_default();
        member.answer_join(Self::error_join(GroupError::FencedInstanceId, old_id));
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
                    member.answer_join(Self::error_join(GroupError::UnknownMemberId, &new_id));
                }
            }
        }
    }

    fn maybe_prepare_rebalance(&mut self, now: Instant) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now);
        }
    }

    fn prepare_rebalance(&mut self, now: Instant) {
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
    fn try_complete_join(&mut self, now: Instant) {
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
    fn remove_member(&mut self, member_id: &str, error: GroupError) {
        let Some(mut member) = self.members.remove(member_id) else {
            return;
        };
        member.answer_join(Self::error_join(error.clone(), ""));
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
    fn remove_member_and_update(&mut self, now: Instant, member_id: &str) {
        self.remove_member(member_id, GroupError::UnknownMemberId);
        match self.state {
            GroupState::Dead | GroupState::Empty => {}
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(now)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
        }
    }

    // ---- SyncGroup ----

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

    // ---- Heartbeat, LeaveGroup, OffsetCommit checks ----

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

    // ---- Timers ----

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
            member.answer_join(Self::error_join(error.clone(), &member.id.clone()));
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

    // ---- Descriptions ----

    /// DescribeGroups' view: the members with metadata and assignment once Stable, without
    /// before (as Kafka describes them).
    pub fn describe(&self) -> (String, Vec<MemberDescription>) {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let mut members: Vec<&Member> = self.members.values().collect();
        members.sort_by_key(|m| m.seq);
        let members = members
            .into_iter()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata_for(&protocol)
                } else {
                    Bytes::new()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Bytes::new()
                },
            })
            .collect();
        (protocol, members)
    }
}

type JoinSender = oneshot::Sender<JoinResponse>;

impl SyncResponse {
    pub(crate) fn error(error: GroupError) -> SyncResponse {
        SyncResponse {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}
