//! The task that tails a replica's committed records and applies them in log order, on every
//! replica, leader or not. `replay.rs` holds what applying does; this file only reads, decodes,
//! reloads a replaced log and publishes progress.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{AppliedState, Replay, Shared};
use crate::partition::{self, Replica};
use crate::record::decode_internal;
use crate::types::KafkaOffset;

/// Bytes read per step.
const APPLY_READ_BYTES: usize = 1 << 20;
/// How long an idle applier sleeps before looking at its log again unasked.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Applies `replica`'s committed records into `shared` until the task is aborted, or stops
/// (loudly) at bytes that are not a record batch at all.
pub(super) async fn run<S: AppliedState>(
    replica: Arc<Replica>,
    shared: Arc<Shared<S>>,
    mut progress: Progress<S>,
) {
    let name = shared.name;
    let (topic, partition) = (replica.topic.as_str(), replica.partition);
    loop {
        let log_start = replica.log_start_offset();
        let next = {
            let mut inner = shared.lock();
            if inner.replay.replaced_by(log_start) {
                tracing::info!(
                    log = name,
                    topic,
                    partition,
                    %log_start,
                    "log replaced from a snapshot; reloading"
                );
                inner.replay = Replay::starting_at(log_start);
                drop(inner);
                progress.forget();
                continue;
            }
            inner.replay.next()
        };
        let read = match replica.read_committed(next, APPLY_READ_BYTES) {
            Ok(read) => read,
            // The log start moved past `next` since it was checked: checked again above.
            Err(partition::Error::OffsetOutOfRange {
                log_start_offset, ..
            }) if next < log_start_offset => continue,
            Err(e) => {
                tracing::error!(log = name, topic, partition, offset = %next, error = %e, "log unreadable; applier stops");
                return;
            }
        };
        if read.batches.is_empty() {
            if progress.published != Some(next) {
                progress.publish(&shared);
            }
            replica
                .wait_for_data(next, Instant::now() + IDLE_WAIT)
                .await;
            continue;
        }
        {
            let mut inner = shared.lock();
            for batch in &read.batches {
                let record = match decode_internal::<S::Command>(batch) {
                    Ok(record) => record,
                    Err(e) => {
                        let offset = inner.replay.next();
                        tracing::error!(log = name, topic, partition, %offset, error = %e, "log holds a non-batch; applier stops");
                        return;
                    }
                };
                let offset = record.offset;
                match record.command {
                    Ok(command) => match inner.replay.apply(offset, batch.len() as u64, command) {
                        Some(outcome) => inner.keep(offset, outcome),
                        // Read again from where the state now stands.
                        None => break,
                    },
                    // Written by this code base only; skipped identically on every replica.
                    Err(e) => {
                        tracing::error!(log = name, topic, partition, %offset, error = %e, "skipping unreadable record");
                        inner.replay.skip(offset);
                    }
                }
            }
        }
        progress.publish(&shared);
    }
}

/// How far the state is applied and its view, as published to waiters and readers.
pub(super) struct Progress<S: AppliedState> {
    applied: watch::Sender<KafkaOffset>,
    view: watch::Sender<S::View>,
    /// The offset last published as applied: an idle pass publishes only what is new.
    published: Option<KafkaOffset>,
}

impl<S: AppliedState> Progress<S> {
    pub(super) fn new(applied: watch::Sender<KafkaOffset>, view: watch::Sender<S::View>) -> Self {
        Progress {
            applied,
            view,
            published: None,
        }
    }

    /// The state is being loaded again: nothing counts as applied until it is, so no read
    /// passes its wait on the old mark and sees a half-loaded state.
    fn forget(&mut self) {
        self.applied.send_replace(KafkaOffset(i64::MIN));
        self.published = None;
    }

    /// Publishes the view, then how far the state is applied (so a waiter woken by the latter
    /// finds the view as new); nothing while the state is not loaded.
    fn publish(&mut self, shared: &Shared<S>) {
        let (next, view) = {
            let inner = shared.lock();
            let replay = &inner.replay;
            if !replay.state().is_loaded() {
                return;
            }
            (replay.next(), replay.state().view(replay.next()))
        };
        self.view.send_replace(view);
        self.applied.send_replace(next);
        self.published = Some(next);
    }
}
