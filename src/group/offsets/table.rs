//! The table of one offsets partition as its records build it: what each command does, and how a
//! replica whose log starts past 0 loads (records are skipped until a whole snapshot taken at or
//! after its log start). `snapshot.rs` cuts a table into snapshot records and gathers them back.

use std::collections::HashMap;

use super::snapshot::PartialSnapshot;
use super::{OffsetsCommand, StoredGroup};
use crate::internal_log::{AppliedState, Step};
use crate::types::KafkaOffset;

/// The applied state of one offsets partition.
#[derive(Debug, Default)]
pub(super) struct Table {
    pub(super) groups: HashMap<String, StoredGroup>,
    /// The log offset this table started reading at.
    pub(super) origin: KafkaOffset,
    /// Set while replaying a log whose start was purged: the state is unknown until a whole
    /// snapshot taken at or after `origin` has been read.
    pub(super) loading: bool,
    /// Parts of the snapshot being read (while loading), or being seen go by.
    pub(super) snapshot_parts: Option<PartialSnapshot>,
    /// `as_of` of the newest snapshot whose every part is in the log: segments wholly below it
    /// may be deleted.
    pub(super) snapshot_floor: Option<KafkaOffset>,
    /// Record bytes applied since that snapshot, and the size of that snapshot.
    pub(super) bytes_since_snapshot: u64,
    pub(super) snapshot_bytes: u64,
}

/// How compaction sees a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompactionState {
    pub loading: bool,
    pub snapshot_floor: Option<KafkaOffset>,
    pub bytes_since_snapshot: u64,
    pub snapshot_bytes: u64,
}

impl AppliedState for Table {
    type Command = OffsetsCommand;
    type Outcome = ();
    /// Readers lock the table: a commit's reply must see it, and copies would cost each commit.
    type View = ();

    /// Loading unless nothing was ever purged.
    fn starting_at(log_start: KafkaOffset) -> Table {
        Table {
            origin: log_start,
            loading: log_start > KafkaOffset(0),
            ..Table::default()
        }
    }

    fn is_loaded(&self) -> bool {
        !self.loading
    }

    /// Snapshot parts are gathered (a whole one, while loading, is installed and replay goes back
    /// to where it stands); other commands change the table once it is loaded.
    fn apply(&mut self, offset: KafkaOffset, bytes: u64, command: OffsetsCommand) -> Step<()> {
        if let OffsetsCommand::Snapshot {
            as_of,
            part,
            parts,
            groups,
        } = command
        {
            return match self.take_snapshot_part(as_of, part, parts, bytes, groups) {
                Some(as_of) => Step::Rewind(as_of),
                None => Step::Applied(()),
            };
        }
        if !self.loading {
            self.bytes_since_snapshot += bytes;
            self.apply_command(offset, command);
        }
        Step::Applied(())
    }

    fn view(&self, _next_offset: KafkaOffset) {}
}

impl Table {
    pub(super) fn compaction_state(&self) -> CompactionState {
        CompactionState {
            loading: self.loading,
            snapshot_floor: self.snapshot_floor,
            bytes_since_snapshot: self.bytes_since_snapshot,
            snapshot_bytes: self.snapshot_bytes,
        }
    }

    /// Applies `command`, found at log offset `at`.
    pub(super) fn apply_command(&mut self, at: KafkaOffset, command: OffsetsCommand) {
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
