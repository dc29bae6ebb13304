//! The read side of a partition's Raft log, shared by openraft's replication tasks and the state
//! machine worker: entries straight from the segment mappings, and the current vote.
//! `log_store.rs` is the single writer.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, Mutex};

use openraft::{OptionalSend, RaftLogReader};

use super::codec;
use super::types::{Entry, TypeConfig, Vote};
use crate::storage::LogReader;
use crate::types::LogIndex;

/// A cheap clone-able handle; every clone sees new entries as soon as `append` returns.
#[derive(Debug, Clone)]
pub struct LogStoreReader {
    pub(super) log: LogReader,
    /// The vote as last made durable by the store.
    pub(super) vote: Arc<Mutex<Option<Vote>>>,
}

impl LogStoreReader {
    /// The storage reader underneath, for reads by offset (Fetch).
    pub fn log(&self) -> &LogReader {
        &self.log
    }
}

impl RaftLogReader<TypeConfig> for LogStoreReader {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        let bound = |b: Bound<&u64>| b.map(|&i| LogIndex(i));
        self.log
            .entries((bound(range.start_bound()), bound(range.end_bound())))?
            .into_iter()
            .map(codec::from_storage)
            .collect()
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        Ok(*self.vote.lock().unwrap_or_else(|e| e.into_inner()))
    }
}
