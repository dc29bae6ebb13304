//! Log compaction (`cleanup.policy=compact`), done by every replica on its own copy of the log,
//! as Kafka's log cleaner does: the newest record of each key stays, older ones go.
//!
//! Only sealed segments whose entries are all applied (so committed: no Raft cut reaches them)
//! are touched, and each keeps every entry: a record batch loses records but keeps its header,
//! so offsets never move, Raft indexes stay contiguous, and a batch left without records still
//! takes its offsets (consumers step over it). The producer fields of every batch stay too, so
//! idempotent-producer state rebuilt from the log is unchanged.
//!
//! A pass maps key → newest offset over the *dirty* segments (those past the cleaner
//! checkpoint, `cleaner_offset` beside the segments), up to a memory budget, then rewrites every
//! segment up to the last one mapped: a record goes when a newer one has its key, when it has no
//! key (Kafka's cleaner drops those too), or when it is a tombstone (null value) older than
//! `delete.retention.ms`. Control batches stay whole. Replicas that compacted the same segments
//! hold the same records; one behind holds older records too, never different ones.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::path::Path;

use bytes::Bytes;

use super::codec::KIND_RECORDS;
use super::log_store::{LogMaintenance, blocking};
use super::node::RaftNode;
use super::node_error::RaftNodeError;
use crate::record::RecordBatch;
use crate::storage::{self, LogReader, SealedSegment, StateFile, StoredEntry};
use crate::types::{KafkaOffset, LogIndex};

/// File beside the segments holding the cleaner checkpoint: the offset below which the log
/// is compacted (8 bytes, big-endian).
pub const CLEANER_FILE: &str = "cleaner_offset";

/// Bytes one key takes in the map: a 128-bit hash, an offset, and the table's overhead.
const KEY_MAP_ENTRY_BYTES: usize = 40;

/// A compacted topic's settings, in the units a pass uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionPolicy {
    /// Tombstones older than this go (`delete.retention.ms`).
    pub delete_retention_ms: i64,
    /// Segments holding a record younger than this are not compacted yet
    /// (`min.compaction.lag.ms`).
    pub min_compaction_lag_ms: i64,
    /// A dirty segment whose newest record is older than this is compacted whatever the dirty
    /// ratio (`max.compaction.lag.ms`).
    pub max_compaction_lag_ms: i64,
    /// Share of dirty bytes in the compactable log above which a pass runs
    /// (`min.cleanable.dirty.ratio`).
    pub min_cleanable_dirty_ratio: f64,
    /// Memory one pass may use for its key map (`log.cleaner.dedupe.buffer.size`).
    pub key_map_bytes: usize,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Compacted {
    pub segments_rewritten: usize,
    pub records_removed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// The log is compacted below this offset now.
    pub cleaned_to: KafkaOffset,
}

/// The cleaner checkpoint of one replica.
pub(super) struct CleanerCheckpoint {
    file: StateFile,
}

impl CleanerCheckpoint {
    pub fn open(dir: &Path) -> CleanerCheckpoint {
        CleanerCheckpoint {
            file: StateFile::new(dir.join(CLEANER_FILE)),
        }
    }

    /// Where the dirty part starts; 0 when never compacted or the file is unreadable (the
    /// next pass then compacts everything again, which changes nothing already compacted).
    fn load(&self) -> KafkaOffset {
        let stored = self.file.load().ok().flatten();
        stored
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map_or(KafkaOffset(0), |b| KafkaOffset(i64::from_be_bytes(b)))
    }

    fn store(&self, offset: KafkaOffset) -> storage::Result<()> {
        self.file.store(&offset.0.to_be_bytes())
    }
}

impl RaftNode {
    /// Runs one compaction pass if `policy` says one is due at `now_ms`.
    pub async fn compact(
        &self,
        policy: &CompactionPolicy,
        now_ms: i64,
    ) -> Result<Option<Compacted>, RaftNodeError> {
        let applied = self.last_applied_index();
        let Some(applied) = applied else {
            return Ok(None);
        };
        let pass = Pass {
            policy: *policy,
            now_ms,
            applied,
            reader: self.reader().log().clone(),
            maintenance: self.maintenance().clone(),
            checkpoint: self.cleaner_checkpoint(),
        };
        blocking(move || pass.run().map_err(io::Error::from))
            .await
            .map_err(RaftNodeError::Upkeep)
    }

    /// Seals the active segment once it is `segment_ms` old, off the async runtime.
    pub async fn roll_if_older(&self, segment_ms: i64, now_ms: i64) -> Result<bool, RaftNodeError> {
        let maintenance = self.maintenance().clone();
        blocking(move || {
            maintenance
                .roll_if_older(segment_ms, now_ms)
                .map_err(io::Error::from)
        })
        .await
        .map_err(RaftNodeError::Upkeep)
    }
}

struct Pass {
    policy: CompactionPolicy,
    now_ms: i64,
    applied: LogIndex,
    reader: LogReader,
    maintenance: LogMaintenance,
    checkpoint: std::sync::Arc<CleanerCheckpoint>,
}

impl Pass {
    fn run(self) -> storage::Result<Option<Compacted>> {
        let first_dirty = self.checkpoint.load();
        let compactable = self.compactable();
        let Some(dirty_from) = compactable.iter().position(|s| s.end_offset > first_dirty) else {
            return Ok(None);
        };
        if !due(&self.policy, self.now_ms, &compactable, dirty_from) {
            return Ok(None);
        }
        let (keys, mapped_to) = self.map_keys(&compactable[dirty_from..])?;
        let to_rewrite = &compactable[..=dirty_from + mapped_to];
        let cleaned_to = to_rewrite.last().map_or(first_dirty, |s| s.end_offset);
        let mut done = Compacted {
            cleaned_to,
            ..Compacted::default()
        };
        let rewriter = self.maintenance.rewriter();
        let horizon = self.now_ms.saturating_sub(self.policy.delete_retention_ms);
        for segment in to_rewrite {
            let mut removed = 0u64;
            let prepared = rewriter.prepare(segment.base_index, |entry| {
                let kept = compacted_payload(entry, &keys, horizon)?;
                if let Some((_, gone)) = &kept {
                    removed += gone;
                }
                Ok(kept.map(|(payload, _)| payload))
            })?;
            let Some(prepared) = prepared else {
                continue;
            };
            let (before, after) = (prepared.bytes_before, prepared.bytes_after());
            if self.maintenance.install(prepared)? {
                done.segments_rewritten += 1;
                done.records_removed += removed;
                done.bytes_before += before;
                done.bytes_after += after;
            }
        }
        self.checkpoint.store(cleaned_to)?;
        Ok(Some(done))
    }

    /// Sealed segments whose entries are all applied, up to the first one holding a record
    /// younger than `min.compaction.lag.ms`.
    fn compactable(&self) -> Vec<SealedSegment> {
        let youngest = self
            .now_ms
            .saturating_sub(self.policy.min_compaction_lag_ms);
        self.reader
            .sealed_segments()
            .into_iter()
            .take_while(|s| s.end_index <= self.applied.next() && s.max_timestamp <= youngest)
            .collect()
    }

    /// Newest offset of each key in `dirty`, segment by segment until the map outgrows its
    /// budget (the segment that crosses it is still mapped whole). Returns the map and the
    /// position in `dirty` of the last segment mapped.
    fn map_keys(&self, dirty: &[SealedSegment]) -> storage::Result<(KeyMap, usize)> {
        let mut keys = KeyMap::default();
        let budget = self.policy.key_map_bytes / KEY_MAP_ENTRY_BYTES;
        let mut last = 0;
        for (i, segment) in dirty.iter().enumerate() {
            if i > 0 && keys.len() >= budget {
                break;
            }
            for entry in self.reader.entries(segment.base_index..segment.end_index)? {
                let Some(batch) = record_batch(&entry)? else {
                    continue;
                };
                for record in batch.records().map_err(|e| bad_entry(&entry, e))? {
                    if let Some(key) = &record.key {
                        keys.insert(key, KafkaOffset(record.offset));
                    }
                }
            }
            last = i;
        }
        Ok((keys, last))
    }
}

/// Whether the dirty share of the compactable bytes reaches the ratio, or the oldest dirty
/// segment waited longer than `max.compaction.lag.ms` (measured by its newest record).
fn due(
    policy: &CompactionPolicy,
    now_ms: i64,
    compactable: &[SealedSegment],
    dirty_from: usize,
) -> bool {
    let total: u64 = compactable.iter().map(|s| s.bytes).sum();
    let dirty: u64 = compactable[dirty_from..].iter().map(|s| s.bytes).sum();
    let ratio = if total == 0 {
        0.0
    } else {
        dirty as f64 / total as f64
    };
    let overdue =
        compactable[dirty_from].max_timestamp < now_ms.saturating_sub(policy.max_compaction_lag_ms);
    ratio >= policy.min_cleanable_dirty_ratio || overdue
}

/// The compacted payload of one entry and how many records it lost; `None` to keep it as it
/// is (not a record batch, a control batch, or nothing to drop).
fn compacted_payload(
    entry: &StoredEntry,
    keys: &KeyMap,
    tombstone_horizon: i64,
) -> io::Result<Option<(Bytes, u64)>> {
    let Some(batch) = record_batch(entry)? else {
        return Ok(None);
    };
    let expired_tombstone = entry.max_timestamp < tombstone_horizon;
    let before = batch.record_count();
    let kept = batch
        .retain_records(|record| {
            let Some(key) = &record.key else {
                return false;
            };
            let superseded = keys
                .newest(key)
                .is_some_and(|newest| record.offset < newest.0);
            let expired = record.value.is_none() && expired_tombstone;
            !(superseded || expired)
        })
        .map_err(|e| bad_entry(entry, e))?;
    Ok(kept.map(|batch| {
        let gone = (before - batch.record_count()).max(0) as u64;
        (batch.into_bytes(), gone)
    }))
}

/// The data batch an entry holds; `None` for other entries and control batches.
fn record_batch(entry: &StoredEntry) -> storage::Result<Option<RecordBatch>> {
    if entry.kind != KIND_RECORDS {
        return Ok(None);
    }
    let batch = RecordBatch::new(entry.payload.clone()).map_err(|e| bad_entry(entry, e))?;
    Ok((!batch.is_control()).then_some(batch))
}

fn bad_entry(entry: &StoredEntry, err: impl std::fmt::Display) -> storage::Error {
    storage::Error::BadRecordEntry {
        index: entry.index,
        reason: err.to_string(),
    }
}

/// Key → newest offset, keys held as 128-bit hashes (Kafka's cleaner holds MD5 digests): the
/// map's size does not depend on how long keys are.
#[derive(Default)]
struct KeyMap(HashMap<u128, KafkaOffset>);

impl KeyMap {
    fn digest(key: &[u8]) -> u128 {
        let half = |seed: u8| {
            let mut hasher = DefaultHasher::new();
            seed.hash(&mut hasher);
            key.hash(&mut hasher);
            hasher.finish()
        };
        (u128::from(half(0)) << 64) | u128::from(half(1))
    }

    fn insert(&mut self, key: &[u8], offset: KafkaOffset) {
        let newest = self.0.entry(Self::digest(key)).or_insert(offset);
        *newest = (*newest).max(offset);
    }

    fn newest(&self, key: &[u8]) -> Option<KafkaOffset> {
        self.0.get(&Self::digest(key)).copied()
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(bytes: u64, max_timestamp: i64) -> SealedSegment {
        SealedSegment {
            base_index: LogIndex(1),
            end_index: LogIndex(2),
            base_offset: KafkaOffset(0),
            end_offset: KafkaOffset(1),
            bytes,
            max_timestamp,
        }
    }

    #[test]
    fn a_pass_is_due_at_the_dirty_ratio_or_past_the_maximum_lag() {
        let policy = CompactionPolicy {
            delete_retention_ms: 0,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_cleanable_dirty_ratio: 0.5,
            key_map_bytes: 1 << 20,
        };
        let log = [
            segment(600, 1_000),
            segment(300, 2_000),
            segment(300, 3_000),
        ];
        // Dirty: the last two, 600 of 1200 bytes.
        assert!(due(&policy, 10_000, &log, 1));
        // Dirty: the last one, 300 of 1200.
        assert!(!due(&policy, 10_000, &log, 2));
        let lagging = CompactionPolicy {
            max_compaction_lag_ms: 5_000,
            ..policy
        };
        assert!(
            due(&lagging, 10_000, &log, 2),
            "its newest record is 7 s old"
        );
        assert!(!due(&lagging, 7_000, &log, 2));
    }

    #[test]
    fn keys_map_to_their_newest_offset() {
        let mut keys = KeyMap::default();
        keys.insert(b"a", KafkaOffset(5));
        keys.insert(b"a", KafkaOffset(3));
        keys.insert(b"b", KafkaOffset(4));
        assert_eq!(keys.newest(b"a"), Some(KafkaOffset(5)));
        assert_eq!(keys.newest(b"b"), Some(KafkaOffset(4)));
        assert_eq!(keys.newest(b"c"), None);
        assert_eq!(keys.len(), 2);
    }
}
