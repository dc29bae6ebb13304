//! Group commit on a fixed pool of threads: each thread makes appended entries durable for many
//! appends of many logs at a time and then tells each waiter. Every log is pinned to one thread,
//! so its jobs run in the order it queued them; the thread count does not grow with the number
//! of logs. The async runtime never waits on a disk sync. `log.rs` queues work here in log order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock};

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

/// Flusher threads when nothing configured them: four per core, at most 64. A flusher spends
/// its time waiting on the disk, not on a core, and logs pinned to one thread wait for each
/// other's syncs: a producer with one request in flight per partition (librdkafka's idempotent
/// producer) goes as fast as its partition's sync, which another log's sync on the same thread
/// doubles.
fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 4)
        .min(64)
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Sets how many flusher threads this process runs (`log.flush.threads`; 0 is four per core).
/// Only the first call before any log opens takes effect; later ones return `false`.
pub fn configure_flush_threads(threads: usize) -> bool {
    let mut set = false;
    POOL.get_or_init(|| {
        set = true;
        Pool::new(match threads {
            0 => default_threads(),
            n => n,
        })
    });
    set
}

/// The threads of the pool; each runs the jobs of the logs pinned to it.
struct Pool {
    threads: Vec<Mutex<Option<Sender<Queued>>>>,
    next: AtomicUsize,
}

/// A job and the log it belongs to.
struct Queued {
    log: Arc<LogState>,
    job: Job,
}

/// What the pool keeps of one log: why it stopped, set forever by its first failed sync.
#[derive(Default)]
struct LogState {
    failure: Mutex<Option<String>>,
}

impl LogState {
    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fail(&self, reason: String) {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert(reason);
    }
}

impl Pool {
    fn new(threads: usize) -> Pool {
        Pool {
            threads: (0..threads).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// The sender of the next thread in turn, started on first use (a thread that could not
    /// be spawned is tried again by the next log).
    fn pin(&self) -> std::io::Result<Sender<Queued>> {
        let at = self.next.fetch_add(1, Ordering::Relaxed) % self.threads.len();
        let mut slot = self.threads[at].lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = slot.as_ref() {
            return Ok(tx.clone());
        }
        let (tx, rx) = channel();
        std::thread::Builder::new()
            .name(format!("flusher-{at}"))
            .spawn(move || run(rx))?;
        *slot = Some(tx.clone());
        Ok(tx)
    }
}

/// One log's handle on its flusher thread.
pub(super) struct Flusher {
    jobs: Sender<Queued>,
    state: Arc<LogState>,
}

impl Flusher {
    pub fn start() -> std::io::Result<Flusher> {
        let pool = POOL.get_or_init(|| Pool::new(default_threads()));
        Ok(Flusher {
            jobs: pool.pin()?,
            state: Arc::new(LogState::default()),
        })
    }

    /// Why the log stopped, if a sync ever failed.
    pub fn failure(&self) -> Option<String> {
        self.state.failure()
    }

    pub fn submit(&self, job: Job) {
        let queued = Queued {
            log: Arc::clone(&self.state),
            job,
        };
        if let Err(std::sync::mpsc::SendError(Queued {
            job: Job::Notify(done),
            ..
        })) = self.jobs.send(queued)
        {
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
    /// A closed log's seals and syncs finish before it is gone, as its files may be reopened.
    fn drop(&mut self) {
        // A waiter that let go of the last handle runs on the flusher itself: it cannot wait.
        let on_a_flusher = std::thread::current()
            .name()
            .is_some_and(|n| n.starts_with("flusher-"));
        if !on_a_flusher {
            let _ = self.drain();
        }
    }
}

fn run(rx: Receiver<Queued>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        run_batch(batch);
    }
}

/// Runs a batch of jobs of several logs: seals in order, one sync per segment for all the
/// appends queued, then the waiters. After a failed sync the state of the page cache is
/// unknown: that log never retries and fails everything after; other logs go on.
fn run_batch(batch: Vec<Queued>) {
    let mut to_sync: Vec<(Arc<LogState>, Arc<Segment>)> = Vec::new();
    let mut waiters: Vec<(Arc<LogState>, Done)> = Vec::new();
    for Queued { log, job } in batch {
        match job {
            Job::Sync(seg) => {
                if !to_sync.iter().any(|(_, s)| Arc::ptr_eq(s, &seg)) {
                    to_sync.push((log, seg));
                }
            }
            Job::Seal(seg) => {
                // Entries of the sealed segment come before anything queued after it.
                to_sync.retain(|(_, s)| !Arc::ptr_eq(s, &seg));
                if log.failure().is_none()
                    && let Err(e) = seg.seal()
                {
                    log.fail(format!("sealing {}: {e}", seg.paths.log.display()));
                }
            }
            Job::Notify(done) => waiters.push((log, done)),
        }
    }
    for (log, seg) in &to_sync {
        if log.failure().is_some() {
            continue;
        }
        if let Err(e) = seg.sync() {
            tracing::error!(path = %seg.paths.log.display(), error = %e, "fdatasync failed; log stops");
            log.fail(format!("syncing {}: {e}", seg.paths.log.display()));
        }
    }
    for (log, done) in waiters {
        done(match log.failure() {
            None => Ok(()),
            Some(msg) => Err(std::io::Error::other(msg)),
        });
    }
}
