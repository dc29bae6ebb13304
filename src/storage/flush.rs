//! Group commit: one thread makes appended entries durable for many appends at a time and
//! then tells each waiter. The async runtime never waits on a disk sync.
//! `log.rs` queues work here in log order.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::segment::Segment;

/// Runs once everything queued before it is durable, with the outcome.
pub(super) type Done = Box<dyn FnOnce(std::io::Result<()>) + Send>;

pub(super) enum Job {
    /// Make the written part of this segment durable.
    Sync(Arc<Segment>),
    /// The writer moved on from this segment: shrink it to its length and make it durable.
    Seal(Arc<Segment>),
    Notify(Done),
}

pub(super) struct Flusher {
    jobs: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    /// Set forever by the first failed sync.
    failure: Arc<Mutex<Option<String>>>,
}

impl Flusher {
    pub fn start(name: String) -> std::io::Result<Flusher> {
        let (tx, rx) = channel();
        let failure = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&failure);
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || run(rx, shared))?;
        Ok(Flusher {
            jobs: Some(tx),
            thread: Some(thread),
            failure,
        })
    }

    /// Why the log stopped, if a sync ever failed.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn submit(&self, job: Job) {
        let sent = self.jobs.as_ref().map(|tx| tx.send(job));
        if let Some(Err(std::sync::mpsc::SendError(Job::Notify(done)))) = sent {
            done(Err(std::io::Error::other("flusher stopped")));
        }
    }

    /// Blocks until every job queued so far has run; returns the sync outcome.
    pub fn drain(&self) -> std::io::Result<()> {
        let (tx, rx) = channel();
        self.submit(Job::Notify(Box::new(move |r| {
            let _ = tx.send(r);
        })));
        rx.recv()
            .unwrap_or_else(|_| Err(std::io::Error::other("flusher stopped")))
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(rx: Receiver<Job>, failure: Arc<Mutex<Option<String>>>) {
    // After a failed sync the state of the page cache is unknown: never retry, fail everything.
    let mut failed: Option<String> = None;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());

        let mut to_sync: Vec<Arc<Segment>> = Vec::new();
        let mut waiters: Vec<Done> = Vec::new();
        for job in batch {
            match job {
                Job::Sync(seg) => {
                    if !to_sync.iter().any(|s| Arc::ptr_eq(s, &seg)) {
                        to_sync.push(seg);
                    }
                }
                Job::Seal(seg) => {
                    // Entries of the sealed segment come before anything queued after it.
                    to_sync.retain(|s| !Arc::ptr_eq(s, &seg));
                    if failed.is_none()
                        && let Err(e) = seg.seal()
                    {
                        failed = Some(format!("sealing {}: {e}", seg.paths.log.display()));
                    }
                }
                Job::Notify(done) => waiters.push(done),
            }
        }
        if failed.is_none() {
            for seg in &to_sync {
                if let Err(e) = seg.sync_data() {
                    tracing::error!(path = %seg.paths.log.display(), error = %e, "fdatasync failed; log stops");
                    failed = Some(format!("syncing {}: {e}", seg.paths.log.display()));
                    break;
                }
            }
        }
        if failed.is_some() {
            failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone_from(&failed);
        }
        for done in waiters {
            done(match &failed {
                None => Ok(()),
                Some(msg) => Err(std::io::Error::other(msg.clone())),
            });
        }
    }
}
