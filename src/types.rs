//! The ids and numbers several layers pass around, each a type of its own so Raft's words (term)
//! and Kafka's (leader epoch) never mix. Kafka words above `partition`, Raft words below it.

use serde::{Deserialize, Serialize};

/// A broker's id (Kafka `node.id`), which is also its Raft node id.
pub type NodeId = u64;

/// A Raft term.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Term(pub u64);

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
