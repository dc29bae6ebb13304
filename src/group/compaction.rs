//! Compaction of `__consumer_offsets`: commits pile up in the log while the table they build
//! stays small, so the leader of each offsets partition writes its whole table as a snapshot
//! once about half a segment of records has gone by since the last one (and at least four times
//! that snapshot's size, so a large table is not rewritten too often). Every replica then
//! deletes the segments wholly below the newest snapshot it has whole, as retention would:
//! a restarted or newly caught-up replica loads from that snapshot (see `offsets.rs`). Runs every
//! `log.retention.check.interval.ms`, beside retention.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Groups;
use super::offsets::{CompactionState, OffsetsPartition};
use crate::partition::Replica;

/// The largest snapshot part: well within a record batch and a segment.
const MAX_PART_BYTES: usize = 256 << 10;

/// Whether the leader should write a snapshot now, for a partition of `segment_bytes` segments.
pub fn snapshot_due(state: &CompactionState, segment_bytes: u64) -> bool {
    !state.loading
        && state.bytes_since_snapshot >= (segment_bytes / 2).max(4 * state.snapshot_bytes)
}

/// Every `every`, compacts each hosted offsets partition. Ends when `Groups` is dropped.
pub async fn run(groups: Weak<Groups>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(groups) = groups.upgrade() else {
            return;
        };
        for replica in groups.hosted_offsets_partitions() {
            let table = groups.offsets_table(&replica);
            compact(&replica, &table).await;
        }
    }
}

/// One pass over one offsets partition: a snapshot if this replica leads and one is due, then
/// the purge of what the newest whole snapshot covers.
async fn compact(replica: &Arc<Replica>, table: &OffsetsPartition) {
    let config = replica.config();
    let leads = replica.leader().leader == Some(replica.node_id());
    if leads && snapshot_due(&table.compaction_state(), config.segment_bytes) {
        let part_bytes = MAX_PART_BYTES
            .min(config.max_message_bytes / 2)
            .min(config.segment_bytes as usize / 4);
        match table.write_snapshot(part_bytes).await {
            Ok((as_of, parts)) => tracing::info!(
                partition = replica.partition,
                %as_of,
                parts,
                "committed offsets snapshot written"
            ),
            Err(e) => {
                tracing::warn!(partition = replica.partition, error = %e, "offsets snapshot failed; retried at the next check")
            }
        }
    }
    let Some(floor) = table.compaction_state().snapshot_floor else {
        return;
    };
    match replica.purge_below(floor).await {
        Ok(Some(log_start)) => tracing::info!(
            partition = replica.partition,
            below_offset = %floor,
            %log_start,
            "compaction: purging segments below the offsets snapshot"
        ),
        Ok(None) => {}
        Err(e) => tracing::warn!(partition = replica.partition, error = %e, "offsets purge failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(bytes_since_snapshot: u64, snapshot_bytes: u64) -> CompactionState {
        CompactionState {
            loading: false,
            snapshot_floor: None,
            bytes_since_snapshot,
            snapshot_bytes,
        }
    }

    #[test]
    fn snapshots_follow_half_a_segment_of_records_and_outweigh_the_last_one() {
        let segment = 1 << 20;
        assert!(!snapshot_due(&state(100, 0), segment));
        assert!(snapshot_due(&state(segment / 2, 0), segment));
        assert!(!snapshot_due(&state(segment / 2, segment / 4), segment));
        assert!(snapshot_due(&state(segment, segment / 4), segment));
        let loading = CompactionState {
            loading: true,
            ..state(segment, 0)
        };
        assert!(!snapshot_due(&loading, segment));
    }
}
