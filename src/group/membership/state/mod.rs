//! One consumer group's membership as Kafka's classic `GroupCoordinator` runs it: members and
//! their protocols, generations, the leader, the five states and their error codes. A plain
//! state machine: time is passed in, answers leave through one-shot channels (already filled when
//! the answer is immediate), and nothing here sleeps. `membership/mod.rs` owns the registry, the
//! timers (`tick` at `next_deadline`) and the bounded waits.
//!
//! This file holds the group and what it answers about itself; `join.rs` JoinGroup,
//! `rebalance.rs` the rebalance and the timers, `requests.rs` the requests of members that
//! joined (SyncGroup, Heartbeat, LeaveGroup, OffsetCommit's checks), `member.rs` one member.

mod join;
mod member;
mod rebalance;
mod requests;

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::{Duration, Instant};

use super::{GroupError, JoinResponse, MemberDescription};
use member::Member;

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

/// The group coordinator's settings each group applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSettings {
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay: Duration,
    /// `group.max.size`: members (joined or holding a member id to join with) at most.
    pub max_size: usize,
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
    timing: GroupSettings,
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

impl Group {
    pub fn new(id: String, timing: GroupSettings) -> Group {
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
