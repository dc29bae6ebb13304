//! One partition replica as Kafka sees it: append a batch and learn its base offset, read from
//! an offset up to the high watermark, wait for new data, find offsets by time.
//! `raft::RaftNode` does the replication underneath.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tokio::time::Instant;
use uuid::Uuid;

use super::sequencer::Sequencer;
use super::{EffectiveConfig, Error, StorageError};
use crate::producer::ProducerBatch;
use crate::raft::{
    Applied, Compacted, CompactionPolicy, NodeId, RaftNode, RaftNodeOptions, RaftNodeSpec,
    WriteError,
};
use crate::record::{self, AppendRules, RecordBatch, TimestampType};
use crate::storage::{DiskSpace, LogConfig, RetentionPolicy};
use crate::types::{KafkaOffset, LeaderEpoch, Term};

/// Who leads a partition, in which leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLeader {
    pub leader: Option<NodeId>,
    pub epoch: LeaderEpoch,
}

/// The leader epoch of an entry written in `term`, as a wire `i32`.
fn epoch_of(term: Term) -> i32 {
    LeaderEpoch::from(term).0
}

/// Everything needed to start a replica.
#[derive(Debug, Clone)]
pub struct ReplicaSpec {
    pub topic: String,
    pub partition: i32,
    /// The topic's incarnation; `None` for internal logs that have none (the metadata log).
    pub topic_id: Option<Uuid>,
    pub node_id: NodeId,
    /// The replicas (Raft voters) with their Raft addresses.
    pub members: BTreeMap<NodeId, String>,
    /// The replica assigned first, which leads when it can; `None` for internal logs.
    pub preferred_leader: Option<NodeId>,
    pub config: EffectiveConfig,
    /// The transport to the other replicas (none for a replica set of this node alone) and timing.
    pub options: RaftNodeOptions,
}

/// The answer to an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub base_offset: KafkaOffset,
    pub log_start_offset: KafkaOffset,
}

/// A Produce's batches for one partition as the topic's settings make them, ready to append.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub batches: Vec<RecordBatch>,
    /// The time the leader stamped on the batches (a LogAppendTime topic); `None` for
    /// CreateTime.
    pub log_append_time_ms: Option<i64>,
}

/// One idempotent producer as DescribeProducers reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerSummary {
    pub producer_id: i64,
    pub epoch: i16,
    /// `-1` when no batch of the current epoch is kept.
    pub last_sequence: i32,
    pub last_applied_ms: i64,
}

/// Record batches read from an offset, with the bounds a Fetch response reports.
#[derive(Debug, Clone, Default)]
pub struct FetchData {
    pub batches: Vec<Bytes>,
    pub bytes: usize,
    pub high_watermark: KafkaOffset,
    pub log_start_offset: KafkaOffset,
}

#[derive(Debug)]
pub struct Replica {
    pub topic: String,
    pub partition: i32,
    pub topic_id: Option<Uuid>,
    node_id: NodeId,
    dir: PathBuf,
    raft: RaftNode,
    config: RwLock<EffectiveConfig>,
    /// Free space of the logs' file system; appends from clients stop below its floor.
    space: Option<Arc<DiskSpace>>,
    /// Checks and orders idempotent producers' batches while this replica leads.
    sequencer: Sequencer,
}

impl Replica {
    /// Opens the replica's log in `dir` (recovering it) and starts its Raft node.
    pub async fn start(dir: &Path, spec: ReplicaSpec) -> Result<Replica, Error> {
        let log = LogConfig {
            segment_bytes: spec
                .config
                .segment_bytes
                .clamp(LogConfig::MIN_SEGMENT_BYTES, LogConfig::MAX_SEGMENT_BYTES),
            index_interval_bytes: spec.config.index_interval_bytes,
            preallocate_step_bytes: spec.config.preallocate_step_bytes,
        };
        let node_spec = RaftNodeSpec {
            node_id: spec.node_id,
            members: spec.members,
            log,
            name: super::raft_name(&spec.topic, spec.partition, spec.topic_id),
            preferred_leader: spec.preferred_leader,
        };
        let raft = RaftNode::start_with(dir, node_spec, spec.options)
            .await
            .map_err(Error::storage)?;
        Ok(Replica {
            topic: spec.topic,
            partition: spec.partition,
            topic_id: spec.topic_id,
            node_id: spec.node_id,
            dir: dir.to_path_buf(),
            raft,
            config: RwLock::new(spec.config),
            space: None,
            sequencer: Sequencer::default(),
        })
    }

    /// Refuses client appends while `space` is below its floor.
    pub fn with_space(mut self, space: Arc<DiskSpace>) -> Replica {
        self.space = Some(space);
        self
    }

    /// The broker this replica runs on.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> EffectiveConfig {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies changed topic settings; size limits take effect at once, segment sizes at the
    /// next roll after a restart.
    pub fn set_config(&self, config: EffectiveConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// Who leads this partition and in which leader epoch, read together.
    pub fn leader(&self) -> PartitionLeader {
        let leadership = self.raft.leadership();
        PartitionLeader {
            leader: leadership.leader,
            epoch: LeaderEpoch::from(leadership.term),
        }
    }

    /// Whether this replica leads its partition now.
    pub fn is_leader(&self) -> bool {
        self.leader().leader == Some(self.node_id)
    }

    /// Kafka's leader epoch: the Raft term of the leadership this replica knows.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader().epoch
    }

    /// The replicas in sync with this one, this one first, if it leads (see
    /// [`RaftNode::in_sync_voters`]).
    pub fn in_sync_replicas(&self, lag: std::time::Duration) -> Option<Vec<NodeId>> {
        self.raft.in_sync_voters(lag)
    }

    /// Hands leadership to replica `to` if this one leads and `to` has (nearly) all of its
    /// log; returns whether the hand-over started.
    pub async fn transfer_leadership(&self, to: NodeId) -> Result<bool, Error> {
        self.raft
            .transfer_leadership(to)
            .await
            .map_err(|e| Error::Stopped(e.into()))
    }

    fn ensure_leader(&self) -> Result<(), Error> {
        let leadership = self.raft.leadership();
        if leadership.leader == Some(self.node_id) {
            Ok(())
        } else {
            Err(Error::NotLeader {
                leader: leadership.leader,
            })
        }
    }

    pub fn high_watermark(&self) -> KafkaOffset {
        *self.raft.high_watermark().borrow()
    }

    /// The offset the next appended record gets here, committed or not.
    pub fn log_end_offset(&self) -> KafkaOffset {
        self.raft.reader().log().next_offset()
    }

    /// The first offset served: where retention left the log, or higher where DeleteRecords
    /// moved it (whole segments below it go at the next retention pass).
    pub fn log_start_offset(&self) -> KafkaOffset {
        self.raft
            .reader()
            .log()
            .log_start_offset()
            .max(self.raft.deleted_below())
    }

    /// DeleteRecords on the leader: moves the log start offset up to `offset` (`-1`: the high
    /// watermark) through Raft, so every replica serves nothing below it; returns the log start
    /// offset then. An offset above the high watermark is out of range, as in Kafka.
    pub async fn delete_records(&self, offset: i64) -> Result<KafkaOffset, Error> {
        const HIGH_WATERMARK: i64 = -1;
        self.ensure_leader()?;
        let high_watermark = self.high_watermark();
        let target = match offset {
            HIGH_WATERMARK => high_watermark,
            o if (0..=high_watermark.0).contains(&o) => KafkaOffset(o),
            o => {
                return Err(Error::OffsetOutOfRange {
                    offset: KafkaOffset(o),
                    log_start_offset: self.log_start_offset(),
                    log_end_offset: self.log_end_offset(),
                    high_watermark,
                });
            }
        };
        if target > self.log_start_offset() {
            self.raft
                .move_log_start(target)
                .await
                .map_err(write_error)?;
        }
        Ok(self.log_start_offset())
    }

    /// Applies the topic's settings to a Produce's batches for this partition (their CRCs
    /// already checked), on this leader, so every replica stores the same bytes: record checks
    /// (timestamps, keys), LogAppendTime stamping, recompression. All batches pass or none is
    /// appended, as in Kafka, which validates a partition's records before appending any.
    pub fn prepare(&self, batches: Vec<RecordBatch>) -> Result<Prepared, Error> {
        self.ensure_leader()?;
        let config = self.config();
        let rules = append_rules(&config);
        let now_ms = now_ms();
        let batches = batches
            .into_iter()
            .map(|batch| {
                check_size(&batch, &config)?;
                let prepared = record::prepare(batch, &rules, now_ms)?;
                // Recompression may grow a batch: Kafka checks the size again after it.
                check_size(&prepared, &config)?;
                Ok(prepared)
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Prepared {
            batches,
            log_append_time_ms: (config.timestamp_type == TimestampType::LogAppendTime)
                .then_some(now_ms),
        })
    }

    /// Appends one client RecordBatch (see [`Replica::prepare`]) and returns once it is
    /// committed. Refused while free disk space is below the floor kept for the broker's own
    /// logs.
    pub async fn append(&self, batch: RecordBatch) -> Result<Appended, Error> {
        if let Some(space) = self.space.as_ref().filter(|s| s.check()) {
            return Err(Error::DiskFull {
                free_bytes: space.free_bytes(),
                floor_bytes: space.floor_bytes(),
            });
        }
        self.append_reserved(batch).await
    }

    /// [`Replica::append`] into the space kept free: for the broker's own internal logs, which
    /// must go on (consumer offsets, metadata) when clients' writes are refused.
    pub async fn append_reserved(&self, batch: RecordBatch) -> Result<Appended, Error> {
        check_size(&batch, &self.config())?;
        self.ensure_leader()?;
        if let Some(producer) = ProducerBatch::of(&batch) {
            let base_offset = self.sequencer.append(&self.raft, batch, producer).await?;
            return Ok(Appended {
                base_offset,
                log_start_offset: self.log_start_offset(),
            });
        }
        let applied = self.raft.write(batch).await.map_err(write_error)?;
        self.appended(applied)
    }

    /// Like [`Replica::append`] on any replica: a follower hands the batch to the leader it
    /// knows (internal logs only; Kafka clients must reach the leader themselves).
    pub async fn append_via_leader(
        &self,
        batch: RecordBatch,
        timeout: std::time::Duration,
    ) -> Result<Appended, Error> {
        let applied = self
            .raft
            .write_via_leader(batch, timeout)
            .await
            .map_err(write_error)?;
        self.appended(applied)
    }

    fn appended(&self, applied: Applied) -> Result<Appended, Error> {
        let base_offset = applied
            .base_offset
            .ok_or(Error::Storage(StorageError::AppliedWithoutOffsets))?;
        Ok(Appended {
            base_offset,
            log_start_offset: self.log_start_offset(),
        })
    }

    /// Whole batches from the one holding `offset`, up to `max_bytes`, never past the high
    /// watermark. A first batch larger than `max_bytes` comes whole with `whole_first_batch`
    /// (Kafka's rule for the first non-empty partition of a Fetch, so a consumer always moves
    /// on), else not at all.
    pub fn fetch(
        &self,
        offset: KafkaOffset,
        max_bytes: usize,
        whole_first_batch: bool,
    ) -> Result<FetchData, Error> {
        self.ensure_leader()?;
        let mut read = self.read_committed(offset, max_bytes)?;
        if !whole_first_batch && read.bytes > max_bytes {
            read.batches.clear();
            read.bytes = 0;
        }
        Ok(read)
    }

    /// Like [`Replica::fetch`] but on any replica, leader or not: for the broker's own readers
    /// of internal partitions, which every replica applies locally.
    pub fn read_committed(
        &self,
        offset: KafkaOffset,
        max_bytes: usize,
    ) -> Result<FetchData, Error> {
        let high_watermark = self.high_watermark();
        let log_start_offset = self.log_start_offset();
        let log_end_offset = self.log_end_offset();
        if offset < log_start_offset || offset > log_end_offset.max(high_watermark) {
            return Err(Error::OffsetOutOfRange {
                offset,
                log_start_offset,
                log_end_offset,
                high_watermark,
            });
        }
        let read = self
            .raft
            .reader()
            .log()
            .read_records(offset, max_bytes, high_watermark)
            .map_err(Error::storage)?;
        Ok(FetchData {
            batches: read.batches,
            bytes: read.bytes,
            high_watermark,
            log_start_offset,
        })
    }

    /// Waits until the high watermark passes `offset` or `deadline` comes.
    pub async fn wait_for_data(&self, offset: KafkaOffset, deadline: Instant) {
        let mut hw = self.raft.high_watermark();
        let _ = tokio::time::timeout_at(deadline, hw.wait_for(|hw| *hw > offset)).await;
    }

    /// The first committed record whose timestamp is at or above `timestamp`: its offset and
    /// its timestamp. The log finds the first batch reaching `timestamp`; only that batch is
    /// read (and decompressed) to find the record, as Kafka does.
    pub fn offset_for_timestamp(
        &self,
        timestamp: i64,
    ) -> Result<Option<(KafkaOffset, i64)>, Error> {
        self.ensure_leader()?;
        let log = self.raft.reader().log();
        let high_watermark = self.high_watermark();
        let Some((base, _)) = log
            .offset_for_timestamp(timestamp)
            .map_err(Error::storage)?
            .filter(|(base, _)| *base < high_watermark)
        else {
            return Ok(None);
        };
        let read = log
            .read_records(base, 1, high_watermark)
            .map_err(Error::storage)?;
        let Some(bytes) = read.batches.into_iter().next() else {
            return Ok(None);
        };
        let record = RecordBatch::new(bytes)?
            .records()?
            .into_iter()
            .find(|r| r.timestamp >= timestamp);
        Ok(record.map(|r| (KafkaOffset(r.offset), r.timestamp)))
    }

    /// The batch holding the largest timestamp (ListOffsets MAX_TIMESTAMP): its base offset and
    /// that timestamp.
    pub fn offset_of_max_timestamp(&self) -> Result<Option<(KafkaOffset, i64)>, Error> {
        self.ensure_leader()?;
        match self.raft.reader().log().max_timestamp() {
            Some(max) => self.offset_for_timestamp(max),
            None => Ok(None),
        }
    }

    /// The idempotent producers this partition has state of, on the leader (DescribeProducers):
    /// id, epoch, last sequence written, when its last batch was applied.
    pub fn producers(&self) -> Result<Vec<ProducerSummary>, Error> {
        self.ensure_leader()?;
        let table = self.raft.producers().lock();
        Ok(table
            .iter()
            .map(|(producer_id, entry)| ProducerSummary {
                producer_id,
                epoch: entry.epoch,
                last_sequence: entry.batches.back().map_or(-1, |b| b.last_sequence),
                last_applied_ms: entry.last_applied_ms,
            })
            .collect())
    }

    /// Forgets the idempotent producers with no batch applied for `expiration_ms` before
    /// `now_ms` (`producer.id.expiration.ms`).
    pub fn expire_producers(&self, now_ms: i64, expiration_ms: i64) {
        self.raft.producers().lock().expire(now_ms, expiration_ms);
    }

    /// Earliest and latest offsets, for ListOffsets.
    pub fn offset_bounds(&self) -> Result<(KafkaOffset, KafkaOffset), Error> {
        self.ensure_leader()?;
        Ok((self.log_start_offset(), self.high_watermark()))
    }

    /// Fences a client whose idea of the leader epoch differs from ours (`-1` skips the check),
    /// so a client never acts on a leader it has not yet heard of or one already replaced.
    pub fn check_leader_epoch(&self, current_leader_epoch: i32) -> Result<(), Error> {
        let current = self.leader_epoch().0;
        match current_leader_epoch {
            e if e < 0 || e == current => Ok(()),
            e if e < current => Err(Error::FencedLeaderEpoch {
                requested: e,
                current,
            }),
            e => Err(Error::UnknownLeaderEpoch {
                requested: e,
                current,
            }),
        }
    }

    /// OffsetForLeaderEpoch on the leader: the largest epoch at or below `epoch` that the log
    /// holds, and the offset where the next epoch starts (the log end offset for the latest
    /// epoch). `(-1, -1)` for an unknown or future epoch. A log purged past `epoch` answers
    /// `epoch` with the start offset of the first epoch it still holds, as Kafka does.
    pub fn end_of_epoch(&self, epoch: i32) -> Result<(i32, KafkaOffset), Error> {
        const UNDEFINED: (i32, KafkaOffset) = (-1, KafkaOffset(-1));
        self.ensure_leader()?;
        if epoch < 0 {
            return Ok(UNDEFINED);
        }
        let log = self.raft.reader().log();
        let (first, end) = log.index_bounds();
        let last_term = match end.prev() {
            Some(last) if last >= first => {
                log.entry_at(last).map_err(Error::storage)?.map(|e| e.term)
            }
            _ => None,
        };
        if last_term.map(epoch_of) == Some(epoch) {
            return Ok((epoch, log.next_offset()));
        }
        let Some(next) = log
            .first_entry_above_term(Term(epoch as u64))
            .map_err(Error::storage)?
        else {
            return Ok(UNDEFINED);
        };
        let floor = match next.index.prev() {
            Some(before) if before >= first => log
                .entry_at(before)
                .map_err(Error::storage)?
                .map_or(epoch, |e| epoch_of(e.term)),
            _ => epoch,
        };
        Ok((floor, next.base_offset))
    }

    /// Deletes the whole segments this partition's retention settings let go; returns the log
    /// start offset once they are gone.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<Option<KafkaOffset>, Error> {
        let config = self.config();
        let deleted_below = self.raft.deleted_below();
        // Retention by time and size is the `delete` cleanup policy (Kafka's rule); a
        // compact-only topic keeps its segments for compaction.
        let delete = config.cleanup_policy.delete;
        let policy = RetentionPolicy {
            retention_ms: config.retention_ms.filter(|_| delete),
            retention_bytes: config.retention_bytes.filter(|_| delete),
            below_offset: (deleted_below > self.raft.reader().log().log_start_offset())
                .then_some(deleted_below),
        };
        if policy == RetentionPolicy::default() {
            return Ok(None);
        }
        self.raft
            .apply_retention(&policy, now_ms)
            .await
            .map_err(Error::storage)
    }

    /// Seals the active segment once it is `segment.ms` old, so retention and compaction can
    /// reach it.
    pub async fn roll_if_older(&self, now_ms: i64) -> Result<bool, Error> {
        self.raft
            .roll_if_older(self.config().segment_ms, now_ms)
            .await
            .map_err(Error::storage)
    }

    /// On a compacted topic, runs a compaction pass if one is due; the key map may use
    /// `key_map_bytes`.
    pub async fn apply_compaction(
        &self,
        now_ms: i64,
        key_map_bytes: usize,
    ) -> Result<Option<Compacted>, Error> {
        let config = self.config();
        if !config.cleanup_policy.compact {
            return Ok(None);
        }
        let policy = CompactionPolicy {
            delete_retention_ms: config.delete_retention_ms,
            min_compaction_lag_ms: config.min_compaction_lag_ms,
            max_compaction_lag_ms: config.max_compaction_lag_ms,
            min_cleanable_dirty_ratio: config.min_cleanable_dirty_ratio,
            key_map_bytes,
        };
        self.raft
            .compact(&policy, now_ms)
            .await
            .map_err(Error::storage)
    }

    /// Deletes the whole segments below `offset`: the owner of an internal log (a compacted
    /// `__consumer_offsets` partition) no longer needs them. Returns the new log start offset.
    pub async fn purge_below(&self, offset: KafkaOffset) -> Result<Option<KafkaOffset>, Error> {
        let policy = RetentionPolicy {
            below_offset: Some(offset),
            ..RetentionPolicy::default()
        };
        self.raft
            .apply_retention(&policy, 0)
            .await
            .map_err(Error::storage)
    }

    pub async fn shutdown(&self) {
        self.raft.shutdown().await;
    }
}

/// Refuses a batch larger than the topic's `max.message.bytes`.
fn check_size(batch: &RecordBatch, config: &EffectiveConfig) -> Result<(), Error> {
    let max = config.max_message_bytes;
    let bytes = batch.bytes().len();
    if bytes > max {
        return Err(Error::BatchTooLarge { bytes, max });
    }
    Ok(())
}

/// The topic settings that act on a client's batch before it is replicated.
fn append_rules(config: &EffectiveConfig) -> AppendRules {
    AppendRules {
        timestamp_type: config.timestamp_type,
        compression: config.compression,
        levels: config.compression_levels,
        timestamp_before_max_ms: config.timestamp_before_max_ms,
        timestamp_after_max_ms: config.timestamp_after_max_ms,
        keys_required: config.cleanup_policy.compact,
    }
}

/// The leader's clock, in Kafka's milliseconds since the epoch.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A write the Raft instance refused. A leader on another node that did not answer is, for the
/// caller, no known leader: it looks again and retries.
pub(super) fn write_error(err: WriteError) -> Error {
    match err {
        WriteError::NotLeader { leader } => Error::NotLeader { leader },
        WriteError::Unreachable { .. } => Error::NotLeader { leader: None },
        WriteError::Stopped(reason) => Error::Stopped(reason.into()),
    }
}
