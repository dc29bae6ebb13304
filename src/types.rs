//! The ids and numbers several layers pass around, each a type of its own so the two position
//! spaces never mix: Raft's [`LogIndex`] (every entry has one) and Kafka's [`KafkaOffset`] (only
//! records take them). `raft/offsets.rs` alone relates one to the other. Kafka words above
//! `partition` (offset, leader epoch), Raft words below it (log index, term). Files and
//! reports store them as plain numbers.

use serde::{Deserialize, Serialize};

/// A broker's id (Kafka `node.id`), which is also its Raft node id.
pub type NodeId = u64;

/// A Raft term.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Term(pub u64);

/// A Kafka offset: the position of a record in a partition, as clients see it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct KafkaOffset(pub i64);

impl KafkaOffset {
    /// The offset `count` records further on.
    pub fn plus(self, count: u32) -> KafkaOffset {
        KafkaOffset(self.0 + i64::from(count))
    }
}

/// The position of an entry in a partition's Raft log (blank and membership entries included).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LogIndex(pub u64);

impl LogIndex {
    pub fn next(self) -> LogIndex {
        LogIndex(self.0 + 1)
    }

    /// The index before this one; `None` before the first.
    pub fn prev(self) -> Option<LogIndex> {
        self.0.checked_sub(1).map(LogIndex)
    }
}

macro_rules! display_inner {
    ($($name:ident),*) => {$(
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}
display_inner!(Term, KafkaOffset, LogIndex, LeaderEpoch);

/// Kafka's partition leader epoch: the Raft term of the leader, as a batch stores it. Kept in
/// the metadata log (as a plain number).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct LeaderEpoch(pub i32);

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
    fn epochs_saturate_and_serialize_as_numbers() {
        assert_eq!(LeaderEpoch::from(Term(3)), LeaderEpoch(3));
        assert_eq!(LeaderEpoch::from(Term(u64::MAX)), LeaderEpoch(i32::MAX));
        assert_eq!(
            serde_json::to_string(&LeaderEpoch(7)).expect("serialize"),
            "7"
        );
    }
}
