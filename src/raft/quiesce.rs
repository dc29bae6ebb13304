//! Quiescence: an idle Raft group whose followers hold every entry stops its timers, so a
//! thousand idle partitions cost no CPU. `transport/` carries the node liveness pings and the
//! QUIESCE request; `node.rs` wakes a group on writes and transfers.
//!
//! - A leader quiesces once nothing was written for `quiesce_after`, every voter whose node is
//!   alive holds the leader's last entry (and they make a majority with it), and each of them
//!   agreed (QUIESCE answered `true`): each then stops ticking (no heartbeats, no election
//!   timer). Follower first, leader last, so no follower times out while its leader is silent.
//! - A quiesced follower notices a dead leader through node liveness: the link to the leader's
//!   node closes or goes silent for `peer_timeout` (one ping per node pair per interval, for
//!   every group at once). Its timer then starts again after a random delay within
//!   `wake_spread`, and openraft's own election (pre-vote, then vote) follows as usual: the
//!   leader's lease ran out long ago, so it campaigns at the next tick.
//! - A group wakes (timers on) on a write or transfer at its leader, on an AppendEntries
//!   answered by a follower, on a snapshot or forwarded write, when a member's node goes down
//!   or comes back, and when its role changed under it. Safety is Raft's: only timers stop.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use openraft::type_config::async_runtime::WatchReceiver;
use serde::{Deserialize, Serialize};

use super::transport::{Served, Shared};
use super::types::{NodeId, Raft};

const ACTIVE: u8 = 0;
/// The leader asked its followers to quiesce and waits for their answers.
const QUIESCING: u8 = 1;
const QUIET_LEADER: u8 = 2;
const QUIET_FOLLOWER: u8 = 3;

/// The QUIESCE request: the follower stops its timers if it follows `leader` in `term` and
/// holds and has applied exactly up to `index`.
#[derive(Debug, Serialize, Deserialize)]
pub struct QuiesceRequest {
    pub leader: NodeId,
    pub term: u64,
    pub index: u64,
}

/// One group's quiescence state, shared by its node, the transport and the controller.
#[derive(Debug)]
pub struct Quiesce {
    state: AtomicU8,
    /// The leader a quiet follower follows.
    leader: AtomicU64,
    /// When the group was last busy (ms on [`now_ms`]).
    last_busy: AtomicU64,
    /// When a quiet leader last woke (ms on [`now_ms`] + 1; 0: never): its lease ran out while
    /// quiet, so it takes writes again once a quorum has answered a heartbeat.
    leader_woke: AtomicU64,
    /// Serializes state changes with the tick switch they imply.
    switch: Mutex<()>,
    /// A group of one never ticks and is never looked at.
    solo: bool,
}

fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

impl Quiesce {
    pub fn new(solo: bool) -> Quiesce {
        Quiesce {
            state: AtomicU8::new(ACTIVE),
            leader: AtomicU64::new(0),
            last_busy: AtomicU64::new(now_ms()),
            leader_woke: AtomicU64::new(0),
            switch: Mutex::new(()),
            solo,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.switch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A group of one member: it never ticks at all.
    pub fn is_solo(&self) -> bool {
        self.solo
    }

    /// Whether the group's timers are stopped (as leader or as follower).
    pub fn is_quiet(&self) -> bool {
        matches!(
            self.state.load(Ordering::Acquire),
            QUIET_LEADER | QUIET_FOLLOWER
        )
    }

    /// A leader that stopped its timers and still believes every follower does the same.
    pub fn is_quiet_leader(&self) -> bool {
        self.state.load(Ordering::Acquire) == QUIET_LEADER
    }

    /// Whether a quiet leader woke within `window`.
    pub fn leader_woke_within(&self, window: Duration) -> bool {
        let at = self.leader_woke.load(Ordering::Acquire);
        at != 0 && now_ms() + 1 - at <= window.as_millis() as u64
    }

    /// The group is busy: timers run again (at once) if they were stopped. Returns whether
    /// it was a quiet leader.
    pub fn wake(&self, raft: &Raft) -> bool {
        self.last_busy.store(now_ms(), Ordering::Release);
        if self.state.load(Ordering::Acquire) == ACTIVE {
            return false;
        }
        let _switch = self.lock();
        let before = self.state.swap(ACTIVE, Ordering::AcqRel);
        if before == QUIET_LEADER {
            self.leader_woke.store(now_ms() + 1, Ordering::Release);
        }
        if before == QUIET_LEADER || before == QUIET_FOLLOWER {
            raft.runtime_config().tick(true);
            tracing::debug!(group = %raft.config().cluster_name, leader = before == QUIET_LEADER, "group wakes");
        }
        before == QUIET_LEADER
    }

    /// Answers a QUIESCE request: stops the timers if this replica follows the asking leader
    /// in its term and has applied exactly its last entry.
    pub fn follow_quietly(&self, raft: &Raft, req: &QuiesceRequest) -> bool {
        if self.solo {
            return false;
        }
        let caught_up = {
            let metrics = raft.metrics();
            let m = metrics.borrow_watched();
            m.state == openraft::ServerState::Follower
                && m.current_leader == Some(req.leader)
                && m.current_term == req.term
                && m.last_log_index == Some(req.index)
                && m.last_applied.as_ref().map(|l| l.index) == Some(req.index)
        };
        if !caught_up {
            return false;
        }
        let _switch = self.lock();
        self.leader.store(req.leader, Ordering::Release);
        self.state.store(QUIET_FOLLOWER, Ordering::Release);
        raft.runtime_config().tick(false);
        tracing::debug!(group = %raft.config().cluster_name, leader = req.leader, "follower quiet");
        true
    }

    fn begin_leader(&self) -> bool {
        self.state
            .compare_exchange(ACTIVE, QUIESCING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Every follower agreed: the leader stops too, unless something woke it meanwhile.
    fn finish_leader(&self, raft: &Raft) {
        let _switch = self.lock();
        if self
            .state
            .compare_exchange(QUIESCING, QUIET_LEADER, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            raft.runtime_config().tick(false);
            tracing::debug!(group = %raft.config().cluster_name, "leader quiet");
        }
    }

    fn abort_leader(&self) {
        let _ = self
            .state
            .compare_exchange(QUIESCING, ACTIVE, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// What the controller reads of a group's metrics.
struct View {
    leader_here: bool,
    follower: bool,
    current_leader: Option<NodeId>,
    term: u64,
    last_index: Option<u64>,
    applied: Option<u64>,
    voters: Vec<NodeId>,
    /// The voters other than this node that hold the last entry.
    matched: Vec<NodeId>,
}

fn view(raft: &Raft, me: NodeId) -> View {
    let metrics = raft.metrics();
    let m = metrics.borrow_watched();
    let voters: Vec<NodeId> = m.membership_config.voter_ids().collect();
    let matched = voters
        .iter()
        .copied()
        .filter(|v| {
            *v != me
                && m.replication
                    .as_ref()
                    .and_then(|r| r.get(v).cloned().flatten())
                    .map(|l| l.index)
                    == m.last_log_index
        })
        .collect();
    View {
        leader_here: m.state == openraft::ServerState::Leader && m.current_leader == Some(me),
        follower: m.state == openraft::ServerState::Follower,
        current_leader: m.current_leader,
        term: m.current_term,
        last_index: m.last_log_index,
        applied: m.last_applied.as_ref().map(|l| l.index),
        voters,
        matched,
    }
}

/// The node's quiescence controller: runs with the transport, looks at every served group
/// every half `quiesce_after`, and reacts to liveness changes at once.
pub(crate) async fn run(shared: Arc<Shared>) {
    let config = shared.config().clone();
    let me = config.node_id;
    let mut liveness = shared.liveness_watch();
    let mut scans =
        tokio::time::interval((config.quiesce_after / 2).max(Duration::from_millis(10)));
    scans.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut alive: HashMap<NodeId, bool> = HashMap::new();
    loop {
        tokio::select! {
            _ = shared.cancelled() => return,
            changed = liveness.changed() => {
                if changed.is_err() {
                    return;
                }
                let mut down = HashSet::new();
                let mut up = HashSet::new();
                for &peer in config.members.keys().filter(|p| **p != me) {
                    let now = shared.peer_alive(peer);
                    let before = alive.insert(peer, now).unwrap_or(false);
                    if before && !now {
                        down.insert(peer);
                    } else if !before && now {
                        up.insert(peer);
                    }
                }
                if !down.is_empty() || !up.is_empty() {
                    on_liveness(&shared, &down, &up, config.wake_spread);
                }
            }
            _ = scans.tick() => scan(&shared, me, config.quiesce_after),
        }
    }
}

/// A member's node went down or came back: quiet leaders of its groups wake at once (a
/// returning follower hears them before it would campaign); quiet followers whose leader went
/// down wake spread over `spread`, so their elections do not all start together.
fn on_liveness(
    shared: &Arc<Shared>,
    down: &HashSet<NodeId>,
    up: &HashSet<NodeId>,
    spread: Duration,
) {
    let mut later: Vec<(Duration, Served)> = Vec::new();
    for (_, g) in shared.served() {
        match g.quiesce.state.load(Ordering::Acquire) {
            QUIET_FOLLOWER if down.contains(&g.quiesce.leader.load(Ordering::Acquire)) => {
                let spread_ms = spread.as_millis().max(1) as u64;
                let delay = (uuid::Uuid::new_v4().as_u128() as u64) % spread_ms;
                later.push((Duration::from_millis(delay), g));
            }
            QUIET_LEADER | QUIESCING => {
                let members = {
                    let metrics = g.raft.metrics();
                    let m = metrics.borrow_watched();
                    m.membership_config.voter_ids().collect::<Vec<_>>()
                };
                if members.iter().any(|v| down.contains(v) || up.contains(v)) {
                    g.quiesce.wake(&g.raft);
                }
            }
            _ => {}
        }
    }
    if later.is_empty() {
        return;
    }
    tracing::info!(
        groups = later.len(),
        ?down,
        "waking quiet followers whose leader's node is down"
    );
    later.sort_by_key(|(at, _)| *at);
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        for (at, g) in later {
            tokio::time::sleep_until(start + at).await;
            let _ = g.quiesce.wake(&g.raft);
        }
    });
}

/// Quiesces idle caught-up leaders and wakes groups whose role changed under them.
fn scan(shared: &Arc<Shared>, me: NodeId, quiet_after: Duration) {
    let now = now_ms();
    let quiet_ms = quiet_after.as_millis() as u64;
    let mut asks: Vec<(String, Served, QuiesceRequest, Vec<NodeId>)> = Vec::new();
    for (name, g) in shared.served() {
        let q = &g.quiesce;
        if q.solo {
            continue;
        }
        match q.state.load(Ordering::Acquire) {
            ACTIVE => {
                if now.saturating_sub(q.last_busy.load(Ordering::Acquire)) < quiet_ms {
                    continue;
                }
                let v = view(&g.raft, me);
                // Members whose node is down are not waited for (a group with a dead member
                // still quiets); those alive must hold every entry and, with this node, be a
                // majority. A member coming back wakes the leader (`on_liveness`).
                let followers: Vec<NodeId> = v
                    .voters
                    .iter()
                    .copied()
                    .filter(|p| *p != me && shared.peer_alive(*p))
                    .collect();
                let Some(index) = v.last_index else { continue };
                if v.leader_here
                    && followers.iter().all(|p| v.matched.contains(p))
                    && v.applied == Some(index)
                    && !followers.is_empty()
                    && (followers.len() + 1) * 2 > v.voters.len()
                    && q.begin_leader()
                {
                    let req = QuiesceRequest {
                        leader: me,
                        term: v.term,
                        index,
                    };
                    asks.push((name, g.clone(), req, followers));
                }
            }
            QUIET_LEADER => {
                let v = view(&g.raft, me);
                let alive = v
                    .voters
                    .iter()
                    .filter(|p| **p == me || shared.peer_alive(**p))
                    .count();
                if !v.leader_here || alive * 2 <= v.voters.len() {
                    q.wake(&g.raft);
                }
            }
            QUIET_FOLLOWER => {
                let v = view(&g.raft, me);
                let leader = q.leader.load(Ordering::Acquire);
                if !v.follower || v.current_leader != Some(leader) || !shared.peer_alive(leader) {
                    q.wake(&g.raft);
                }
            }
            _ => {}
        }
    }
    if asks.is_empty() {
        return;
    }
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        let attempts = asks.into_iter().map(|(name, g, req, followers)| {
            let shared = Arc::clone(&shared);
            async move {
                let mut all = true;
                for peer in followers {
                    if !shared.ask_quiesce(peer, &name, &req).await {
                        all = false;
                        break;
                    }
                }
                if all {
                    g.quiesce.finish_leader(&g.raft);
                } else {
                    g.quiesce.abort_leader();
                }
            }
        });
        futures::future::join_all(attempts).await;
    });
}
