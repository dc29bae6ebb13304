//! openraft's `RaftLogStorage` over a partition's segment log: every entry is written once, into
//! the segments, and acknowledged to openraft only once the group-commit flusher made it durable.
//! `log_reader.rs` serves reads; `state_machine.rs` owns the high watermark and snapshots.
//!
//! Files beside the segments (all `StateFile`s, replaced atomically):
//! - `raft_vote`: the vote, stored durably before `save_vote` returns. Damage refuses the open:
//!   a node must never forget its vote.
//! - `raft_committed`: the last committed log id, stored without a sync; it is a hint that lets
//!   a restart re-apply up to it, damage makes it absent, and on open it is clamped to the
//!   log's last entry (a power cut may keep it and lose the unsynced entries it points at).

use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftTypeConfig};

use super::Error;
use super::codec;
use super::log_reader::LogStoreReader;
use super::offsets::{OffsetCounter, SnapshotPoint};
use super::types::{LogId, TypeConfig, Vote};
use crate::storage::{
    self, AppendEntry, Log, LogConfig, PreparedRewrite, SegmentRewriter, StateFile,
};
use crate::types::LogIndex;

pub const VOTE_FILE: &str = "raft_vote";
pub const COMMITTED_FILE: &str = "raft_committed";

/// The Raft log of one partition. Mutations run on the blocking pool, one at a time (openraft
/// awaits each before issuing the next), so the async runtime never waits on a sync.
pub struct LogStore {
    log: Arc<Mutex<Log>>,
    reader: LogStoreReader,
    vote_file: Arc<StateFile>,
    committed_file: Arc<StateFile>,
    committed: Option<LogId>,
    /// When the committed hint last went to disk: it is written at most once per
    /// [`COMMITTED_HINT_INTERVAL`], not on every commit (each write is a create and a rename).
    committed_stored_at: Option<std::time::Instant>,
    snapshot_point: SnapshotPoint,
    /// Set when the node stops: an append waiting for disk space gives up.
    stopping: Arc<AtomicBool>,
}

/// How often an append that found the disk full looks again.
const SPACE_RETRY: Duration = Duration::from_millis(250);

/// How often the committed hint may be rewritten. A stale hint only means a restart re-applies
/// a little more of the log.
const COMMITTED_HINT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl LogStore {
    /// Loads the vote (refusing damage before any file of the log is touched), opens the log
    /// in `dir`, and loads the committed hint.
    pub(super) fn open(
        dir: &Path,
        config: LogConfig,
        snapshot_point: SnapshotPoint,
    ) -> Result<LogStore, Error> {
        let vote_file = StateFile::new(dir.join(VOTE_FILE));
        let vote = load_vote(&vote_file)?;
        let log = Log::open(dir, config)?;
        let committed_file = StateFile::new(dir.join(COMMITTED_FILE));
        // The hint is stored without a sync: a power cut can keep it and lose entries it
        // points at, so it never reaches past what the log holds.
        let hint = load_committed(&committed_file).map(|id| codec::entry_id(&id));
        let committed = log.clamp_to_log(hint)?.map(codec::log_id);
        let reader = LogStoreReader {
            log: log.reader(),
            vote: Arc::new(Mutex::new(vote)),
        };
        Ok(LogStore {
            log: Arc::new(Mutex::new(log)),
            reader,
            vote_file: Arc::new(vote_file),
            committed_file: Arc::new(committed_file),
            committed,
            committed_stored_at: None,
            snapshot_point,
            stopping: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Set it to make an append that waits for disk space give up (the node is stopping).
    pub fn stop_signal(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stopping)
    }

    /// The log's own upkeep (time rolls, compaction), done beside openraft's writes.
    pub fn maintenance(&self) -> LogMaintenance {
        LogMaintenance {
            log: Arc::clone(&self.log),
        }
    }

    /// A read handle; also what Fetch reads records through.
    pub fn reader(&self) -> LogStoreReader {
        self.reader.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    /// Runs `op` on the log on the blocking pool and waits for it.
    async fn with_log<T, F>(&self, op: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Log) -> io::Result<T> + Send + 'static,
    {
        let log = Arc::clone(&self.log);
        blocking(move || op(&mut lock(&log))).await
    }
}

/// Upkeep of a partition's log that openraft knows nothing of: it changes how entries are
/// stored, never which entries there are. Each call takes the writer's lock briefly and blocks
/// on disk: call it off the async runtime.
#[derive(Clone)]
pub struct LogMaintenance {
    log: Arc<Mutex<Log>>,
}

impl LogMaintenance {
    /// Seals the active segment once it is `max_age_ms` old (`segment.ms`).
    pub fn roll_if_older(&self, max_age_ms: i64, now_ms: i64) -> storage::Result<bool> {
        lock(&self.log).roll_if_older(max_age_ms, now_ms)
    }

    pub fn rewriter(&self) -> SegmentRewriter {
        lock(&self.log).rewriter()
    }

    /// Puts a compacted copy of a segment in its place; `false` if the segment went meanwhile.
    pub fn install(&self, rewrite: PreparedRewrite) -> storage::Result<bool> {
        lock(&self.log).install_rewrite(rewrite)
    }
}

/// What became of an append.
enum Appended {
    /// Everything is in; the flush that acknowledges it is queued.
    Done,
    /// The disk is full: the entries before `rest` are in, `rest` still waits to go in.
    NoSpace {
        rest: Vec<AppendEntry>,
        callback: IOFlushed<TypeConfig>,
        path: std::path::PathBuf,
    },
}

/// Appends what of `entries` the log does not hold yet, then queues the flush that calls
/// `callback`; on a full disk hands back the rest (and the callback) to try again later.
fn try_append(
    log: &mut Log,
    mut entries: Vec<AppendEntry>,
    callback: IOFlushed<TypeConfig>,
) -> io::Result<Appended> {
    let done = log.last_entry().map(|e| e.index);
    entries.retain(|e| done.is_none_or(|d| e.index > d));
    match log.append(entries.iter().cloned()) {
        Ok(()) => {
            log.flush(move |result| callback.io_completed(result));
            Ok(Appended::Done)
        }
        Err(crate::storage::Error::NoSpace { path, .. }) => {
            let done = log.last_entry().map(|e| e.index);
            entries.retain(|e| done.is_none_or(|d| e.index > d));
            Ok(Appended::NoSpace {
                rest: entries,
                callback,
                path,
            })
        }
        Err(e) => Err(e.into()),
    }
}

fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    // A panic while holding the lock left nothing half-done that the log itself does not
    // track: it refuses further writes after a failed one.
    log.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) async fn blocking<T, F>(op: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(op)
        .await
        .map_err(|e| io::Error::other(format!("storage task failed: {e}")))?
}

fn load_vote(file: &StateFile) -> Result<Option<Vote>, Error> {
    let refuse = |reason: String| Error::BadVote {
        path: file.path().to_path_buf(),
        reason,
    };
    let Some(bytes) = file.load().map_err(|e| refuse(e.to_string()))? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| refuse(format!("does not decode: {e}")))
}

pub(super) fn load_committed(file: &StateFile) -> Option<LogId> {
    let loaded = file.load().map_err(|e| e.to_string()).and_then(|bytes| {
        bytes
            .map(|b| serde_json::from_slice::<Option<LogId>>(&b).map_err(|e| e.to_string()))
            .transpose()
    });
    match loaded {
        Ok(committed) => committed.flatten(),
        Err(reason) => {
            tracing::warn!(path = %file.path().display(), %reason, "ignoring an unreadable committed hint");
            None
        }
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStoreReader;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let log = self.lock();
        Ok(LogState {
            last_purged_log_id: log.last_purged().map(codec::log_id),
            last_log_id: log.last_entry().map(codec::log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        let bytes = serde_json::to_vec(vote).map_err(io::Error::other)?;
        let file = Arc::clone(&self.vote_file);
        blocking(move || Ok(file.store(&bytes)?)).await?;
        *self.reader.vote.lock().unwrap_or_else(|e| e.into_inner()) = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        if committed == self.committed {
            return Ok(());
        }
        self.committed = committed;
        let due = self
            .committed_stored_at
            .is_none_or(|at| at.elapsed() >= COMMITTED_HINT_INTERVAL);
        if !due {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&committed).map_err(io::Error::other)?;
        let file = Arc::clone(&self.committed_file);
        blocking(move || Ok(file.store_unsynced(&bytes)?)).await?;
        self.committed_stored_at = Some(std::time::Instant::now());
        Ok(())
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = <TypeConfig as RaftTypeConfig>::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<_> = entries.into_iter().collect();
        let mut outcome = self
            .with_log(move |log| {
                let mut offsets = OffsetCounter::starting_at(log.next_offset());
                let framed = entries
                    .into_iter()
                    .map(|entry| codec::to_storage(entry, &mut offsets))
                    .collect::<io::Result<Vec<_>>>()?;
                try_append(log, framed, callback)
            })
            .await?;
        // On a full disk the rest waits for space, without holding a thread: openraft treats a
        // failed append as fatal for the group, so the replica stalls instead (a leader stops
        // answering and is replaced) and goes on where it stopped once space is back.
        let mut waited_on = None;
        while let Appended::NoSpace {
            rest,
            callback,
            path,
        } = outcome
        {
            if waited_on.is_none() {
                tracing::warn!(path = %path.display(), "disk full: appends wait for space");
                waited_on = Some(path);
            }
            if self.stopping.load(Ordering::Acquire) {
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    "stopped while waiting for disk space",
                ));
            }
            tokio::time::sleep(SPACE_RETRY).await;
            outcome = self
                .with_log(move |log| try_append(log, rest, callback))
                .await?;
        }
        if let Some(path) = waited_on {
            tracing::info!(path = %path.display(), "disk space back: appends go on");
        }
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let last_kept = last_log_id.map(|id| LogIndex(id.index));
        self.with_log(move |log| Ok(log.truncate_after(last_kept)?))
            .await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let upto = codec::entry_id(&log_id);
        // A purge that empties the log happens on a follower that installed a snapshot: the
        // next record entry continues from the snapshot's next offset, not the log's own.
        let next_offset_if_emptied = self.snapshot_point.next_offset_after(upto.index);
        self.with_log(move |log| Ok(log.purge(upto, next_offset_if_emptied)?))
            .await
    }
}
