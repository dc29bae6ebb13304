//! Snapshots of an offsets table as records of its own log: cut into parts of bounded size when
//! written, gathered part by part when read back, installed by a replica that is loading.
//! `table.rs` decides when a record is a snapshot part; `group/compaction.rs` when to write one.

use std::collections::HashMap;

use super::table::Table;
use super::{SnapshotGroup, StoredGroup};
use crate::types::KafkaOffset;

/// What a snapshot record spends on an entry besides its own JSON and its group's name.
const SNAPSHOT_ENTRY_OVERHEAD: usize = 64;

/// The parts of one snapshot read so far, in order.
#[derive(Debug)]
pub(super) struct PartialSnapshot {
    as_of: KafkaOffset,
    next_part: u32,
    bytes: u64,
    groups: Vec<SnapshotGroup>,
}

impl Table {
    /// Takes in part `part` of `parts` of the snapshot as of `as_of` (its record `bytes` long);
    /// `Some(as_of)` when the whole snapshot was installed and replay must go back there.
    pub(super) fn take_snapshot_part(
        &mut self,
        as_of: KafkaOffset,
        part: u32,
        parts: u32,
        bytes: u64,
        groups: Vec<SnapshotGroup>,
    ) -> Option<KafkaOffset> {
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
            tracing::info!(
                %as_of,
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
}

/// The table cut into snapshot parts of about `part_bytes` each (at least one part, empty for an
/// empty table); a group with many offsets spans parts.
pub(super) fn split_snapshot(
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
