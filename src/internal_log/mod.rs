//! State kept as the records of an internal partition and applied on every replica: propose a
//! command, apply committed commands in log order, wait until an offset is applied, load again
//! from a compacted or replaced log. Users bring the state ([`AppliedState`]): the metadata
//! (`metadata/store.rs`), the committed offsets (`group/offsets/`).
//!
//! Below `group` and `metadata`, above `partition`: it imports `partition` and `record` only.
//! Each command is one record batch ([`crate::record::encode_internal`]) appended through the
//! partition's Raft leader; an applier task on every replica reads the committed ones back and
//! hands them to the state in log order. A command that cannot be read back is skipped, loudly,
//! by every replica alike. A proposer waits until its command is applied on its own replica,
//! then learns the command's outcome (e.g. whether the state refused it).
//!
//! A log whose start is past 0 (compacted by its user, or replaced from the leader's snapshot)
//! is replayed from that start: the state decides how to load from there (e.g. skip until a
//! whole snapshot written as records) and reports itself unloaded meanwhile, so nobody waits on
//! it. A user that purges its own log purges only below what it has applied.

mod applier;
mod replay;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::partition::{self, Replica};
use crate::record::encode_internal;
use crate::types::KafkaOffset;

pub use replay::Replay;

/// Outcomes of applied commands kept for their proposers, newest first.
const OUTCOMES_KEPT: usize = 4096;
/// How often a start-up replay looks again at a log end that a new leader may have cut.
const REPLAY_RECHECK: Duration = Duration::from_millis(100);

/// The state an internal log builds. Applied on every replica from the same records, so it must
/// be a function of them alone (no clock, no local settings).
pub trait AppliedState: Send + 'static {
    /// What one record holds.
    type Command: Serialize + DeserializeOwned + Send + Sync;
    /// What the proposer of a command learns once it is applied (e.g. whether it was refused).
    type Outcome: Clone + Send + 'static;
    /// What readers see without locking the state, published after each applied step.
    type View: Clone + Send + Sync + 'static;

    /// The state of a log whose first record is at `log_start`: empty at 0. Past 0 the state
    /// decides how to load, and reports [`AppliedState::is_loaded`] false until it has.
    fn starting_at(log_start: KafkaOffset) -> Self;

    /// Whether the state is known. While not, nothing is published and waits do not end.
    fn is_loaded(&self) -> bool {
        true
    }

    /// Applies the command found at `offset`, its record `bytes` long.
    fn apply(
        &mut self,
        offset: KafkaOffset,
        bytes: u64,
        command: Self::Command,
    ) -> Step<Self::Outcome>;

    /// The view of this state with every record below `next_offset` applied.
    fn view(&self, next_offset: KafkaOffset) -> Self::View;
}

/// What applying one command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<O> {
    /// Applied (or deliberately ignored); the outcome goes to a proposer waiting on it.
    Applied(O),
    /// Reading goes on from this offset instead (e.g. a snapshot that stands there was loaded).
    Rewind(KafkaOffset),
}

/// Where proposals go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Appended here; a replica that does not lead refuses with `NotLeader`.
    Local,
    /// Handed to the leader when this replica does not lead, within the log's `wait`.
    ViaLeader,
}

/// How one internal log is run.
#[derive(Debug, Clone, Copy)]
pub struct LogOptions {
    /// Names the log in errors and traces.
    pub name: &'static str,
    pub route: Route,
    /// How long a proposal or a read waits for this replica's state to apply what it needs (and,
    /// routed via the leader, how long the hand-over may take).
    pub wait: Duration,
}

/// Why a proposal or a read did not get through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Partition(#[from] partition::Error),
    /// This replica's state did not apply what was needed in time (loading, or far behind).
    #[error("{log} log not applied within {within:?}")]
    NotApplied { log: &'static str, within: Duration },
}

/// An internal log and the state its applier keeps current on this replica.
pub struct InternalLog<S: AppliedState> {
    replica: Arc<Replica>,
    options: LogOptions,
    shared: Arc<Shared<S>>,
    applied: watch::Receiver<KafkaOffset>,
    view: watch::Receiver<S::View>,
    applier: JoinHandle<()>,
}

impl<S: AppliedState> std::fmt::Debug for InternalLog<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalLog")
            .field("name", &self.options.name)
            .field("partition", &self.replica.partition)
            .field("applied", &*self.applied.borrow())
            .finish()
    }
}

impl<S: AppliedState> Drop for InternalLog<S> {
    fn drop(&mut self) {
        self.applier.abort();
    }
}

impl<S: AppliedState> InternalLog<S> {
    /// Starts applying `replica`'s committed records from its log start.
    pub fn start(replica: Arc<Replica>, options: LogOptions) -> InternalLog<S> {
        let replay = Replay::<S>::starting_at(replica.log_start_offset());
        // Nothing is applied yet: the empty state's view, at 0.
        let (view_tx, view) = watch::channel(replay.state().view(KafkaOffset(0)));
        let (applied_tx, applied) = watch::channel(KafkaOffset(0));
        let shared = Arc::new(Shared {
            name: options.name,
            inner: Mutex::new(Inner {
                replay,
                outcomes: BTreeMap::new(),
            }),
        });
        // The task alone holds the senders: once it ends, waits end with `Stopped`.
        let progress = applier::Progress::new(applied_tx, view_tx);
        let applier = tokio::spawn(applier::run(
            Arc::clone(&replica),
            Arc::clone(&shared),
            progress,
        ));
        InternalLog {
            replica,
            options,
            shared,
            applied,
            view,
            applier,
        }
    }

    pub fn replica(&self) -> &Arc<Replica> {
        &self.replica
    }

    /// Appends `command` and waits until it is applied here; returns its outcome, `None` if it
    /// was skipped as unreadable or its outcome is no longer kept.
    pub async fn propose(&self, command: &S::Command) -> Result<Option<S::Outcome>, Error> {
        let offset = self.append(command).await?;
        self.wait_applied(offset.plus(1)).await?;
        Ok(self.shared.lock().outcomes.get(&offset).cloned())
    }

    /// Appends `command` without waiting for it to be applied; returns its offset once committed.
    pub async fn append(&self, command: &S::Command) -> Result<KafkaOffset, Error> {
        let batch = encode_internal(command, now_ms());
        let appended = match self.options.route {
            Route::Local => self.replica.append_reserved(batch).await?,
            Route::ViaLeader => {
                self.replica
                    .append_via_leader(batch, self.options.wait)
                    .await?
            }
        };
        Ok(appended.base_offset)
    }

    /// Waits (within the log's `wait`) until every record below `offset` is applied here.
    pub async fn wait_applied(&self, offset: KafkaOffset) -> Result<(), Error> {
        let mut applied = self.applied.clone();
        let within = self.options.wait;
        match tokio::time::timeout(within, applied.wait_for(|a| *a >= offset)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(partition::Error::applier_stopped(self.options.name).into()),
            Err(_) => Err(Error::NotApplied {
                log: self.options.name,
                within,
            }),
        }
    }

    /// Waits until everything in this replica's log now is applied.
    pub async fn wait_caught_up(&self) -> Result<(), Error> {
        self.wait_applied(self.replica.log_end_offset()).await
    }

    /// Waits, without bound, until everything in this replica's log as of the call is applied,
    /// or up to a shorter end (a new leader may cut uncommitted entries): for a broker that must
    /// not act on a partial state at start.
    pub async fn wait_replayed(&self) {
        let end_at_start = self.replica.log_end_offset();
        let mut applied = self.applied.clone();
        loop {
            let goal = end_at_start.min(self.replica.log_end_offset());
            if *applied.borrow_and_update() >= goal {
                return;
            }
            let changed = tokio::time::timeout(REPLAY_RECHECK, applied.changed()).await;
            if let Ok(Err(_)) = changed {
                // The applier stopped (its error says why): look at the log end now and then.
                tokio::time::sleep(REPLAY_RECHECK).await;
            }
        }
    }

    /// Runs `read` on the state as applied so far (see [`Replay::next`]), under its lock.
    pub fn read<R>(&self, read: impl FnOnce(&Replay<S>) -> R) -> R {
        read(&self.shared.lock().replay)
    }

    /// The latest published view.
    pub fn view(&self) -> S::View {
        self.view.borrow().clone()
    }

    /// Every published view from now on.
    pub fn subscribe(&self) -> watch::Receiver<S::View> {
        self.view.clone()
    }

    /// Stops applying; waits in progress end with `Stopped`.
    pub fn stop(&self) {
        self.applier.abort();
    }
}

/// What the applier task and the log's handle share.
struct Shared<S: AppliedState> {
    name: &'static str,
    inner: Mutex<Inner<S>>,
}

struct Inner<S: AppliedState> {
    replay: Replay<S>,
    outcomes: BTreeMap<KafkaOffset, S::Outcome>,
}

impl<S: AppliedState> Inner<S> {
    fn keep(&mut self, offset: KafkaOffset, outcome: S::Outcome) {
        self.outcomes.insert(offset, outcome);
        while self.outcomes.len() > OUTCOMES_KEPT {
            self.outcomes.pop_first();
        }
    }
}

impl<S: AppliedState> Shared<S> {
    fn lock(&self) -> MutexGuard<'_, Inner<S>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Wall-clock milliseconds: the timestamp of appended records.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
