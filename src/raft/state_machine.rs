//! The partition's state machine: applying a committed record entry advances the high watermark
//! and answers the produce call with the batch's base offset. It never copies record data.
//! `snapshot.rs` keeps its snapshots, `checkpoint.rs` where a restart resumes applying;
//! `log_store.rs` assigned the offsets it checks here.
//!
//! Offsets are counted in log order from the snapshot's `next_offset` (each record entry takes
//! `offset_count`), and every record entry read back from the log must carry exactly the base
//! offset counted: the log and the state machine agree, or the node stops.
//!
//! # Snapshots stand at the retention boundary
//!
//! openraft sends the current snapshot to a follower whose next entries the leader has purged,
//! and then streams the entries after the snapshot's last log id. So a snapshot must end
//! exactly where the log is purged: one ending later would make the follower skip batches the
//! leader still retains, and start its log at another offset than the leader's. Hence:
//! - openraft's size-based policy is off (`SnapshotPolicy::Never`, see `mod.rs`). The only
//!   snapshots built are those retention asks for: [`StateMachine::prepare_snapshot`] fixes the
//!   boundary (the last entry of the whole segments retention lets go, already applied), then
//!   `trigger().snapshot()` builds it, then `purge_log(boundary)` (`group.rs`).
//! - Its membership is the one in effect at the boundary (the state machine keeps the membership
//!   entries applied since the current snapshot), its `next_offset` is the end offset of the
//!   boundary entry read from the log, and that is also the log start offset it implies.
//! - openraft accepts a built snapshot below last applied. It only requires the snapshot to be
//!   newer than the current one (`SnapshotHandler::update_snapshot`); purges are clamped to the
//!   snapshot (`Engine::trigger_purge_log`) and wait until it is stored (`PurgeLog` waits on
//!   `Condition::Snapshot`); the leader sends it only when every index a follower could still
//!   match lies at or below the purge point (`ProgressEntry::next_send`); a follower installs
//!   it only above its committed index and then purges its log up to it
//!   (`FollowingHandler::install_full_snapshot`). So after an install a follower's log starts
//!   at the leader's log start offset and receives every retained entry after it.
//! - A build without a prepared boundary is refused (`try_create_snapshot_builder(false)`
//!   returns `None`), except a forced one: openraft forces a build only when it finds a purged
//!   log without a snapshot (a lost `raft_snapshot`), and its conformance suite does; those
//!   snapshot the state at last applied, which is openraft's contract for them.
//! - A restart resumes from the applied checkpoint, not from the snapshot, which may lie far
//!   behind (`checkpoint.rs`).

use std::io;
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use tokio::sync::watch;

use super::applied_view::{DeletedBelow, SharedProducers};
use super::checkpoint::{Checkpoint, CheckpointFile};
use super::offsets::OffsetCounter;
use super::snapshot::{Snapshot, SnapshotBuilder, SnapshotData, SnapshotStore};
use super::types::{Applied, Entry, LogId, Request, SnapshotMeta, StoredMembership, TypeConfig};
use crate::producer::{ProducerBatch, ProducerTable};
use crate::storage::LogReader;
use crate::types::{KafkaOffset, LogIndex};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub struct StateMachine {
    last_applied: Option<LogId>,
    /// The membership in effect at the current snapshot (or the default one without a
    /// snapshot), then every membership entry applied after it, in log order. Never empty; the
    /// last one is in effect now.
    memberships: Vec<StoredMembership>,
    /// The offset the next record entry takes; also the high watermark once published.
    offsets: OffsetCounter,
    high_watermark: watch::Sender<KafkaOffset>,
    /// Each idempotent producer's epoch and last batches, as of last applied.
    producers: SharedProducers,
    /// The log start offset DeleteRecords moved to.
    deleted_below: DeletedBelow,
    log: LogReader,
    snapshots: Arc<SnapshotStore>,
    /// The snapshot at the retention boundary, built at openraft's next build request.
    prepared: Option<Snapshot>,
    checkpoint: CheckpointFile,
}

impl StateMachine {
    /// Starts from the applied checkpoint if the log agrees with it, else from the stored
    /// snapshot, if any; openraft re-applies the committed log after that.
    pub(super) fn new(
        log: LogReader,
        snapshots: Arc<SnapshotStore>,
        checkpoint: CheckpointFile,
    ) -> StateMachine {
        let snapshot = snapshots.current();
        let snapshot_last = snapshot.as_ref().and_then(|s| s.meta.last_log_id);
        let (mut last_applied, mut memberships, mut next_offset, mut producers, mut deleted_below) =
            match snapshot {
                Some(s) => (
                    s.meta.last_log_id,
                    vec![s.meta.last_membership],
                    s.snapshot.next_offset,
                    s.snapshot.producers,
                    s.snapshot.deleted_below,
                ),
                None => (
                    None,
                    vec![StoredMembership::default()],
                    KafkaOffset(0),
                    ProducerTable::default(),
                    KafkaOffset(0),
                ),
            };
        if let Some(c) = checkpoint
            .load(&log)
            .filter(|c| Some(c.last_applied) > snapshot_last)
        {
            last_applied = Some(c.last_applied);
            next_offset = c.next_offset;
            producers = c.producers;
            deleted_below = deleted_below.max(c.deleted_below);
            // The checkpoint's list starts at a snapshot no newer than the stored one.
            memberships.extend(
                c.memberships
                    .into_iter()
                    .filter(|m| *m.log_id() > snapshot_last),
            );
        }
        let (high_watermark, _) = watch::channel(next_offset);
        StateMachine {
            last_applied,
            memberships,
            offsets: OffsetCounter::starting_at(next_offset),
            high_watermark,
            producers: SharedProducers::new(producers),
            deleted_below: DeletedBelow::new(deleted_below),
            log,
            snapshots,
            prepared: None,
            checkpoint,
        }
    }

    /// The end offset of the last applied record entry: what Fetch may serve. Wait on
    /// `changed()` to long-poll.
    pub fn high_watermark(&self) -> watch::Receiver<KafkaOffset> {
        self.high_watermark.subscribe()
    }

    /// The idempotent producers' table, as of last applied.
    pub fn producers(&self) -> SharedProducers {
        self.producers.clone()
    }

    /// The log start offset DeleteRecords set, as of last applied.
    pub fn deleted_below(&self) -> DeletedBelow {
        self.deleted_below.clone()
    }

    /// Prepares the snapshot at `boundary`, an applied entry still in the log (the last entry
    /// of the segments retention lets go): openraft builds it at its next build request
    /// (`raft.trigger().snapshot()`). Returns `false` when the current snapshot already covers
    /// `boundary`, so there is nothing to build.
    pub fn prepare_snapshot(&mut self, boundary: LogId) -> io::Result<bool> {
        let current = self.snapshots.current().and_then(|s| s.meta.last_log_id);
        if current.is_some_and(|c| c.index >= boundary.index) {
            return Ok(false);
        }
        self.forget_memberships_before(current);
        let refuse = |reason: String| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("no snapshot at {boundary}: {reason}"),
            )
        };
        if self.last_applied.is_none_or(|a| a.index < boundary.index) {
            return Err(refuse(format!("applied only to {:?}", self.last_applied)));
        }
        let entry = self
            .log
            .entry_at(LogIndex(boundary.index))
            .map_err(io::Error::from)?
            .ok_or_else(|| refuse("the entry is not in the log".into()))?;
        if entry.term.0 != boundary.leader_id.term {
            return Err(refuse(format!("the log has term {} there", entry.term)));
        }
        let membership = self
            .membership_at(boundary.index)
            .ok_or_else(|| refuse("its membership is no longer known".into()))?;
        self.prepared = Some(Snapshot {
            meta: SnapshotMeta {
                last_log_id: Some(boundary),
                last_membership: membership,
            },
            snapshot: SnapshotData {
                next_offset: entry.end_offset(),
                log_start_offset: entry.end_offset(),
                // As of last applied, ahead of the boundary: the entries between them are
                // counted already, and recording them again changes nothing.
                producers: self.producers.lock().clone(),
                deleted_below: self.deleted_below.get(),
            },
        });
        Ok(true)
    }

    /// The membership in effect after entry `index`, if still known.
    fn membership_at(&self, index: u64) -> Option<StoredMembership> {
        let first = self.memberships.first()?;
        if first.log_id().is_some_and(|id| id.index > index) {
            return None;
        }
        self.memberships
            .iter()
            .rev()
            .find(|m| m.log_id().is_none_or(|id| id.index <= index))
            .cloned()
    }

    /// Drops the membership entries older than the one in effect at `snapshot`: no snapshot
    /// can be built there any more.
    fn forget_memberships_before(&mut self, snapshot: Option<LogId>) {
        let Some(at) = snapshot else { return };
        let in_effect = self
            .memberships
            .iter()
            .rposition(|m| m.log_id().is_none_or(|id| id.index <= at.index));
        if let Some(i) = in_effect {
            self.memberships.drain(..i);
        }
    }

    fn membership(&self) -> &StoredMembership {
        self.memberships
            .last()
            .expect("the membership list is never empty")
    }

    fn apply_one(&mut self, entry: &Entry) -> Applied {
        let base_offset = match &entry.payload {
            EntryPayload::Blank => None,
            EntryPayload::Membership(membership) => {
                self.memberships.push(StoredMembership::new(
                    Some(entry.log_id),
                    membership.clone(),
                ));
                None
            }
            EntryPayload::Normal(Request::Records(batch)) => {
                let base = self.offsets.assign(batch.offset_count());
                assert_eq!(
                    batch.base_offset(),
                    base,
                    "log entry {} carries base offset {} but {} follows the applied entries",
                    entry.log_id,
                    batch.base_offset(),
                    base
                );
                if let Some(producer) = ProducerBatch::of(batch) {
                    let last = base.plus(batch.offset_count() - 1);
                    self.producers
                        .lock()
                        .record(&producer, base, last, now_ms());
                }
                self.high_watermark.send_replace(self.offsets.next());
                Some(base)
            }
            EntryPayload::Normal(Request::MoveLogStart(offset)) => {
                // Never past the records applied so far: the leader checked against its high
                // watermark, and every replica applies the same prefix before this entry.
                self.deleted_below
                    .raise_to((*offset).min(self.offsets.next()));
                None
            }
        };
        assert!(
            self.last_applied
                .is_none_or(|last| last.index < entry.log_id.index),
            "entry {} applied after {:?}",
            entry.log_id,
            self.last_applied
        );
        self.last_applied = Some(entry.log_id);
        Applied {
            base_offset,
            high_watermark: self.offsets.next(),
        }
    }

    /// The state at last applied, for forced builds only (see the module docs).
    fn snapshot_of_state(&self) -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership().clone(),
            },
            snapshot: SnapshotData {
                next_offset: self.offsets.next(),
                log_start_offset: self.log.log_start_offset(),
                producers: self.producers.lock().clone(),
                deleted_below: self.deleted_below.get(),
            },
        }
    }

    /// The prepared snapshot, if it is newer than the current one.
    fn take_prepared(&mut self) -> Option<Snapshot> {
        let current = self.snapshots.current().and_then(|s| s.meta.last_log_id);
        self.prepared
            .take()
            .filter(|p| p.meta.last_log_id > current)
    }

    fn builder(&self, snapshot: Snapshot) -> SnapshotBuilder {
        SnapshotBuilder {
            snapshot,
            store: Arc::clone(&self.snapshots),
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.last_applied, self.membership().clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> io::Result<()>
    where
        S: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let applied = self.apply_one(&entry);
            if let Some(responder) = responder {
                responder.send(applied);
            }
        }
        if let Some(last_applied) = self.last_applied
            && self.checkpoint.due()
        {
            let current = self.snapshots.current().and_then(|s| s.meta.last_log_id);
            self.forget_memberships_before(current);
            let checkpoint = Checkpoint {
                last_applied,
                next_offset: self.offsets.next(),
                memberships: self.memberships.clone(),
                producers: self.producers.lock().clone(),
                deleted_below: self.deleted_below.get(),
            };
            self.checkpoint.store(&checkpoint).await?;
        }
        Ok(())
    }

    async fn try_create_snapshot_builder(&mut self, force: bool) -> Option<SnapshotBuilder> {
        match self.take_prepared() {
            Some(prepared) => Some(self.builder(prepared)),
            None => force.then(|| self.builder(self.snapshot_of_state())),
        }
    }

    /// The forced form of `try_create_snapshot_builder`.
    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        let snapshot = self
            .take_prepared()
            .unwrap_or_else(|| self.snapshot_of_state());
        self.builder(snapshot)
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        data: SnapshotData,
    ) -> io::Result<()> {
        if data.next_offset < KafkaOffset(0) || data.log_start_offset > data.next_offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("snapshot {meta} has offsets out of order: {data:?}"),
            ));
        }
        let snapshot = Snapshot {
            meta: meta.clone(),
            snapshot: data,
        };
        let snapshot = self.snapshots.save_async(snapshot).await?;
        self.last_applied = snapshot.meta.last_log_id;
        self.memberships = vec![snapshot.meta.last_membership];
        self.offsets = OffsetCounter::starting_at(snapshot.snapshot.next_offset);
        self.producers.replace(snapshot.snapshot.producers.clone());
        self.deleted_below.set(snapshot.snapshot.deleted_below);
        self.prepared = None;
        self.high_watermark.send_replace(self.offsets.next());
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        Ok(self.snapshots.current())
    }
}
