//! The leader's half of idempotent producers: a batch with a producer id is checked against
//! the state machine's producer table plus the batches this leader has in flight, then handed to
//! Raft, all under one lock, so check and append are one step and batches enter the log in the
//! order they were checked. A duplicate is answered with the offsets of the batch it repeats,
//! waiting for that batch if it is still in flight. `crate::producer` holds the rules.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;

use super::Error;
use crate::producer::{self, KeptBatch, ProducerBatch, ProducerEntry, Verdict};
use crate::raft::RaftNode;
use crate::record::RecordBatch;
use crate::types::{KafkaOffset, Term};

/// How long a new leader may take to apply the entries of earlier terms before it can check a
/// producer's sequence; a client asking earlier is told to retry.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);

/// What an in-flight batch became: its base offset, or why it failed.
type Outcome = Option<Result<KafkaOffset, Error>>;

struct InFlightBatch {
    id: u64,
    producer: ProducerBatch,
    outcome: watch::Receiver<Outcome>,
}

/// The batches with a producer id this leader has handed to Raft in `term` and not yet seen
/// applied.
#[derive(Default)]
struct InFlight {
    term: Term,
    next_id: u64,
    batches: Vec<InFlightBatch>,
}

impl InFlight {
    fn remove(&mut self, id: u64) {
        self.batches.retain(|b| b.id != id);
    }
}

#[derive(Default)]
pub(super) struct Sequencer {
    /// Held from the check to the hand-over to Raft.
    order: tokio::sync::Mutex<()>,
    in_flight: Arc<Mutex<InFlight>>,
}

impl std::fmt::Debug for Sequencer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sequencer").finish_non_exhaustive()
    }
}

impl Sequencer {
    /// Appends `batch` of `producer` through `raft` unless it repeats a batch already written;
    /// returns its base offset (the original one for a duplicate) once committed.
    pub(super) async fn append(
        &self,
        raft: &RaftNode,
        batch: RecordBatch,
        producer: ProducerBatch,
    ) -> Result<KafkaOffset, Error> {
        let order = self.order.lock().await;
        let term = raft
            .leading_term_applied(CATCH_UP_WAIT)
            .await
            .map_err(super::replica::write_error)?;
        // In-flight first, then applied: a batch leaves the first only once it is in the second.
        let in_flight: Vec<(ProducerBatch, watch::Receiver<Outcome>)> = {
            let mut flights = self.lock_in_flight();
            if flights.term != term {
                // Left from an earlier leadership: whatever of it survived has been applied.
                flights.batches.clear();
                flights.term = term;
            }
            flights
                .batches
                .iter()
                .filter(|b| b.producer.producer_id == producer.producer_id)
                .map(|b| (b.producer, b.outcome.clone()))
                .collect()
        };
        let mut entry = raft.producers().lock().get(producer.producer_id).cloned();
        for (flight, _) in &in_flight {
            add_in_flight(&mut entry, flight);
        }
        match producer::check(entry.as_ref(), &producer)? {
            Verdict::Duplicate(KeptBatch {
                offsets: Some((first, _)),
                ..
            }) => Ok(first),
            Verdict::Duplicate(kept) => {
                drop(order);
                let outcome = in_flight
                    .into_iter()
                    .find(|(b, _)| {
                        b.epoch == producer.epoch
                            && b.first_sequence == kept.first_sequence
                            && b.last_sequence == kept.last_sequence
                    })
                    .map(|(_, outcome)| outcome)
                    .ok_or(Error::NotLeader { leader: None })?;
                wait_for(outcome).await
            }
            Verdict::Append => {
                let submitted = raft
                    .submit(batch, term)
                    .await
                    .map_err(super::replica::write_error)?;
                let (tx, rx) = watch::channel(None);
                let id = {
                    let mut flights = self.lock_in_flight();
                    let id = flights.next_id;
                    flights.next_id += 1;
                    flights.batches.push(InFlightBatch {
                        id,
                        producer,
                        outcome: rx.clone(),
                    });
                    id
                };
                drop(order);
                // Its own task, so the batch leaves the in-flight list even if the request
                // waiting for it goes away.
                let in_flight = Arc::clone(&self.in_flight);
                tokio::spawn(async move {
                    let outcome = submitted.outcome().await;
                    in_flight
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .remove(id);
                    let outcome =
                        outcome
                            .map_err(super::replica::write_error)
                            .and_then(|applied| {
                                applied.base_offset.ok_or(Error::Storage(
                                    super::StorageError::AppliedWithoutOffsets,
                                ))
                            });
                    let _ = tx.send(Some(outcome));
                });
                wait_for(rx).await
            }
        }
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Adds an in-flight batch to what the table knows of its producer, unless the table has it
/// already (applied after the in-flight list was read).
fn add_in_flight(entry: &mut Option<ProducerEntry>, flight: &ProducerBatch) {
    let entry = entry.get_or_insert_with(|| ProducerEntry::new(flight.epoch));
    let known = entry.epoch == flight.epoch
        && entry.batches.iter().any(|k| {
            k.first_sequence == flight.first_sequence && k.last_sequence == flight.last_sequence
        });
    if !known && flight.epoch >= entry.epoch {
        entry.push(
            flight.epoch,
            KeptBatch {
                first_sequence: flight.first_sequence,
                last_sequence: flight.last_sequence,
                offsets: None,
            },
        );
    }
}

async fn wait_for(mut outcome: watch::Receiver<Outcome>) -> Result<KafkaOffset, Error> {
    match outcome.wait_for(Option::is_some).await {
        Ok(done) => done.clone().expect("waited for an outcome"),
        // The task publishing it ended without: the Raft instance stopped.
        Err(_) => Err(Error::NotLeader { leader: None }),
    }
}
