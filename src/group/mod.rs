//! Consumer groups: membership (join, sync, heartbeat, leave, rebalances), offset commits and
//! committed offsets. Offsets are records of the internal `__consumer_offsets` topic, whose
//! partitions are replicated like any other; the coordinator of consumer group G is the leader of
//! partition `hash(G) mod offsets.topic.num.partitions`, so coordination moves with Raft
//! leadership and a new coordinator serves the offsets its replica already holds.
//! `membership/` holds the live groups, `commit.rs` OffsetCommit, `offsets/` the committed
//! offsets, `expiry.rs` and `compaction.rs` their cleanup.

pub mod commit;
pub mod compaction;
pub mod expiry;
pub mod membership;
pub mod offsets;

use std::sync::Arc;

use crate::partition::{Partitions, Replica};
use membership::Membership;
use offsets::{OffsetsPartition, OffsetsTables};

pub use crate::metadata::OFFSETS_TOPIC;

/// Why this broker cannot act as the coordinator of a group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatorError {
    /// Another broker leads the group's offsets partition: the client must find it again.
    #[error("this broker is not the coordinator of group '{0}'")]
    NotCoordinator(String),
    /// The offsets partition has no leader yet, or the offsets topic does not exist yet.
    #[error("no coordinator for group '{0}' is available yet")]
    NotAvailable(String),
}

/// The `__consumer_offsets` partition of `group_id` among `partitions`, placed as Kafka places
/// it (Java's `String.hashCode`, sign dropped, modulo the count), so tools that compute it agree.
pub fn offsets_partition(group_id: &str, partitions: u32) -> i32 {
    let hash = group_id.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    // Kafka's `Utils.abs`: `Integer.MIN_VALUE` maps to 0.
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1) as i32
}

/// The consumer-group services of this broker.
#[derive(Debug)]
pub struct Groups {
    partitions: Arc<Partitions>,
    /// `offsets.topic.num.partitions`.
    offsets_partitions: u32,
    offsets: OffsetsTables,
    /// Live membership of the groups coordinated here.
    membership: Membership,
}

impl Groups {
    pub fn new(
        partitions: Arc<Partitions>,
        offsets_partitions: u32,
        membership: Membership,
    ) -> Self {
        Groups {
            partitions,
            offsets_partitions,
            offsets: OffsetsTables::default(),
            membership,
        }
    }

    /// Members, generations and rebalances of the groups coordinated here.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// `offsets.topic.num.partitions`.
    pub fn offsets_partitions(&self) -> u32 {
        self.offsets_partitions
    }

    /// The offsets partition of `group_id`.
    pub fn partition_of(&self, group_id: &str) -> i32 {
        offsets_partition(group_id, self.offsets_partitions)
    }

    /// The replica through which this broker coordinates `group_id`: its offsets partition,
    /// which this broker must host and lead.
    pub fn coordinator(&self, group_id: &str) -> Result<Arc<Replica>, CoordinatorError> {
        let partition = self.partition_of(group_id);
        let replica = self
            .partitions
            .get(OFFSETS_TOPIC, partition)
            .ok_or_else(|| CoordinatorError::NotCoordinator(group_id.to_string()))?;
        let leadership = replica.leader();
        match leadership.leader {
            Some(leader) if leader == replica.node_id() => Ok(replica),
            Some(_) => Err(CoordinatorError::NotCoordinator(group_id.to_string())),
            None => Err(CoordinatorError::NotAvailable(group_id.to_string())),
        }
    }
}

impl Groups {
    /// The committed offsets of the partition that holds `group_id`'s, if this broker
    /// coordinates the group.
    pub fn offsets(&self, group_id: &str) -> Result<Arc<OffsetsPartition>, CoordinatorError> {
        let replica = self.coordinator(group_id)?;
        Ok(self.offsets.of(&replica))
    }

    /// The committed offsets of `replica`, an offsets partition hosted here.
    pub fn offsets_table(&self, replica: &Arc<Replica>) -> Arc<OffsetsPartition> {
        self.offsets.of(replica)
    }

    /// Every group with committed offsets in the offsets partitions this broker leads (Kafka
    /// lists such groups even when no member has joined since the coordinator took over).
    pub async fn groups_with_offsets(&self) -> Result<Vec<String>, offsets::OffsetsError> {
        let mut found = Vec::new();
        for replica in self.led_offsets_partitions() {
            found.extend(self.offsets.of(&replica).group_ids().await?);
        }
        Ok(found)
    }

    /// The offsets partitions this broker hosts, led or not.
    pub fn hosted_offsets_partitions(&self) -> Vec<Arc<Replica>> {
        self.partitions
            .all()
            .into_iter()
            .filter(|r| r.topic == OFFSETS_TOPIC)
            .collect()
    }

    /// The offsets partitions this broker leads: the groups it coordinates.
    pub fn led_offsets_partitions(&self) -> Vec<Arc<Replica>> {
        self.hosted_offsets_partitions()
            .into_iter()
            .filter(|r| r.leader().leader == Some(r.node_id()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_placed_as_kafka_places_them() {
        // Java: Math.abs("my-group".hashCode()) % 50 and friends.
        assert_eq!(offsets_partition("", 50), 0);
        assert_eq!(offsets_partition("a", 50), 97 % 50);
        assert_eq!(offsets_partition("ab", 50), (97 * 31 + 98) % 50);
        // Java's hash codes: "my-group" -1906497762, "raftka" -938508973, "ä" 228.
        assert_eq!(offsets_partition("my-group", 50), 12);
        assert_eq!(offsets_partition("raftka", 50), 23);
        assert_eq!(offsets_partition("consumers-1", 50), 45);
        assert_eq!(offsets_partition("ä", 50), 28);
        assert_eq!(offsets_partition("anything", 1), 0);
    }
}
