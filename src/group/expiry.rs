//! Cleanup of committed offsets, run by the coordinator of each offsets partition it leads.
//! Offsets of deleted topics are dropped, and a group without members expires with all its
//! offsets once `offsets.retention.minutes` have passed since its last sign of life (Kafka's
//! rule since KIP-211: offsets of a group with members never expire). Every removal is a command
//! in the offsets log, so all replicas forget the same offsets at the same point, and each is
//! conditional on what the coordinator saw, so a commit racing the decision survives it.
//!
//! Membership lives in memory on the coordinator, so a coordinator that just took over does not
//! know how long a group has been empty: the time it started coordinating counts as activity,
//! which errs towards keeping offsets.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use uuid::Uuid;

use super::Groups;
use super::offsets::{OffsetsCommand, StoredGroup};
use crate::metadata::MetadataStore;
use crate::partition::Replica;
use crate::types::{KafkaOffset, LeaderEpoch};

/// `offsets.retention.minutes` and `offsets.retention.check.interval.ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirySettings {
    pub retention: Duration,
    pub check_interval: Duration,
}

/// What the coordinator knows of a group's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// Members are joined, syncing or consuming.
    Active,
    /// No members, for this long.
    EmptyFor(Duration),
    /// No membership here: the group only has offsets (standalone commits, or members that
    /// have not found this coordinator since it took over).
    Unknown,
}

/// The removals due in one offsets partition.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Topics (name, recorded id) some group holds offsets of that no longer exist as recorded.
    pub dropped_topics: BTreeSet<(String, Option<Uuid>)>,
    /// Groups to expire, with the log offset of the commit the decision saw last.
    pub expired: Vec<(String, KafkaOffset)>,
}

/// Decides what `groups` (one offsets partition, as of now) should lose; `topic_deleted` says
/// whether a topic as recorded (name, id) has been deleted. Times are wall-clock milliseconds.
pub fn plan(
    groups: &HashMap<String, StoredGroup>,
    activity: impl Fn(&str) -> Activity,
    topic_deleted: impl Fn(&str, Option<Uuid>) -> bool,
    now_ms: i64,
    coordinating_since_ms: i64,
    retention: Duration,
) -> Plan {
    let mut plan = Plan::default();
    for stored in groups.values() {
        for ((topic, _), committed) in &stored.offsets {
            if topic_deleted(topic, committed.topic_id) {
                plan.dropped_topics
                    .insert((topic.clone(), committed.topic_id));
            }
        }
    }
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut expired: Vec<(String, KafkaOffset)> = groups
        .iter()
        .filter(|(group, stored)| {
            let empty_since_ms = match activity(group) {
                Activity::Active => return false,
                Activity::EmptyFor(d) => now_ms.saturating_sub(d.as_millis() as i64),
                Activity::Unknown => i64::MIN,
            };
            let last_seen = stored
                .last_commit_ms()
                .max(empty_since_ms)
                .max(coordinating_since_ms);
            now_ms.saturating_sub(last_seen) >= retention_ms
        })
        .map(|(group, stored)| (group.clone(), stored.last_commit_at))
        .collect();
    expired.sort();
    plan.expired = expired;
    plan
}

/// Runs the cleanup every `check_interval`, and as soon as the metadata records a deleted
/// topic (its offsets go at once). Ends when the broker's `Groups` is dropped.
pub async fn run(groups: Weak<Groups>, metadata: Arc<MetadataStore>, settings: ExpirySettings) {
    let mut ticks = tokio::time::interval(settings.check_interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Offsets partition -> (the leader epoch it is led in here, since when).
    let mut coordinating: HashMap<i32, (LeaderEpoch, i64)> = HashMap::new();
    let mut changes = metadata.subscribe();
    let mut watching = true;
    let mut deletions_seen = 0;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            changed = changes.changed(), if watching => {
                watching = changed.is_ok();
                // Most metadata changes are leadership records: only deletions matter here.
                let deletions = changes.borrow_and_update().state.deleted_topic_ids.len();
                if std::mem::replace(&mut deletions_seen, deletions) == deletions {
                    continue;
                }
            }
        }
        let Some(groups) = groups.upgrade() else {
            return;
        };
        let now_ms = super::offsets::now_ms();
        let led = groups.led_offsets_partitions();
        coordinating.retain(|p, (epoch, _)| {
            led.iter()
                .any(|r| r.partition == *p && r.leader_epoch() == *epoch)
        });
        for replica in led {
            let epoch = replica.leader_epoch();
            let since = coordinating
                .entry(replica.partition)
                .or_insert((epoch, now_ms))
                .1;
            if let Err(e) = clean(&groups, &replica, &metadata, now_ms, since, settings).await {
                tracing::warn!(partition = replica.partition, error = %e, "offsets cleanup failed; retried at the next check");
            }
        }
    }
}

/// One cleanup pass over the offsets partition `replica` leads.
async fn clean(
    groups: &Groups,
    replica: &Arc<Replica>,
    metadata: &MetadataStore,
    now_ms: i64,
    coordinating_since_ms: i64,
    settings: ExpirySettings,
) -> Result<(), super::offsets::OffsetsError> {
    let epoch = replica.leader_epoch();
    let table = groups.offsets_table(replica);
    let stored = table.all_groups().await?;
    // Read after the table: every commit in it was made to a topic this metadata knows of.
    let topics = metadata.current().state;
    // Removals are proposed only while this broker still leads in the epoch it planned in.
    let still_leading = || {
        let now = replica.leader();
        now.epoch == epoch && now.leader == Some(replica.node_id())
    };
    let membership = groups.membership();
    let activity = |group: &str| match membership.state(epoch, group) {
        None => Activity::Unknown,
        Some(_) => membership
            .empty_for(epoch, group)
            .map_or(Activity::Active, Activity::EmptyFor),
    };
    let plan = plan(
        &stored,
        activity,
        |name, id| topics.topic_deleted(name, id),
        now_ms,
        coordinating_since_ms,
        settings.retention,
    );
    for (topic, id) in plan.dropped_topics {
        if !still_leading() {
            return Ok(());
        }
        tracing::info!(%topic, ?id, partition = replica.partition, "dropping committed offsets of a deleted topic");
        table
            .propose(&OffsetsCommand::DropTopic { topic, id })
            .await?;
    }
    for (group, unchanged_since) in plan.expired {
        // A group that gained members since the plan keeps its offsets.
        if !still_leading() || membership.delete(epoch, &group).is_err() {
            continue;
        }
        tracing::info!(%group, "committed offsets expired (offsets.retention.minutes)");
        table
            .propose(&OffsetsCommand::Expire {
                group,
                unchanged_since,
            })
            .await?;
    }
    // Kafka drops an empty group without offsets at cleanup: it holds nothing worth listing.
    for group in membership.empty_groups(epoch, |g| groups.partition_of(g) == replica.partition) {
        if !stored.contains_key(&group) {
            let _ = membership.delete(epoch, &group);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::offsets::Committed;
    use crate::metadata::{MetadataState, TopicMeta};

    const MINUTE: i64 = 60_000;

    /// A metadata state holding the topics `live` (ids 100, 101, ...) and having deleted `deleted`.
    fn topics(live: &[&str], deleted: &[Uuid]) -> MetadataState {
        MetadataState {
            topics: live
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let meta = TopicMeta {
                        name: name.to_string(),
                        id: Uuid::from_u128(100 + i as u128),
                        partitions: Vec::new(),
                        configs: Default::default(),
                        leaders: Default::default(),
                    };
                    (name.to_string(), meta)
                })
                .collect(),
            deleted_topic_ids: deleted.iter().copied().collect(),
            ..MetadataState::default()
        }
    }
    const RETENTION: Duration = Duration::from_secs(60);

    fn stored(topic: &str, id: Option<Uuid>, committed_at_ms: i64, log_offset: i64) -> StoredGroup {
        StoredGroup {
            offsets: [(
                (topic.to_string(), 0),
                Committed {
                    offset: 1,
                    leader_epoch: -1,
                    metadata: None,
                    commit_timestamp_ms: committed_at_ms,
                    topic_id: id,
                },
            )]
            .into(),
            last_commit_at: KafkaOffset(log_offset),
        }
    }

    #[test]
    fn groups_expire_only_without_members_and_after_the_retention() {
        let id = Uuid::from_u128(7);
        let live = topics(&["t"], &[]);
        let now = 100 * MINUTE;
        let groups = HashMap::from([
            ("active".to_string(), stored("t", Some(id), 0, 1)),
            ("empty-long".to_string(), stored("t", Some(id), 0, 2)),
            ("empty-recently".to_string(), stored("t", Some(id), 0, 3)),
            ("standalone-old".to_string(), stored("t", Some(id), 0, 4)),
            (
                "standalone-fresh".to_string(),
                stored("t", Some(id), now - 1000, 5),
            ),
        ]);
        let activity = |g: &str| match g {
            "active" => Activity::Active,
            "empty-long" => Activity::EmptyFor(Duration::from_secs(61)),
            "empty-recently" => Activity::EmptyFor(Duration::from_secs(59)),
            _ => Activity::Unknown,
        };
        let plan = plan(
            &groups,
            activity,
            |n, id| live.topic_deleted(n, id),
            now,
            0,
            RETENTION,
        );
        assert!(plan.dropped_topics.is_empty());
        assert_eq!(
            plan.expired,
            vec![
                ("empty-long".to_string(), KafkaOffset(2)),
                ("standalone-old".to_string(), KafkaOffset(4))
            ]
        );
    }

    #[test]
    fn a_new_coordinator_waits_a_whole_retention_before_expiring() {
        let live = topics(&["t"], &[]);
        let groups = HashMap::from([("g".to_string(), stored("t", None, 0, 1))]);
        let now = 100 * MINUTE;
        let unknown = |_: &str| Activity::Unknown;
        let took_over = now - MINUTE / 2;
        assert!(
            plan(
                &groups,
                unknown,
                |n, id| live.topic_deleted(n, id),
                now,
                took_over,
                RETENTION
            )
            .expired
            .is_empty()
        );
        let took_over = now - MINUTE;
        assert_eq!(
            plan(
                &groups,
                unknown,
                |n, id| live.topic_deleted(n, id),
                now,
                took_over,
                RETENTION
            )
            .expired,
            vec![("g".to_string(), KafkaOffset(1))]
        );
    }

    #[test]
    fn offsets_of_deleted_or_recreated_topics_are_dropped() {
        let old = Uuid::from_u128(1);
        let new = Uuid::from_u128(2);
        let live = topics(&["recreated", "kept"], &[old]);
        let now = MINUTE;
        let groups = HashMap::from([
            ("a".to_string(), stored("recreated", Some(old), now, 1)),
            ("b".to_string(), stored("recreated", Some(new), now, 2)),
            ("c".to_string(), stored("gone", None, now, 3)),
            ("d".to_string(), stored("kept", None, now, 4)),
            // Created after what this metadata has seen: not deleted.
            (
                "e".to_string(),
                stored("unseen", Some(Uuid::from_u128(3)), now, 5),
            ),
        ]);
        let plan = plan(
            &groups,
            |_| Activity::Active,
            |n, id| live.topic_deleted(n, id),
            now,
            0,
            RETENTION,
        );
        assert_eq!(
            plan.dropped_topics,
            BTreeSet::from([
                ("gone".to_string(), None),
                ("recreated".to_string(), Some(old))
            ])
        );
        assert!(plan.expired.is_empty());
    }
}
