//! Committed offsets: commands in the partitions of `__consumer_offsets`, applied in log order
//! into an in-memory table per partition. Every commit is one record batch proposed through the
//! partition's Raft leader (the group's coordinator) and answered once applied, so what a
//! coordinator acknowledged is on a quorum and any replica that becomes leader replays it.
//! A replica's table is built when this broker first coordinates one of its groups, from the
//! start of its log (Kafka "loads" an offsets partition the same way).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::metadata::record_codec;
use crate::partition::{self, Replica};

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

impl Committed {
    /// Whether this commit belongs to the topic now named so (`current_id`, `None` when no
    /// topic has the name).
    pub fn is_of(&self, current_id: Option<Uuid>) -> bool {
        match (self.topic_id, current_id) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(recorded), Some(current)) => recorded == current,
        }
    }
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
}

impl Table {
    /// Applies `command`, found at log offset `at`.
    fn apply(&mut self, at: i64, command: OffsetsCommand) {
        match command {
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
            }
        }
        self.groups.retain(|_, g| !g.offsets.is_empty());
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
        let table = Arc::new(Mutex::new(Table::default()));
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
        let appended = self
            .replica
            .append(record_codec::encode(command, now))
            .await?;
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

    /// Every group with offsets here, as of everything in the log now.
    pub async fn all_groups(&self) -> Result<HashMap<String, StoredGroup>, OffsetsError> {
        self.wait_applied(self.replica.log_end_offset()).await?;
        Ok(self.table().groups.clone())
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

async fn apply_loop(replica: Arc<Replica>, table: Arc<Mutex<Table>>, applied: watch::Sender<i64>) {
    let mut next = replica.log_start_offset();
    loop {
        let read = match replica.read_committed(next, APPLY_READ_BYTES) {
            Ok(read) => read,
            Err(partition::Error::OffsetOutOfRange {
                log_start_offset, ..
            }) if next < log_start_offset => {
                next = log_start_offset;
                continue;
            }
            Err(e) => {
                tracing::error!(topic = %replica.topic, partition = replica.partition, error = %e, "offsets log unreadable; applier stops");
                return;
            }
        };
        if read.batches.is_empty() {
            applied.send_replace(next);
            let far = Instant::now() + Duration::from_secs(3600);
            replica.wait_for_data(next, far).await;
            continue;
        }
        let mut table_now = table.lock().unwrap_or_else(|e| e.into_inner());
        for batch in &read.batches {
            let base = i64::from_be_bytes(batch[..8].try_into().unwrap_or_default());
            match record_codec::decode::<OffsetsCommand>(batch) {
                Ok(command) => table_now.apply(base, command),
                // Written by this code base only; skipped identically on every replica.
                Err(e) => {
                    tracing::error!(offset = base, error = %e, "skipping unreadable offsets record")
                }
            }
            next = base + 1;
        }
        drop(table_now);
        applied.send_replace(next);
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

    #[test]
    fn a_commit_belongs_to_the_topic_it_was_made_for() {
        let id = Uuid::from_u128(1);
        let recorded = Committed {
            topic_id: Some(id),
            ..committed(1)
        };
        assert!(recorded.is_of(Some(id)));
        assert!(!recorded.is_of(Some(Uuid::from_u128(2))), "recreated topic");
        assert!(!recorded.is_of(None), "deleted topic");
        assert!(
            committed(1).is_of(Some(id)),
            "recorded before ids were kept"
        );
    }

    #[test]
    fn commands_round_trip_through_record_batches() {
        let command = OffsetsCommand::Commit {
            group: "g".into(),
            offsets: vec![(("t".into(), 3), committed(42))],
        };
        let batch = record_codec::encode(&command, 1);
        assert_eq!(
            record_codec::decode::<OffsetsCommand>(&batch).unwrap(),
            command
        );
    }
}
