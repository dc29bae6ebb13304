//! What the state machine shares with readers outside openraft's task: the idempotent
//! producers' table and the log start offset DeleteRecords set, both as of last applied. The
//! state machine alone changes them (expiry aside); the partition reads them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::producer::ProducerTable;
use crate::types::KafkaOffset;

/// The idempotent producers' table as of last applied, shared with the leader's checks
/// (`partition::Replica`), which read it under the lock.
#[derive(Debug, Clone, Default)]
pub struct SharedProducers(Arc<Mutex<ProducerTable>>);

impl SharedProducers {
    pub(super) fn new(table: ProducerTable) -> SharedProducers {
        SharedProducers(Arc::new(Mutex::new(table)))
    }

    pub fn lock(&self) -> MutexGuard<'_, ProducerTable> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn replace(&self, table: ProducerTable) {
        *self.lock() = table;
    }
}

/// The log start offset DeleteRecords set, as of last applied (0 until then), shared with the
/// replica's readers: no record below it is served, whatever segments are still on disk.
#[derive(Debug, Clone, Default)]
pub struct DeletedBelow(Arc<AtomicI64>);

impl DeletedBelow {
    pub(super) fn new(offset: KafkaOffset) -> DeletedBelow {
        DeletedBelow(Arc::new(AtomicI64::new(offset.0)))
    }

    pub fn get(&self) -> KafkaOffset {
        KafkaOffset(self.0.load(Ordering::Acquire))
    }

    pub(super) fn raise_to(&self, offset: KafkaOffset) {
        self.0.fetch_max(offset.0, Ordering::AcqRel);
    }

    pub(super) fn set(&self, offset: KafkaOffset) {
        self.0.store(offset.0, Ordering::Release);
    }
}
