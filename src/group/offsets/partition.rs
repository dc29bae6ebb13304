//! The committed offsets of the `__consumer_offsets` partitions this broker hosts, each table
//! kept current on every replica by `crate::internal_log`: reads as of the log's end, commands
//! proposed through the leader (the coordinator), snapshots written for compaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

use super::snapshot::split_snapshot;
use super::table::Table;
use super::{CompactionState, GroupOffsets, OffsetsCommand, OffsetsError, StoredGroup};
use crate::internal_log::{InternalLog, LogOptions, Route};
use crate::partition::Replica;
use crate::types::KafkaOffset;

/// How long a proposal or a read may wait for this replica's table to catch up with its log.
const LOAD_WAIT: Duration = Duration::from_secs(5);

/// The table of one hosted offsets partition.
#[derive(Debug)]
pub struct OffsetsPartition {
    log: InternalLog<Table>,
}

impl OffsetsPartition {
    fn start(replica: Arc<Replica>) -> OffsetsPartition {
        let options = LogOptions {
            name: "offsets",
            // Only the coordinator (the leader) writes; a follower is not the coordinator.
            route: Route::Local,
            wait: LOAD_WAIT,
        };
        OffsetsPartition {
            log: InternalLog::start(replica, options),
        }
    }

    /// Appends `command` through this replica (which must lead) and waits until it is applied.
    pub async fn propose(&self, command: &OffsetsCommand) -> Result<(), OffsetsError> {
        self.log.propose(command).await?;
        Ok(())
    }

    /// The committed offsets of `group`, as of everything in this replica's log now.
    pub async fn group(&self, group: &str) -> Result<GroupOffsets, OffsetsError> {
        self.read(|table| {
            table
                .groups
                .get(group)
                .map(|g| g.offsets.clone())
                .unwrap_or_default()
        })
        .await
    }

    /// The ids of every group with offsets here, as of everything in the log now.
    pub async fn group_ids(&self) -> Result<Vec<String>, OffsetsError> {
        self.read(|table| table.groups.keys().cloned().collect())
            .await
    }

    /// Every group with offsets here, as of everything in the log now.
    pub async fn all_groups(&self) -> Result<HashMap<String, StoredGroup>, OffsetsError> {
        self.read(|table| table.groups.clone()).await
    }

    /// What compaction needs to know of this table.
    pub fn compaction_state(&self) -> CompactionState {
        self.log.read(|replay| replay.state().compaction_state())
    }

    /// Writes the whole table through this replica (which must lead) as snapshot records of at
    /// most about `part_bytes` each; returns the offset it stands at and the number of parts.
    /// Records committed meanwhile land between the parts and are replayed after the snapshot.
    pub async fn write_snapshot(
        &self,
        part_bytes: usize,
    ) -> Result<(KafkaOffset, u32), OffsetsError> {
        let (as_of, groups) = self
            .log
            .read(|replay| {
                let table = replay.state();
                (!table.loading).then(|| (replay.next(), table.groups.clone()))
            })
            .ok_or(OffsetsError::Loading)?;
        let parts = split_snapshot(&groups, part_bytes);
        let count = parts.len() as u32;
        for (part, groups) in parts.into_iter().enumerate() {
            let command = OffsetsCommand::Snapshot {
                as_of,
                part: part as u32,
                parts: count,
                groups,
            };
            self.log.append(&command).await?;
        }
        Ok((as_of, count))
    }

    /// `read` of the table once it holds everything in this replica's log now.
    async fn read<R>(&self, read: impl FnOnce(&Table) -> R) -> Result<R, OffsetsError> {
        self.log.wait_caught_up().await?;
        Ok(self.log.read(|replay| read(replay.state())))
    }
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
            && Arc::ptr_eq(table.log.replica(), replica)
        {
            return Arc::clone(table.value());
        }
        let table = Arc::new(OffsetsPartition::start(Arc::clone(replica)));
        self.tables.insert(partition, Arc::clone(&table));
        table
    }
}
