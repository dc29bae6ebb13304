//! Idempotent producers' state in one partition (KIP-98): for each producer id its epoch and its
//! last [`KEPT_BATCHES`] batches (sequence range and offsets). The partition's state machine
//! records every applied batch here, so every replica holds the same table and a new leader needs
//! no hand-over; the leader checks each new batch against it ([`check`]) before appending.
//!
//! The rules are Kafka's: a batch repeating one of the kept ones is a duplicate (answered with
//! its first offsets, not appended again); an older epoch is refused; a new epoch starts at
//! sequence 0; within an epoch each batch continues the last one's sequence. A producer with no
//! state here (new, or expired) may start at any sequence (KIP-360).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::record::RecordBatch;
use crate::types::KafkaOffset;

/// Batches kept per producer: the most a producer may have in flight (Kafka's
/// `max.in.flight.requests.per.connection` limit for idempotence).
pub const KEPT_BATCHES: usize = 5;

/// The producer fields of a batch written by an idempotent producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
}

impl ProducerBatch {
    /// The producer fields of `batch`; `None` for a batch without a producer id.
    pub fn of(batch: &RecordBatch) -> Option<ProducerBatch> {
        let producer_id = batch.producer_id();
        if producer_id < 0 {
            return None;
        }
        let first_sequence = batch.base_sequence();
        Some(ProducerBatch {
            producer_id,
            epoch: batch.producer_epoch(),
            first_sequence,
            last_sequence: sequence_after(first_sequence, batch.last_offset_delta()),
        })
    }
}

/// The sequence `delta` records after `first`: sequences wrap from `i32::MAX` to 0.
fn sequence_after(first: i32, delta: i32) -> i32 {
    if first > i32::MAX - delta {
        first - (i32::MAX - delta) - 1
    } else {
        first + delta
    }
}

/// Whether `next` is the sequence right after `last`.
fn in_sequence(last: i32, next: i32) -> bool {
    next == sequence_after(last, 1)
}

/// One kept batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptBatch {
    pub first_sequence: i32,
    pub last_sequence: i32,
    /// Its first and last offsets; `None` while the leader has it in flight, not yet applied.
    pub offsets: Option<(KafkaOffset, KafkaOffset)>,
}

/// What a partition knows of one producer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first, at most [`KEPT_BATCHES`], all of `epoch`.
    pub batches: VecDeque<KeptBatch>,
    /// When this replica applied the newest batch (ms since the epoch), for
    /// `producer.id.expiration.ms`: the broker's clock, not the client's timestamps.
    pub last_applied_ms: i64,
}

impl ProducerEntry {
    /// A producer known by its epoch only, with no batch yet.
    pub fn new(epoch: i16) -> ProducerEntry {
        ProducerEntry {
            epoch,
            batches: VecDeque::new(),
            last_applied_ms: 0,
        }
    }

    /// The last offset of the newest batch applied: a batch at or below it is already counted
    /// (a table taken from a snapshot may be ahead of the entries applied after it).
    pub fn last_offset(&self) -> Option<KafkaOffset> {
        self.batches
            .back()
            .and_then(|b| b.offsets)
            .map(|(_, last)| last)
    }

    /// Adds a batch of `epoch` (a newer epoch starts afresh), keeping the newest ones.
    pub fn push(&mut self, epoch: i16, batch: KeptBatch) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        self.batches.push_back(batch);
        while self.batches.len() > KEPT_BATCHES {
            self.batches.pop_front();
        }
    }
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    #[error("producer {producer_id} epoch {epoch} is older than the current {current}")]
    InvalidEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error(
        "producer {producer_id} epoch {epoch}: sequence {first_sequence} does not follow {expected_after:?}"
    )]
    OutOfOrder {
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
        /// The last sequence written in this epoch; `None` when a new epoch must start at 0.
        expected_after: Option<i32>,
    },
    #[error("producer {producer_id} epoch {epoch}: negative base sequence {first_sequence}")]
    NoSequence {
        producer_id: i64,
        epoch: i16,
        first_sequence: i32,
    },
}

/// What to do with a new batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// It repeats this kept batch: answer with its offsets, append nothing.
    Duplicate(KeptBatch),
}

/// Checks `batch` against what is known of its producer (`None`: nothing).
pub fn check(
    entry: Option<&ProducerEntry>,
    batch: &ProducerBatch,
) -> Result<Verdict, SequenceError> {
    if batch.first_sequence < 0 {
        return Err(SequenceError::NoSequence {
            producer_id: batch.producer_id,
            epoch: batch.epoch,
            first_sequence: batch.first_sequence,
        });
    }
    let Some(entry) = entry else {
        return Ok(Verdict::Append);
    };
    if batch.epoch < entry.epoch {
        return Err(SequenceError::InvalidEpoch {
            producer_id: batch.producer_id,
            epoch: batch.epoch,
            current: entry.epoch,
        });
    }
    let out_of_order = |expected_after| SequenceError::OutOfOrder {
        producer_id: batch.producer_id,
        epoch: batch.epoch,
        first_sequence: batch.first_sequence,
        expected_after,
    };
    if batch.epoch > entry.epoch {
        return match batch.first_sequence {
            0 => Ok(Verdict::Append),
            _ => Err(out_of_order(None)),
        };
    }
    if let Some(kept) = entry.batches.iter().find(|k| {
        k.first_sequence == batch.first_sequence && k.last_sequence == batch.last_sequence
    }) {
        return Ok(Verdict::Duplicate(*kept));
    }
    match entry.batches.back() {
        Some(last) if !in_sequence(last.last_sequence, batch.first_sequence) => {
            Err(out_of_order(Some(last.last_sequence)))
        }
        _ => Ok(Verdict::Append),
    }
}

/// Every producer known to one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerTable {
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerTable {
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, &ProducerEntry)> {
        self.producers.iter().map(|(id, entry)| (*id, entry))
    }

    /// Records a batch applied at `now_ms` at `first_offset..=last_offset`. Every replica
    /// records the same batches in the same order, so every replica holds the same table. A
    /// batch the table already counts (at or below the producer's last offset) changes nothing,
    /// nor does one of an epoch older than the producer's (the leader refused such batches).
    pub fn record(
        &mut self,
        batch: &ProducerBatch,
        first_offset: KafkaOffset,
        last_offset: KafkaOffset,
        now_ms: i64,
    ) {
        let entry = self
            .producers
            .entry(batch.producer_id)
            .or_insert_with(|| ProducerEntry::new(batch.epoch));
        if entry.last_offset().is_some_and(|last| first_offset <= last) || batch.epoch < entry.epoch
        {
            return;
        }
        entry.push(
            batch.epoch,
            KeptBatch {
                first_sequence: batch.first_sequence,
                last_sequence: batch.last_sequence,
                offsets: Some((first_offset, last_offset)),
            },
        );
        entry.last_applied_ms = now_ms;
    }

    /// Forgets producers with no batch applied for `expiration_ms` before `now_ms` (Kafka's
    /// `producer.id.expiration.ms`): a producer idle that long starts afresh.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) {
        self.producers
            .retain(|_, entry| now_ms.saturating_sub(entry.last_applied_ms) < expiration_ms);
    }
}

#[cfg(test)]
mod tests;
