//! Raft timing of a partition's Raft node: heartbeats and election timeouts, from the cluster
//! settings. `node.rs` hands it to openraft.

use crate::config::ClusterConfig;

/// Raft timing of a group, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    /// Each election timeout is drawn from `election_timeout_min_ms..election_timeout_max_ms`.
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
}

impl Default for RaftTiming {
    /// openraft's defaults.
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 50,
            election_timeout_min_ms: 150,
            election_timeout_max_ms: 300,
        }
    }
}

impl RaftTiming {
    /// Heartbeats every `rtt_ms × heartbeat_rtt`; elections after `rtt_ms × election_rtt` to
    /// 1.5 times that (config validation keeps `election_rtt >= 2 × heartbeat_rtt`). A follower
    /// campaigns only after the leader's lease (the longest timeout) and then its own timeout
    /// pass, so a narrower spread detects a dead leader sooner; half a timeout of randomness is
    /// still far more than a vote's round trip, so split votes stay rare.
    pub fn from_cluster(cluster: &ClusterConfig) -> RaftTiming {
        let election = cluster.rtt_ms.saturating_mul(cluster.election_rtt);
        RaftTiming {
            heartbeat_ms: cluster.rtt_ms.saturating_mul(cluster.heartbeat_rtt),
            election_timeout_min_ms: election,
            election_timeout_max_ms: election.saturating_add(election / 2),
        }
    }
}
