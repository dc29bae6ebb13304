//! The partition's state machine: applying a committed record entry advances the high watermark
//! and answers the produce call with the batch's base offset. It never copies record data.
//! `snapshot.rs` keeps its snapshots; `log_store.rs` assigned the offsets it checks here.
//!
//! Offsets are counted in log order from the snapshot's `next_offset` (each record entry takes
//! `offset_count`), and every record entry read back from the log must carry exactly the base
//! offset counted: the log and the state machine agree, or the node stops.

use std::io;
use std::sync::Arc;

use futures::{Stream, TryStreamExt};
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend};
use tokio::sync::watch;

use super::snapshot::{Snapshot, SnapshotBuilder, SnapshotData, SnapshotStore};
use super::types::{Applied, Entry, LogId, Request, SnapshotMeta, StoredMembership, TypeConfig};
use crate::storage::LogReader;

pub struct StateMachine {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    /// The offset the next record entry takes; also the high watermark once published.
    next_offset: i64,
    high_watermark: watch::Sender<i64>,
    log: LogReader,
    snapshots: Arc<SnapshotStore>,
}

impl StateMachine {
    /// Starts from the stored snapshot, if any; openraft re-applies the log after it.
    pub(super) fn new(log: LogReader, snapshots: Arc<SnapshotStore>) -> StateMachine {
        let (last_applied, membership, next_offset) = match snapshots.current() {
            Some(s) => (
                s.meta.last_log_id,
                s.meta.last_membership,
                s.snapshot.next_offset,
            ),
            None => (None, StoredMembership::default(), 0),
        };
        let (high_watermark, _) = watch::channel(next_offset);
        StateMachine {
            last_applied,
            membership,
            next_offset,
            high_watermark,
            log,
            snapshots,
        }
    }

    /// The end offset of the last applied record entry: what Fetch may serve. Wait on
    /// `changed()` to long-poll.
    pub fn high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    fn apply_one(&mut self, entry: &Entry) -> Applied {
        let base_offset = match &entry.payload {
            EntryPayload::Blank => None,
            EntryPayload::Membership(membership) => {
                self.membership = StoredMembership::new(Some(entry.log_id), membership.clone());
                None
            }
            EntryPayload::Normal(Request::Records(batch)) => {
                let base = self.next_offset;
                assert_eq!(
                    batch.base_offset(),
                    base,
                    "log entry {} carries base offset {} but {} follows the applied entries",
                    entry.log_id,
                    batch.base_offset(),
                    base
                );
                self.next_offset = base + i64::from(batch.offset_count());
                self.high_watermark.send_replace(self.next_offset);
                Some(base)
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
            high_watermark: self.next_offset,
        }
    }

    fn snapshot_of_state(&self) -> Snapshot {
        Snapshot {
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
            },
            snapshot: SnapshotData {
                next_offset: self.next_offset,
                log_start_offset: self.log.log_start_offset(),
            },
        }
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.last_applied, self.membership.clone()))
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
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder {
            snapshot: self.snapshot_of_state(),
            store: Arc::clone(&self.snapshots),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        data: SnapshotData,
    ) -> io::Result<()> {
        if data.next_offset < 0 || data.log_start_offset > data.next_offset {
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
        self.membership = snapshot.meta.last_membership;
        self.next_offset = snapshot.snapshot.next_offset;
        self.high_watermark.send_replace(self.next_offset);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        Ok(self.snapshots.current())
    }
}
