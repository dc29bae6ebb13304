//! The groups this broker holds: each in a cell with the coordinator epoch it was created under
//! and the timer task that runs its deadlines. `mod.rs` looks groups up and drives requests.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tokio::sync::Notify;
use tokio::time::{Instant, sleep_until};

use super::state::Group;
use super::{CoordinatorEpoch, GroupError};

/// One group, its coordinator epoch and the timer task's wake-up.
#[derive(Debug)]
pub(super) struct Cell {
    pub(super) epoch: CoordinatorEpoch,
    group: Mutex<Group>,
    /// Set once the group left the registry; the timer task then ends.
    removed: AtomicBool,
    pub(super) wake: Notify,
}

impl Cell {
    pub(super) fn new(epoch: CoordinatorEpoch, group: Group) -> Cell {
        Cell {
            epoch,
            group: Mutex::new(group),
            removed: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// The group left the registry: answers its parked requests with `error` and ends its timer
    /// task.
    pub(super) fn retire(&self, error: GroupError) {
        self.lock().kill(error);
        self.removed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }
}

#[derive(Debug, Default)]
pub(super) struct Registry {
    groups: Mutex<HashMap<String, Arc<Cell>>>,
}

impl Registry {
    pub(super) fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Cell>>> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every group held, without holding the registry's lock afterwards.
    pub(super) fn cells(&self) -> Vec<(String, Arc<Cell>)> {
        self.lock()
            .iter()
            .map(|(id, cell)| (id.clone(), Arc::clone(cell)))
            .collect()
    }

    /// Removes `group_id` if it is still `cell`, answering parked requests with `error`.
    pub(super) fn remove(&self, group_id: &str, cell: &Arc<Cell>, error: GroupError) {
        let mut groups = self.lock();
        if groups.get(group_id).is_some_and(|c| Arc::ptr_eq(c, cell)) {
            groups.remove(group_id);
        }
        drop(groups);
        cell.retire(error);
    }
}

/// The timer task of one group: sleeps until its next deadline (or a change), runs what is
/// due, forgets the group once it is disposable, and ends when the group is removed.
pub(super) async fn drive(group_id: String, cell: Arc<Cell>, registry: Weak<Registry>) {
    loop {
        if cell.is_removed() {
            return;
        }
        let next = cell.lock().next_deadline();
        match next {
            Some(at) => {
                tokio::select! {
                    _ = sleep_until(at) => {}
                    _ = cell.wake.notified() => {}
                }
            }
            None => cell.wake.notified().await,
        }
        if cell.is_removed() {
            return;
        }
        let disposable = {
            let mut group = cell.lock();
            group.tick(Instant::now());
            group.is_disposable()
        };
        if disposable {
            let Some(registry) = registry.upgrade() else {
                return;
            };
            registry.remove(&group_id, &cell, GroupError::CoordinatorNotAvailable);
            return;
        }
    }
}
