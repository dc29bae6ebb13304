//! Where a partition request goes on this broker: the hosted replica that serves it, and who
//! leads a partition as far as this broker can tell. `leadership.rs` records leaders; the
//! Kafka handlers ask these questions for every partition they touch.

use std::sync::Arc;
use std::time::Duration;

use super::{LeaderRecord, MetadataState, NodeId, TopicMeta};
use crate::partition::{self, Partitions, Replica};

/// The replica serving `topic`/`partition` here: a partition the metadata does not have is
/// unknown; one whose replica here would not open answers why (as Kafka answers for a replica
/// in an offline log directory); one it has but this broker does not host is led elsewhere.
pub fn hosted_replica(
    state: &MetadataState,
    partitions: &Partitions,
    topic: &str,
    partition: i32,
) -> Result<Arc<Replica>, partition::Error> {
    let Some(meta) = state
        .topics
        .get(topic)
        .filter(|meta| usize::try_from(partition).is_ok_and(|p| p < meta.partitions.len()))
    else {
        return Err(partition::Error::UnknownPartition);
    };
    if let Some(replica) = current(partitions, meta, partition) {
        return Ok(replica);
    }
    Err(partitions
        .failure(topic, partition)
        .unwrap_or(partition::Error::NotLeader { leader: None }))
}

/// The replica of `partition` of this incarnation of the topic, if one runs here (one of an
/// earlier incarnation may run until the reconciler stops it).
fn current(partitions: &Partitions, topic: &TopicMeta, partition: i32) -> Option<Arc<Replica>> {
    partitions
        .get(&topic.name, partition)
        .filter(|r| r.topic_id == Some(topic.id))
}

/// Whether this broker's replica of `partition` failed to open.
pub fn offline_here(partitions: &Partitions, topic: &TopicMeta, partition: i32) -> bool {
    partitions.failure(&topic.name, partition).is_some()
}

/// Who leads `partition`, in which epoch, with which replicas in sync: from the hosted replica
/// when it knows a leader at least as recent as the recorded one (its own ISR if it leads,
/// else the recorded ISR of that same leadership, else just the leader), otherwise as recorded;
/// no leader when it is a broker this one cannot reach. `lag` is `replica.lag.time.max.ms`.
pub fn leader_view(
    partitions: &Partitions,
    me: NodeId,
    lag: Duration,
    topic: &TopicMeta,
    partition: i32,
) -> Option<LeaderRecord> {
    let recorded = topic.leaders.get(&partition);
    let hosted = current(partitions, topic, partition);
    let running_here = hosted.is_some();
    let local = hosted.and_then(|replica| {
        let leadership = replica.leader();
        let leader = leadership.leader?;
        let isr = replica.in_sync_replicas(lag).unwrap_or_else(|| {
            recorded
                .filter(|r| r.leader == leader && r.epoch == leadership.epoch)
                .map_or_else(|| vec![leader], |r| r.isr.clone())
        });
        Some(LeaderRecord {
            leader,
            epoch: leadership.epoch,
            isr,
        })
    });
    let known = match (local, recorded) {
        (Some(local), Some(recorded)) if recorded.epoch > local.epoch => Some(recorded.clone()),
        (Some(local), _) => Some(local),
        (None, recorded) => recorded.cloned(),
    };
    // A leader this broker has lost its link to is most likely dead and about to be replaced:
    // reporting none makes clients ask again soon instead of waiting on a dead broker. This
    // broker leads only through a replica running here (a recorded leadership of one that no
    // longer opens is over).
    let reachable = partitions.reachable_peers();
    known.filter(|view| {
        if view.leader == me {
            running_here
        } else {
            reachable
                .as_ref()
                .is_none_or(|peers| peers.contains(&view.leader))
        }
    })
}
