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
    /// DeleteGroups, and expiry of an empty group's offsets.
    DeleteGroup { group: String },
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

/// The applied state of one offsets partition.
#[derive(Debug, Default)]
struct Table {
    groups: HashMap<String, GroupOffsets>,
}

impl Table {
    fn apply(&mut self, command: OffsetsCommand) {
        match command {
            OffsetsCommand::Commit { group, offsets } => {
                self.groups.entry(group).or_default().extend(offsets);
            }
            OffsetsCommand::Forget { group, partitions } => {
                if let Some(offsets) = self.groups.get_mut(&group) {
                    for tp in &partitions {
                        offsets.remove(tp);
                    }
                    if offsets.is_empty() {
                        self.groups.remove(&group);
                    }
                }
            }
            OffsetsCommand::DeleteGroup { group } => {
                self.groups.remove(&group);
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
        Ok(self.table().groups.get(group).cloned().unwrap_or_default())
    }

    /// Every group with offsets here, with its offsets, as of everything in the log now.
    pub async fn all_groups(&self) -> Result<HashMap<String, GroupOffsets>, OffsetsError> {
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
                Ok(command) => table_now.apply(command),
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

fn now_ms() -> i64 {
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
        }
    }

    #[test]
    fn commands_apply_in_order() {
        let mut table = Table::default();
        let tp = |p| ("t".to_string(), p);
        table.apply(OffsetsCommand::Commit {
            group: "g".into(),
            offsets: vec![(tp(0), committed(5)), (tp(1), committed(7))],
        });
        table.apply(OffsetsCommand::Commit {
            group: "g".into(),
            offsets: vec![(tp(0), committed(9))],
        });
        assert_eq!(table.groups["g"][&tp(0)].offset, 9);
        assert_eq!(table.groups["g"][&tp(1)].offset, 7);
        table.apply(OffsetsCommand::Forget {
            group: "g".into(),
            partitions: vec![tp(0)],
        });
        assert_eq!(table.groups["g"].len(), 1);
        table.apply(OffsetsCommand::Forget {
            group: "g".into(),
            partitions: vec![tp(1)],
        });
        assert!(table.groups.is_empty(), "a group without offsets is gone");
        table.apply(OffsetsCommand::Commit {
            group: "h".into(),
            offsets: vec![(tp(0), committed(1))],
        });
        table.apply(OffsetsCommand::DeleteGroup { group: "h".into() });
        assert!(table.groups.is_empty());
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
