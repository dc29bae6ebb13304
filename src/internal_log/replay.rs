//! The pure part of applying an internal log: a state, the offset it started reading at, and
//! how far it has applied. No IO and no clock, so a test can replay a log held in a `Vec`.
//! `applier.rs` feeds it the committed records of a replica.

use super::{AppliedState, Step};
use crate::types::KafkaOffset;

/// One replay of a log into a state, from the log start it saw.
#[derive(Debug)]
pub struct Replay<S> {
    state: S,
    /// The log offset this replay started reading at.
    origin: KafkaOffset,
    /// Every record below this offset has been applied (or skipped).
    next: KafkaOffset,
}

impl<S: AppliedState> Replay<S> {
    /// A replay of a log whose first record is at `log_start`.
    pub fn starting_at(log_start: KafkaOffset) -> Replay<S> {
        Replay {
            state: S::starting_at(log_start),
            origin: log_start,
            next: log_start,
        }
    }

    pub fn state(&self) -> &S {
        &self.state
    }

    /// The offset of the next record to apply: every record below it has been applied.
    pub fn next(&self) -> KafkaOffset {
        self.next
    }

    /// Applies the command found at `offset` (its record `bytes` long). `Some` is the outcome
    /// for a proposer; `None` when the state asked to read again from an earlier offset.
    pub fn apply(
        &mut self,
        offset: KafkaOffset,
        bytes: u64,
        command: S::Command,
    ) -> Option<S::Outcome> {
        match self.state.apply(offset, bytes, command) {
            Step::Applied(outcome) => {
                self.next = offset.plus(1);
                Some(outcome)
            }
            Step::Rewind(to) => {
                self.next = to;
                None
            }
        }
    }

    /// Passes over the unreadable record at `offset`, as every replica does.
    pub fn skip(&mut self, offset: KafkaOffset) {
        self.next = offset.plus(1);
    }

    /// Whether a log now starting at `log_start` is no longer the one this replay read: its start
    /// passed what was applied, or reached it once something was. A state's own compaction
    /// purges only below what it applied, so either means the log was replaced from the leader's
    /// snapshot (possibly after this replay read entries below the new start that were never
    /// committed), and the state must be loaded again, as after a restart.
    pub fn replaced_by(&self, log_start: KafkaOffset) -> bool {
        log_start > self.next || (log_start == self.next && self.next > self.origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums the values of its log; `-1` is a checkpoint that a replay starting past 0 loads from
    /// (its offset holds the sum of everything below it), `-2` a value it refuses.
    #[derive(Debug, Default)]
    struct Sum {
        total: i64,
        loading: bool,
        applied: Vec<KafkaOffset>,
    }

    impl AppliedState for Sum {
        type Command = i64;
        type Outcome = Result<(), ()>;
        type View = ();

        fn starting_at(log_start: KafkaOffset) -> Sum {
            Sum {
                loading: log_start > KafkaOffset(0),
                ..Sum::default()
            }
        }

        fn is_loaded(&self) -> bool {
            !self.loading
        }

        fn apply(&mut self, offset: KafkaOffset, _bytes: u64, value: i64) -> Step<Result<(), ()>> {
            match value {
                -1 if self.loading => {
                    self.loading = false;
                    self.total = offset.0;
                    Step::Rewind(offset.plus(1))
                }
                -2 => Step::Applied(Err(())),
                _ if self.loading || value < 0 => Step::Applied(Ok(())),
                _ => {
                    self.total += value;
                    self.applied.push(offset);
                    Step::Applied(Ok(()))
                }
            }
        }

        fn view(&self, _next_offset: KafkaOffset) {}
    }

    #[test]
    fn commands_apply_in_order_and_outcomes_are_the_states() {
        let mut replay = Replay::<Sum>::starting_at(KafkaOffset(0));
        assert!(replay.state().is_loaded());
        assert_eq!(replay.apply(KafkaOffset(0), 1, 5), Some(Ok(())));
        assert_eq!(replay.apply(KafkaOffset(1), 1, -2), Some(Err(())));
        replay.skip(KafkaOffset(2));
        assert_eq!(replay.apply(KafkaOffset(3), 1, 7), Some(Ok(())));
        assert_eq!(replay.next(), KafkaOffset(4));
        assert_eq!(replay.state().total, 12);
        assert_eq!(replay.state().applied, vec![KafkaOffset(0), KafkaOffset(3)]);
    }

    #[test]
    fn a_rewind_reads_again_from_where_the_state_says() {
        let mut replay = Replay::<Sum>::starting_at(KafkaOffset(2));
        assert!(!replay.state().is_loaded());
        assert_eq!(replay.apply(KafkaOffset(2), 1, 9), Some(Ok(())));
        assert_eq!(replay.apply(KafkaOffset(3), 1, -1), None);
        assert!(replay.state().is_loaded());
        assert_eq!(replay.next(), KafkaOffset(4));
        assert_eq!(replay.apply(KafkaOffset(4), 1, 1), Some(Ok(())));
        assert_eq!(replay.state().total, 4);
    }

    #[test]
    fn a_log_start_at_or_past_what_was_applied_means_the_log_was_replaced() {
        let fresh = Replay::<Sum>::starting_at(KafkaOffset(5));
        assert!(
            !fresh.replaced_by(KafkaOffset(5)),
            "nothing applied yet: the same log"
        );
        assert!(fresh.replaced_by(KafkaOffset(6)));
        let mut replay = Replay::<Sum>::starting_at(KafkaOffset(0));
        for offset in (0..4).map(KafkaOffset) {
            replay.apply(offset, 1, 1);
        }
        assert!(!replay.replaced_by(KafkaOffset(0)));
        assert!(
            !replay.replaced_by(KafkaOffset(3)),
            "compaction keeps the start below what was applied"
        );
        assert!(replay.replaced_by(KafkaOffset(4)));
        assert!(replay.replaced_by(KafkaOffset(9)));
    }
}
