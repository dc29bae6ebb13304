//! OffsetCommit: the committer is checked against the live consumer group (member, generation,
//! static instance, group state), each offset on its own (a known topic partition, metadata
//! within bounds), and every accepted offset is written as one record of the consumer group's
//! offsets partition, answered once applied. `kafka/handlers/offset_commit.rs` translates the
//! wire; `kafka/error_map.rs` picks the code of each refusal.

use std::sync::Arc;

use super::membership::{GroupError, check_group_id};
use super::offsets::{self, Committed, OffsetsCommand, OffsetsError};
use super::{CoordinatorError, Groups};
use crate::metadata::MetadataState;
use crate::partition::Replica;

/// Kafka's `offset.metadata.max.bytes`.
const MAX_METADATA_BYTES: usize = 4096;

/// One partition's offset as the committer sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetToCommit {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// The leader epoch of the record at `offset - 1` as the client saw it; -1 unknown.
    pub leader_epoch: i32,
    pub metadata: Option<String>,
}

/// An OffsetCommit, version differences resolved by the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub group_id: String,
    /// Empty, with generation -1 and no instance id, for a standalone commit (no group
    /// management).
    pub member_id: String,
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    pub offsets: Vec<OffsetToCommit>,
}

/// Why an offset was not committed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitError {
    /// This broker does not coordinate the consumer group (now).
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    /// The group refuses the committer (or its id): unknown member, stale generation, fenced
    /// instance, assignments not yet handed out.
    #[error(transparent)]
    Refused(#[from] GroupError),
    #[error("no such topic partition")]
    UnknownTopicOrPartition,
    #[error("commit metadata of {bytes} bytes exceeds {MAX_METADATA_BYTES}")]
    MetadataTooLarge { bytes: usize },
    /// The record did not get through: the coordinator moved, or its table is still loading.
    #[error(transparent)]
    Offsets(#[from] OffsetsError),
}

impl Groups {
    /// Commits `request`'s offsets, checked against `topics`: one result per offset, in request
    /// order. A refusal of the committer refuses every offset alike.
    pub async fn commit(
        &self,
        request: CommitRequest,
        topics: &MetadataState,
    ) -> Vec<Result<(), CommitError>> {
        let coordinator = self.admit_committer(&request);
        let now = offsets::now_ms();
        let mut results = Vec::with_capacity(request.offsets.len());
        // Where each accepted offset's result stands, and what the log records.
        let mut accepted = Vec::new();
        let mut records = Vec::new();
        for wanted in request.offsets {
            let checked = match &coordinator {
                Ok(_) => check_offset(&wanted, topics, now),
                Err(e) => Err(e.clone()),
            };
            match checked {
                Ok(committed) => {
                    accepted.push(results.len());
                    records.push(((wanted.topic, wanted.partition), committed));
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let Ok(replica) = coordinator else {
            return results;
        };
        if records.is_empty() {
            return results;
        }
        let command = OffsetsCommand::Commit {
            group: request.group_id,
            offsets: records,
        };
        if let Err(e) = self.offsets.of(&replica).propose(&command).await {
            let e = CommitError::from(e);
            for at in accepted {
                results[at] = Err(e.clone());
            }
        }
        results
    }

    /// The offsets partition through which the committer may commit: this broker coordinates
    /// the group, and the group accepts the committer (Kafka's `validateOffsetCommit`).
    fn admit_committer(&self, request: &CommitRequest) -> Result<Arc<Replica>, CommitError> {
        check_group_id(&request.group_id)?;
        let replica = self.coordinator(&request.group_id)?;
        self.membership.validate_commit(
            replica.leader_epoch(),
            &request.group_id,
            &request.member_id,
            request.generation_id,
            request.group_instance_id.as_deref(),
        )?;
        Ok(replica)
    }
}

/// The commit of `wanted` made at `now`, if it may be made.
fn check_offset(
    wanted: &OffsetToCommit,
    topics: &MetadataState,
    now: i64,
) -> Result<Committed, CommitError> {
    let topic = topics
        .topics
        .get(&wanted.topic)
        .filter(|t| usize::try_from(wanted.partition).is_ok_and(|i| i < t.partitions.len()))
        .ok_or(CommitError::UnknownTopicOrPartition)?;
    let bytes = wanted.metadata.as_ref().map_or(0, String::len);
    if bytes > MAX_METADATA_BYTES {
        return Err(CommitError::MetadataTooLarge { bytes });
    }
    Ok(Committed {
        offset: wanted.offset,
        leader_epoch: wanted.leader_epoch,
        metadata: wanted.metadata.clone(),
        commit_timestamp_ms: now,
        topic_id: Some(topic.id),
    })
}
