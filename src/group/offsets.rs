//! Committed offsets: commands in the partitions of `__consumer_offsets`, applied in log order
//! into an in-memory table per partition. Every commit is one record batch proposed through the
//! partition's Raft leader (the group's coordinator) and answered once applied, so what a
//! coordinator acknowledged is on a quorum and any replica that becomes leader replays it.
//! Every replica keeps its table current (a new coordinator has it ready), replaying its log from
//! the start.
//!
//! The log is compacted by snapshots (`group/compaction.rs` decides when): the leader writes its
//! whole table, as of an applied offset `as_of`, as `Snapshot` records; once all parts are in the
//! log, every replica may delete the segments wholly below `as_of`. A replica whose log starts
//! past 0 therefore replays in two passes: it skips records until it has read a whole snapshot
//! with `as_of` at or after its log start, installs it, and replays again from `as_of` (the parts
//! themselves come after `as_of`, so they are read again and then change nothing).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::partition::{self, Replica};
use crate::record::{decode_internal, encode_internal};

/// What a snapshot record spends on an entry besides its own JSON and its group's name.
const SNAPSHOT_ENTRY_OVERHEAD: usize = 64;
/// Bytes the applier reads per step.
const APPLY_READ_BYTES: usize = 1 << 20;
/// How long a read may wait for this replica's table to catch up with its log.
const LOAD_WAIT: Duration = Duration::from_secs(5);

/// One committed offset, as OffsetFetch returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    /// The leader epoch of the record at `offset - 1` as the client saw it; -1 unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
    /// The id of the topic when the commit was made: a topic deleted and created again under
    /// the same name does not inherit the old one's offsets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<Uuid>,
}

/// A partition of some topic, as groups name it.
pub type TopicPartition = (String, i32);

/// What the offsets log records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OffsetsCommand {
    Commit {
        group: String,
        offsets: Vec<(TopicPartition, Committed)>,
    },
    /// OffsetDelete, and cleanup of partitions whose topic is gone.
    Forget {
        group: String,
        partitions: Vec<TopicPartition>,
    },
    /// DeleteGroups.
    DeleteGroup { group: String },
    /// Expiry (`offsets.retention.minutes`): deletes the group's offsets unless it committed
    /// after log offset `unchanged_since` (a commit racing the decision survives it).
    Expire { group: String, unchanged_since: i64 },
    /// A deleted topic: every group of this partition forgets its offsets of `topic` recorded
    /// with `id` (`None`: recorded without an id), so commits to a new topic of that name stay.
    DropTopic { topic: String, id: Option<Uuid> },
    /// Part `part` of `parts` of the table as of log offset `as_of` (every record below it
    /// applied). Changes nothing for a replica that replayed from the start.
    Snapshot {
        as_of: i64,
        part: u32,
        parts: u32,
        groups: Vec<SnapshotGroup>,
    },
}

/// A group (or part of its offsets) in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotGroup {
    pub group: String,
    pub last_commit_at: i64,
    pub offsets: Vec<(TopicPartition, Committed)>,
}

#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    #[error(transparent)]
    Partition(#[from] partition::Error),
    /// The table has not caught up with the log within the wait: the client retries.
    #[error("committed offsets are still loading")]
    Loading,
}

/// Committed offsets by group, then by topic partition.
pub type GroupOffsets = BTreeMap<TopicPartition, Committed>;

/// A group's committed offsets and where in the log it last committed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredGroup {
    pub offsets: GroupOffsets,
    /// Log offset of the group's latest Commit.
    pub last_commit_at: i64,
}

impl StoredGroup {
    /// When the group last committed anything (wall clock, ms).
    pub fn last_commit_ms(&self) -> i64 {
        self.offsets
            .values()
            .map(|c| c.commit_timestamp_ms)
            .max()
            .unwrap_or(0)
    }
}

/// The applied state of one offsets partition.
#[derive(Debug, Default)]
struct Table {
    groups: HashMap<String, StoredGroup>,
    /// The log offset this table started reading at.
    origin: i64,
    /// Every record below this offset has been applied (or skipped while loading).
    next: i64,
    /// Set while replaying a log whose start was purged: the state is unknown until a whole
    /// snapshot taken at or after `origin` has been read.
    loading: bool,
    /// Parts of the snapshot being read (while loading), or being seen go by.
    snapshot_parts: Option<PartialSnapshot>,
    /// `as_of` of the newest snapshot whose every part is in the log: segments wholly below it
    /// may be deleted.
    snapshot_floor: Option<i64>,
    /// Record bytes applied since that snapshot, and the size of that snapshot.
    bytes_since_snapshot: u64,
    snapshot_bytes: u64,
}

#[derive(Debug)]
struct PartialSnapshot {
    as_of: i64,
    next_part: u32,
    bytes: u64,
    groups: Vec<SnapshotGroup>,
}

/// How compaction sees a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionState {
    pub loading: bool,
    pub snapshot_floor: Option<i64>,
    pub bytes_since_snapshot: u64,
    pub snapshot_bytes: u64,
}

impl Table {
    /// A table for a log starting at `log_start`: loading unless nothing was ever purged.
    fn starting_at(log_start: i64) -> Table {
        Table {
            origin: log_start,
            next: log_start,
            loading: log_start > 0,
            ..Table::default()
        }
    }

    /// Takes in the record at `at` (`bytes` long); `Some(offset)` when replay must go back to
    /// `offset` (a snapshot was installed).
    fn take(&mut self, at: i64, bytes: u64, command: OffsetsCommand) -> Option<i64> {
        self.next = at + 1;
        if let OffsetsCommand::Snapshot {
            as_of,
            part,
            parts,
            groups,
        } = command
        {
            return self.take_snapshot_part(as_of, part, parts, bytes, groups);
        }
        if !self.loading {
            self.bytes_since_snapshot += bytes;
            self.apply(at, command);
        }
        None
    }

    fn take_snapshot_part(
        &mut self,
        as_of: i64,
        part: u32,
        parts: u32,
        bytes: u64,
        groups: Vec<SnapshotGroup>,
    ) -> Option<i64> {
        let mut partial = match self.snapshot_parts.take() {
            _ if part == 0 => PartialSnapshot {
                as_of,
                next_part: 0,
                bytes: 0,
                groups: Vec::new(),
            },
            Some(p) if p.as_of == as_of && p.next_part == part => p,
            // A part out of order (a snapshot abandoned by a former leader): ignored.
            other => {
                self.snapshot_parts = other;
                return None;
            }
        };
        partial.next_part += 1;
        partial.bytes += bytes;
        if self.loading {
            partial.groups.extend(groups);
        }
        if partial.next_part < parts {
            self.snapshot_parts = Some(partial);
            return None;
        }
        let rewind = if !self.loading {
            None
        } else if as_of >= self.origin {
            self.groups.clear();
            for g in partial.groups {
                let stored = self.groups.entry(g.group).or_default();
                stored.offsets.extend(g.offsets);
                stored.last_commit_at = g.last_commit_at;
            }
            self.loading = false;
            self.next = as_of;
            tracing::info!(
                as_of,
                groups = self.groups.len(),
                "committed offsets loaded from a snapshot; replaying what follows"
            );
            Some(as_of)
        } else {
            // Taken before this replica's log start: its records below are gone.
            return None;
        };
        self.snapshot_floor = Some(as_of);
        self.snapshot_bytes = partial.bytes;
        self.bytes_since_snapshot = 0;
        rewind
    }

    /// Applies `command`, found at log offset `at`.
    fn apply(&mut self, at: i64, command: OffsetsCommand) {
        match command {
            // Taken in by `take_snapshot_part`.
            OffsetsCommand::Snapshot { .. } => {}
            OffsetsCommand::Commit { group, offsets } => {
                let stored = self.groups.entry(group).or_default();
                stored.offsets.extend(offsets);
                stored.last_commit_at = at;
            }
            OffsetsCommand::Forget { group, partitions } => {
                if let Some(stored) = self.groups.get_mut(&group) {
                    for tp in &partitions {
                        stored.offsets.remove(tp);
                    }
                    if stored.offsets.is_empty() {
                        self.groups.remove(&group);
                    }
                }
            }
            OffsetsCommand::DeleteGroup { group } => {
                self.groups.remove(&group);
            }
            OffsetsCommand::Expire {
                group,
                unchanged_since,
            } => {
                if self
                    .groups
                    .get(&group)
                    .is_some_and(|g| g.last_commit_at <= unchanged_since)
                {
                    self.groups.remove(&group);
                }
            }
            OffsetsCommand::DropTopic { topic, id } => {
                for stored in self.groups.values_mut() {
                    stored
                        .offsets
                        .retain(|(t, _), c| *t != topic || c.topic_id != id);
                }
                self.groups.retain(|_, g| !g.offsets.is_empty());
            }
        }
    }
}

/// The table of one hosted offsets partition, kept current by its applier task.
#[derive(Debug)]
pub struct OffsetsPartition {
    replica: Arc<Replica>,
    table: Arc<Mutex<Table>>,
    /// The log offset up to which the table is applied.
    applied: watch::Receiver<i64>,
    applier: JoinHandle<()>,
}

impl Drop for OffsetsPartition {
    fn drop(&mut self) {
        self.applier.abort();
    }
}

impl OffsetsPartition {
    fn start(replica: Arc<Replica>) -> OffsetsPartition {
        let table = Arc::new(Mutex::new(Table::starting_at(replica.log_start_offset())));
        let (tx, applied) = watch::channel(0);
        let applier = tokio::spawn(apply_loop(Arc::clone(&replica), Arc::clone(&table), tx));
        OffsetsPartition {
            replica,
            table,
            applied,
            applier,
        }
    }

    /// Appends `command` through this replica (which must lead) and waits until it is applied.
    pub async fn propose(&self, command: &OffsetsCommand) -> Result<(), OffsetsError> {
        let now = now_ms();
        let appended = self.replica.append(encode_internal(command, now)).await?;
        self.wait_applied(appended.base_offset + 1).await
    }

    /// The committed offsets of `group`, as of everything in this replica's log now.
    pub async fn group(&self, group: &str) -> Result<GroupOffsets, OffsetsError> {
        self.wait_applied(self.replica.log_end_offset()).await?;
        Ok(self
            .table()
            .groups
            .get(group)
            .map(|g| g.offsets.clone())
            .unwrap_or_default())
    }

    /// The ids of every group with offsets here, as of everything in the log now.
    pub async fn group_ids(&self) -> Result<Vec<String>, OffsetsError> {
        self.wait_applied(self.replica.log_end_offset()).await?;
        Ok(self.table().groups.keys().cloned().collect())
    }

    /// Every group with offsets here, as of everything in the log now.
    pub async fn all_groups(&self) -> Result<HashMap<String, StoredGroup>, OffsetsError> {
        self.wait_applied(self.replica.log_end_offset()).await?;
        Ok(self.table().groups.clone())
    }

    /// What compaction needs to know of this table.
    pub fn compaction_state(&self) -> CompactionState {
        let table = self.table();
        CompactionState {
            loading: table.loading,
            snapshot_floor: table.snapshot_floor,
            bytes_since_snapshot: table.bytes_since_snapshot,
            snapshot_bytes: table.snapshot_bytes,
        }
    }

    /// Writes the whole table through this replica (which must lead) as snapshot records of at
    /// most about `part_bytes` each; returns the offset it stands at and the number of parts.
    /// Records committed meanwhile land between the parts and are replayed after the snapshot.
    pub async fn write_snapshot(&self, part_bytes: usize) -> Result<(i64, u32), OffsetsError> {
        let (as_of, groups) = {
            let table = self.table();
            if table.loading {
                return Err(OffsetsError::Loading);
            }
            (table.next, table.groups.clone())
        };
        let parts = split_snapshot(&groups, part_bytes);
        let count = parts.len() as u32;
        for (part, groups) in parts.into_iter().enumerate() {
            let command = OffsetsCommand::Snapshot {
                as_of,
                part: part as u32,
                parts: count,
                groups,
            };
            self.replica
                .append(encode_internal(&command, now_ms()))
                .await?;
        }
        Ok((as_of, count))
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn wait_applied(&self, offset: i64) -> Result<(), OffsetsError> {
        let mut applied = self.applied.clone();
        match tokio::time::timeout(LOAD_WAIT, applied.wait_for(|a| *a >= offset)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(partition::Error::Stopped("offsets applier stopped".into()).into()),
            Err(_) => Err(OffsetsError::Loading),
        }
    }
}

/// The table cut into snapshot parts of about `part_bytes` each (at least one part, empty for an
/// empty table); a group with many offsets spans parts.
fn split_snapshot(
    groups: &HashMap<String, StoredGroup>,
    part_bytes: usize,
) -> Vec<Vec<SnapshotGroup>> {
    let mut parts = Vec::new();
    let mut part = Vec::new();
    let mut filled = 0;
    let mut names: Vec<&String> = groups.keys().collect();
    names.sort();
    for name in names {
        let stored = &groups[name];
        let mut chunk = Vec::new();
        for (tp, committed) in &stored.offsets {
            // Measured, not guessed: commit metadata may be kilobytes, more once escaped.
            filled += serde_json::to_vec(&(tp, committed)).map_or(0, |json| json.len())
                + SNAPSHOT_ENTRY_OVERHEAD
                + name.len();
            chunk.push((tp.clone(), committed.clone()));
            if filled >= part_bytes {
                part.push(SnapshotGroup {
                    group: name.clone(),
                    last_commit_at: stored.last_commit_at,
                    offsets: std::mem::take(&mut chunk),
                });
                parts.push(std::mem::take(&mut part));
                filled = 0;
            }
        }
        if !chunk.is_empty() {
            part.push(SnapshotGroup {
                group: name.clone(),
                last_commit_at: stored.last_commit_at,
                offsets: chunk,
            });
        }
    }
    if !part.is_empty() || parts.is_empty() {
        parts.push(part);
    }
    parts
}

async fn apply_loop(replica: Arc<Replica>, table: Arc<Mutex<Table>>, applied: watch::Sender<i64>) {
    let lock = || table.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let (origin, next) = {
            let table = lock();
            (table.origin, table.next)
        };
        // Compaction keeps the log start below what was applied. A start past it, or at it once
        // this table applied anything, means the log was replaced from the leader's snapshot
        // (possibly after this table read entries below the new start that were never
        // committed): load again from the new log, as after a restart.
        let log_start = replica.log_start_offset();
        if log_start > next || (log_start == next && next > origin) {
            tracing::info!(
                partition = replica.partition,
                log_start,
                "offsets log replaced from a snapshot; reloading"
            );
            *lock() = Table::starting_at(log_start);
            continue;
        }
        let read = match replica.read_committed(next, APPLY_READ_BYTES) {
            Ok(read) => read,
            // The log start moved past `next` since it was checked: checked again above.
            Err(partition::Error::OffsetOutOfRange {
                log_start_offset, ..
            }) if next < log_start_offset => continue,
            Err(e) => {
                tracing::error!(topic = %replica.topic, partition = replica.partition, error = %e, "offsets log unreadable; applier stops");
                return;
            }
        };
        if read.batches.is_empty() {
            if !lock().loading {
                applied.send_replace(next);
            }
            let far = Instant::now() + Duration::from_secs(3600);
            replica.wait_for_data(next, far).await;
            continue;
        }
        let mut table_now = lock();
        for batch in &read.batches {
            let record = match decode_internal::<OffsetsCommand>(batch) {
                Ok(record) => record,
                Err(e) => {
                    tracing::error!(offset = table_now.next, error = %e, "offsets log holds a non-batch; applier stops");
                    return;
                }
            };
            let base = record.offset;
            match record.command {
                Ok(command) => {
                    if table_now.take(base, batch.len() as u64, command).is_some() {
                        // A snapshot was installed: replay from where it stands.
                        break;
                    }
                }
                // Written by this code base only; skipped identically on every replica.
                Err(e) => {
                    tracing::error!(offset = base, error = %e, "skipping unreadable offsets record");
                    table_now.next = base + 1;
                }
            }
        }
        let loaded = (!table_now.loading).then_some(table_now.next);
        drop(table_now);
        if let Some(next) = loaded {
            applied.send_replace(next);
        }
    }
}

/// Wall-clock milliseconds, the time base of commit timestamps.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The tables of the offsets partitions this broker has coordinated, started on first use and
/// replaced when their replica is (a restart of the partition).
#[derive(Debug, Default)]
pub struct OffsetsTables {
    tables: DashMap<i32, Arc<OffsetsPartition>>,
}

impl OffsetsTables {
    /// The table of `replica` (an offsets partition), started if needed.
    pub fn of(&self, replica: &Arc<Replica>) -> Arc<OffsetsPartition> {
        let partition = replica.partition;
        if let Some(table) = self.tables.get(&partition)
            && Arc::ptr_eq(&table.replica, replica)
        {
            return Arc::clone(table.value());
        }
        let table = Arc::new(OffsetsPartition::start(Arc::clone(replica)));
        self.tables.insert(partition, Arc::clone(&table));
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(offset: i64) -> Committed {
        Committed {
            offset,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
            topic_id: None,
        }
    }

    fn tp(p: i32) -> TopicPartition {
        ("t".to_string(), p)
    }

    fn offsets_of(table: &Table, group: &str) -> Vec<(TopicPartition, i64)> {
        table.groups.get(group).map_or(Vec::new(), |g| {
            g.offsets
                .iter()
                .map(|(tp, c)| (tp.clone(), c.offset))
                .collect()
        })
    }

    #[test]
    fn commands_apply_in_order() {
        let mut table = Table::default();
        table.apply(
            0,
            OffsetsCommand::Commit {
                group: "g".into(),
                offsets: vec![(tp(0), committed(5)), (tp(1), committed(7))],
            },
        );
        table.apply(
            1,
            OffsetsCommand::Commit {
                group: "g".into(),
                offsets: vec![(tp(0), committed(9))],
            },
        );
        assert_eq!(offsets_of(&table, "g"), vec![(tp(0), 9), (tp(1), 7)]);
        assert_eq!(table.groups["g"].last_commit_at, 1);
        table.apply(
            2,
            OffsetsCommand::Forget {
                group: "g".into(),
                partitions: vec![tp(0)],
            },
        );
        assert_eq!(offsets_of(&table, "g"), vec![(tp(1), 7)]);
        table.apply(
            3,
            OffsetsCommand::Forget {
                group: "g".into(),
                partitions: vec![tp(1)],
            },
        );
        assert!(table.groups.is_empty(), "a group without offsets is gone");
        table.apply(
            4,
            OffsetsCommand::Commit {
                group: "h".into(),
                offsets: vec![(tp(0), committed(1))],
            },
        );
        table.apply(5, OffsetsCommand::DeleteGroup { group: "h".into() });
        assert!(table.groups.is_empty());
    }

    #[test]
    fn expiry_spares_a_group_that_committed_after_the_decision() {
        let mut table = Table::default();
        let commit = |group: &str| OffsetsCommand::Commit {
            group: group.into(),
            offsets: vec![(tp(0), committed(1))],
        };
        table.apply(10, commit("idle"));
        table.apply(11, commit("busy"));
        // Both were found idle as of offset 11; "busy" commits again before the expiry lands.
        table.apply(12, commit("busy"));
        for group in ["idle", "busy"] {
            table.apply(
                13,
                OffsetsCommand::Expire {
                    group: group.into(),
                    unchanged_since: 11,
                },
            );
        }
        assert!(!table.groups.contains_key("idle"));
        assert_eq!(offsets_of(&table, "busy"), vec![(tp(0), 1)]);
    }

    #[test]
    fn a_dropped_topic_takes_only_its_own_incarnation() {
        let old = Uuid::from_u128(1);
        let new = Uuid::from_u128(2);
        let with_id = |offset, id| Committed {
            topic_id: id,
            ..committed(offset)
        };
        let mut table = Table::default();
        table.apply(
            0,
            OffsetsCommand::Commit {
                group: "a".into(),
                offsets: vec![
                    (tp(0), with_id(5, Some(old))),
                    (("u".into(), 0), with_id(6, Some(old))),
                ],
            },
        );
        table.apply(
            1,
            OffsetsCommand::Commit {
                group: "b".into(),
                offsets: vec![(tp(0), with_id(7, Some(new))), (tp(1), with_id(8, None))],
            },
        );
        table.apply(
            2,
            OffsetsCommand::DropTopic {
                topic: "t".into(),
                id: Some(old),
            },
        );
        assert_eq!(offsets_of(&table, "a"), vec![(("u".into(), 0), 6)]);
        assert_eq!(offsets_of(&table, "b"), vec![(tp(0), 7), (tp(1), 8)]);
        table.apply(
            3,
            OffsetsCommand::DropTopic {
                topic: "t".into(),
                id: None,
            },
        );
        assert_eq!(offsets_of(&table, "b"), vec![(tp(0), 7)]);
    }

    /// Replays `log` (offset = position) from `start` as the applier does, following rewinds.
    fn replay(log: &[OffsetsCommand], start: i64) -> Table {
        let mut table = Table::starting_at(start);
        while (table.next as usize) < log.len() {
            let at = table.next;
            table.take(at, 100, log[at as usize].clone());
        }
        table
    }

    fn commit(group: &str, p: i32, offset: i64) -> OffsetsCommand {
        OffsetsCommand::Commit {
            group: group.into(),
            offsets: vec![(tp(p), committed(offset))],
        }
    }

    /// The snapshot of `log[..as_of]` as it would be written, in parts of about `part_bytes`.
    fn snapshot(log: &[OffsetsCommand], as_of: i64, part_bytes: usize) -> Vec<OffsetsCommand> {
        let table = replay(&log[..as_of as usize], 0);
        let parts = split_snapshot(&table.groups, part_bytes);
        let count = parts.len() as u32;
        parts
            .into_iter()
            .enumerate()
            .map(|(part, groups)| OffsetsCommand::Snapshot {
                as_of,
                part: part as u32,
                parts: count,
                groups,
            })
            .collect()
    }

    /// Group, its (partition, offset) pairs, and where it last committed.
    type GroupState = (String, Vec<(TopicPartition, i64)>, i64);

    fn state(table: &Table) -> Vec<GroupState> {
        let mut groups: Vec<_> = table
            .groups
            .iter()
            .map(|(g, s)| (g.clone(), offsets_of(table, g), s.last_commit_at))
            .collect();
        groups.sort();
        groups
    }

    /// A log of commits, deletions and two snapshots, each interleaved with later records.
    fn compacted_log() -> (Vec<OffsetsCommand>, i64, i64) {
        let mut log = Vec::new();
        for i in 0..20 {
            log.push(commit(&format!("g{}", i % 4), i % 3, i64::from(i)));
        }
        log.push(OffsetsCommand::DeleteGroup { group: "g3".into() });
        let first_as_of = log.len() as i64;
        let mut parts = snapshot(&log, first_as_of, 300).into_iter();
        log.push(parts.next().unwrap());
        log.push(commit("g0", 0, 100));
        log.extend(parts);
        log.push(OffsetsCommand::Forget {
            group: "g1".into(),
            partitions: vec![tp(1)],
        });
        for i in 0..10 {
            log.push(commit("g2", i % 5, 200 + i64::from(i)));
        }
        let second_as_of = log.len() as i64;
        let mut parts = snapshot(&log, second_as_of, 300).into_iter();
        log.push(parts.next().unwrap());
        log.push(commit("g4", 0, 300));
        log.push(OffsetsCommand::Expire {
            group: "g0".into(),
            unchanged_since: 1,
        });
        log.extend(parts);
        log.push(commit("g2", 0, 400));
        (log, first_as_of, second_as_of)
    }

    #[test]
    fn a_snapshot_changes_nothing_for_a_full_replay_and_sets_the_floor() {
        let (log, _, second) = compacted_log();
        let without: Vec<OffsetsCommand> = log
            .iter()
            .filter(|c| !matches!(c, OffsetsCommand::Snapshot { .. }))
            .cloned()
            .collect();
        let full = replay(&log, 0);
        assert_eq!(state(&full).len(), 4, "{:?}", state(&full));
        let plain: Vec<_> = state(&replay(&without, 0))
            .into_iter()
            .map(|(g, o, _)| (g, o))
            .collect();
        let snapshotted: Vec<_> = state(&full).into_iter().map(|(g, o, _)| (g, o)).collect();
        assert_eq!(snapshotted, plain);
        assert_eq!(full.snapshot_floor, Some(second));
        assert!(!full.loading);
    }

    #[test]
    fn a_replay_from_any_purge_point_reaches_the_same_state() {
        let (log, _, second) = compacted_log();
        let full = state(&replay(&log, 0));
        for start in 1..=second {
            let table = replay(&log, start);
            assert!(!table.loading, "start {start}: loaded");
            assert_eq!(state(&table), full, "start {start}");
            assert_eq!(table.snapshot_floor, Some(second), "start {start}");
        }
        let table = replay(&log, second + 1);
        assert!(
            table.loading,
            "no whole snapshot at or after the start: still loading"
        );
    }

    #[test]
    fn an_abandoned_snapshot_is_ignored() {
        let mut log: Vec<OffsetsCommand> = (0..6).map(|i| commit("g", i, 1)).collect();
        let as_of = log.len() as i64;
        let parts = snapshot(&log, as_of, 200);
        assert!(parts.len() > 1, "several parts");
        log.push(parts[0].clone());
        log.push(commit("g", 0, 2));
        let retaken = snapshot(&log, log.len() as i64, 200);
        log.extend(retaken);
        let full = replay(&log, 0);
        assert_eq!(full.snapshot_floor, Some(as_of + 2));
        assert_eq!(state(&replay(&log, 3)), state(&full));
    }

    #[test]
    fn commands_round_trip_through_record_batches() {
        let command = OffsetsCommand::Commit {
            group: "g".into(),
            offsets: vec![(("t".into(), 3), committed(42))],
        };
        let batch = encode_internal(&command, 1).into_bytes();
        assert_eq!(
            decode_internal::<OffsetsCommand>(&batch)
                .unwrap()
                .command
                .unwrap(),
            command
        );
    }
}
