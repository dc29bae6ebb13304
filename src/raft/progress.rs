//! How far a leader's own log has moved over the last moments of its leadership: the reference
//! point of Kafka's in-sync rule (`replica.lag.time.max.ms`). `node.rs` asks it for each
//! in-sync check.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Where this node's log ended at moments of its current leadership, oldest first, kept for
/// as long as the in-sync test looks back.
#[derive(Debug, Default)]
pub(super) struct LeaderProgress {
    term: u64,
    samples: VecDeque<(Instant, u64)>,
}

/// Shortest time between two samples of [`LeaderProgress`].
const PROGRESS_SAMPLE_EVERY: Duration = Duration::from_millis(100);

impl LeaderProgress {
    /// Records `(now, last_index)` and returns the last log index this leader had `lag` ago
    /// (or when it was elected, if that is more recent).
    pub(super) fn reference(
        &mut self,
        term: u64,
        now: Instant,
        last_index: u64,
        lag: Duration,
    ) -> u64 {
        if self.term != term {
            self.term = term;
            self.samples.clear();
        }
        if self
            .samples
            .back()
            .is_none_or(|(at, _)| now.duration_since(*at) >= PROGRESS_SAMPLE_EVERY)
        {
            self.samples.push_back((now, last_index));
        }
        while self.samples.len() >= 2 && now.duration_since(self.samples[1].0) >= lag {
            self.samples.pop_front();
        }
        self.samples.front().map_or(last_index, |(_, index)| *index)
    }
}
