//! The offsets table: each command's effect, and replays from any purge point of a compacted log
//! reaching the same table as a replay from the start.

use uuid::Uuid;

use super::snapshot::split_snapshot;
use super::table::Table;
use super::{Committed, OffsetsCommand, TopicPartition};
use crate::internal_log::{AppliedState, Replay};
use crate::record::{decode_internal, encode_internal};
use crate::types::KafkaOffset;

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
    table.apply_command(
        KafkaOffset(0),
        OffsetsCommand::Commit {
            group: "g".into(),
            offsets: vec![(tp(0), committed(5)), (tp(1), committed(7))],
        },
    );
    table.apply_command(
        KafkaOffset(1),
        OffsetsCommand::Commit {
            group: "g".into(),
            offsets: vec![(tp(0), committed(9))],
        },
    );
    assert_eq!(offsets_of(&table, "g"), vec![(tp(0), 9), (tp(1), 7)]);
    assert_eq!(table.groups["g"].last_commit_at, KafkaOffset(1));
    table.apply_command(
        KafkaOffset(2),
        OffsetsCommand::Forget {
            group: "g".into(),
            partitions: vec![tp(0)],
        },
    );
    assert_eq!(offsets_of(&table, "g"), vec![(tp(1), 7)]);
    table.apply_command(
        KafkaOffset(3),
        OffsetsCommand::Forget {
            group: "g".into(),
            partitions: vec![tp(1)],
        },
    );
    assert!(table.groups.is_empty(), "a group without offsets is gone");
    table.apply_command(
        KafkaOffset(4),
        OffsetsCommand::Commit {
            group: "h".into(),
            offsets: vec![(tp(0), committed(1))],
        },
    );
    table.apply_command(
        KafkaOffset(5),
        OffsetsCommand::DeleteGroup { group: "h".into() },
    );
    assert!(table.groups.is_empty());
}

#[test]
fn expiry_spares_a_group_that_committed_after_the_decision() {
    let mut table = Table::default();
    let commit = |group: &str| OffsetsCommand::Commit {
        group: group.into(),
        offsets: vec![(tp(0), committed(1))],
    };
    table.apply_command(KafkaOffset(10), commit("idle"));
    table.apply_command(KafkaOffset(11), commit("busy"));
    // Both were found idle as of offset 11; "busy" commits again before the expiry lands.
    table.apply_command(KafkaOffset(12), commit("busy"));
    for group in ["idle", "busy"] {
        table.apply_command(
            KafkaOffset(13),
            OffsetsCommand::Expire {
                group: group.into(),
                unchanged_since: KafkaOffset(11),
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
    table.apply_command(
        KafkaOffset(0),
        OffsetsCommand::Commit {
            group: "a".into(),
            offsets: vec![
                (tp(0), with_id(5, Some(old))),
                (("u".into(), 0), with_id(6, Some(old))),
            ],
        },
    );
    table.apply_command(
        KafkaOffset(1),
        OffsetsCommand::Commit {
            group: "b".into(),
            offsets: vec![(tp(0), with_id(7, Some(new))), (tp(1), with_id(8, None))],
        },
    );
    table.apply_command(
        KafkaOffset(2),
        OffsetsCommand::DropTopic {
            topic: "t".into(),
            id: Some(old),
        },
    );
    assert_eq!(offsets_of(&table, "a"), vec![(("u".into(), 0), 6)]);
    assert_eq!(offsets_of(&table, "b"), vec![(tp(0), 7), (tp(1), 8)]);
    table.apply_command(
        KafkaOffset(3),
        OffsetsCommand::DropTopic {
            topic: "t".into(),
            id: None,
        },
    );
    assert_eq!(offsets_of(&table, "b"), vec![(tp(0), 7)]);
}

/// Replays `log` (offset = position) from `start` as the applier does, following rewinds.
fn replay(log: &[OffsetsCommand], start: i64) -> Replay<Table> {
    let mut replay = Replay::starting_at(KafkaOffset(start));
    while (replay.next().0 as usize) < log.len() {
        let at = replay.next();
        replay.apply(at, 100, log[at.0 as usize].clone());
    }
    replay
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
    let parts = split_snapshot(&table.state().groups, part_bytes);
    let count = parts.len() as u32;
    parts
        .into_iter()
        .enumerate()
        .map(|(part, groups)| OffsetsCommand::Snapshot {
            as_of: KafkaOffset(as_of),
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
        .map(|(g, s)| (g.clone(), offsets_of(table, g), s.last_commit_at.0))
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
        unchanged_since: KafkaOffset(1),
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
    assert_eq!(state(full.state()).len(), 4, "{:?}", state(full.state()));
    let plain: Vec<_> = state(replay(&without, 0).state())
        .into_iter()
        .map(|(g, o, _)| (g, o))
        .collect();
    let snapshotted: Vec<_> = state(full.state())
        .into_iter()
        .map(|(g, o, _)| (g, o))
        .collect();
    assert_eq!(snapshotted, plain);
    assert_eq!(full.state().snapshot_floor, Some(KafkaOffset(second)));
    assert!(full.state().is_loaded());
}

#[test]
fn a_replay_from_any_purge_point_reaches_the_same_state() {
    let (log, _, second) = compacted_log();
    let full = state(replay(&log, 0).state());
    for start in 1..=second {
        let table = replay(&log, start);
        assert!(table.state().is_loaded(), "start {start}: loaded");
        assert_eq!(state(table.state()), full, "start {start}");
        assert_eq!(
            table.state().snapshot_floor,
            Some(KafkaOffset(second)),
            "start {start}"
        );
    }
    let table = replay(&log, second + 1);
    assert!(
        !table.state().is_loaded(),
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
    assert_eq!(full.state().snapshot_floor, Some(KafkaOffset(as_of + 2)));
    assert_eq!(state(replay(&log, 3).state()), state(full.state()));
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
