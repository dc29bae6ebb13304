//! `queued.max.request.bytes`: one budget of request bytes held in memory, shared by every
//! connection. A connection reads its next request only while the budget has room (as Kafka's
//! non-strict memory pool, the request that fills it may overshoot it by its own size), and
//! waits for room otherwise; bytes return when the answer is written.

use tokio::sync::watch;

/// The request bytes all connections hold, against a limit.
#[derive(Debug)]
pub(crate) struct RequestBudget {
    limit: usize,
    held: watch::Sender<usize>,
}

impl RequestBudget {
    pub fn new(limit: usize) -> RequestBudget {
        RequestBudget {
            limit,
            held: watch::Sender::new(0),
        }
    }

    /// Whether a connection may read another request now.
    pub fn has_room(&self) -> bool {
        *self.held.borrow() < self.limit
    }

    pub fn take(&self, bytes: usize) {
        self.held.send_modify(|held| *held += bytes);
    }

    pub fn give_back(&self, bytes: usize) {
        self.held
            .send_modify(|held| *held = held.saturating_sub(bytes));
    }

    /// Resolves on the next change of the held bytes; a change made after `watcher` was
    /// created is never missed.
    pub fn watcher(&self) -> watch::Receiver<usize> {
        self.held.subscribe()
    }

    #[cfg(test)]
    pub fn held(&self) -> usize {
        *self.held.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn room_returns_with_the_bytes_and_wakes_a_waiter() {
        let budget = std::sync::Arc::new(RequestBudget::new(100));
        budget.take(60);
        assert!(budget.has_room());
        budget.take(60);
        assert!(
            !budget.has_room(),
            "one request may overshoot, the next waits"
        );
        let mut watcher = budget.watcher();
        let waiter = {
            let budget = std::sync::Arc::clone(&budget);
            tokio::spawn(async move {
                while !budget.has_room() {
                    watcher.changed().await.expect("budget alive");
                }
            })
        };
        budget.give_back(60);
        waiter.await.expect("woken");
        assert_eq!(budget.held(), 60);
    }
}
