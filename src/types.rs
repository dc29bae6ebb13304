//! The numbers every layer passes around, each a type of its own so the two offset spaces never
//! mix: Raft's [`LogIndex`] (every entry has one) and Kafka's [`KafkaOffset`] (only records take
//! them). `raft/offsets.rs` alone converts between them. Kafka words above `partition`
//! (offset, leader epoch), Raft words below it (log index, term).

use serde::{Deserialize, Serialize};

/// A broker's id (Kafka `node.id`), which is also its Raft node id.
pub type NodeId = u64;

macro_rules! number {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

number!(
    /// A Kafka offset: the position of a record in a partition, as clients see it.
    KafkaOffset(i64)
);
number!(
    /// The position of an entry in a partition's Raft log.
    LogIndex(u64)
);
number!(
    /// A Raft term.
    Term(u64)
);
number!(
    /// Kafka's partition leader epoch: the Raft term of the leader, as a batch stores it.
    LeaderEpoch(i32)
);
number!(
    /// An idempotent or transactional producer's id.
    ProducerId(i64)
);

impl KafkaOffset {
    /// The offset `count` records further on.
    pub fn plus(self, count: u32) -> KafkaOffset {
        KafkaOffset(self.0 + i64::from(count))
    }
}

impl From<Term> for LeaderEpoch {
    /// Terms beyond `i32::MAX` (never reached in practice) saturate.
    fn from(term: Term) -> LeaderEpoch {
        LeaderEpoch(term.0.min(i32::MAX as u64) as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_saturate_and_offsets_move_on() {
        assert_eq!(LeaderEpoch::from(Term(3)), LeaderEpoch(3));
        assert_eq!(LeaderEpoch::from(Term(u64::MAX)), LeaderEpoch(i32::MAX));
        assert_eq!(KafkaOffset(10).plus(5), KafkaOffset(15));
        assert_eq!(
            serde_json::to_string(&KafkaOffset(7)).expect("serialize"),
            "7"
        );
    }
}
