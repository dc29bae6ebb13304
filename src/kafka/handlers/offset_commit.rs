//! OffsetCommit v2-v9: checks the committer against the live group (member, generation,
//! static instance), then writes every acceptable partition's offset as one record batch through
//! the group's offsets partition; answered once committed and applied. Partitions of unknown
//! topics, or with too much metadata, are refused one by one.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::{RequestContext, coordinator};
use crate::group::membership::check_group_id;
use crate::group::offsets::{Committed, OffsetsCommand};
use crate::kafka::error_map::{self, Refusal};

/// Kafka's `offset.metadata.max.bytes`.
const MAX_METADATA_BYTES: usize = 4096;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: OffsetCommitRequest,
) -> Option<OffsetCommitResponse> {
    let group = request.group_id.0.to_string();
    let allowed = admit(&ctx, &request, &group);
    let state = ctx.broker.services.metadata.current().state;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    // (topic index, partition index) of every partition written, and what goes in the log.
    let mut written = Vec::new();
    let mut offsets = Vec::new();
    let mut topics: Vec<OffsetCommitResponseTopic> = request
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            let name = topic.name.0.to_string();
            let known = state.topics.get(&name);
            let partitions = topic
                .partitions
                .iter()
                .enumerate()
                .map(|(p, wanted)| {
                    let exists = known.is_some_and(|k| {
                        usize::try_from(wanted.partition_index)
                            .is_ok_and(|i| i < k.partitions.len())
                    });
                    let metadata = wanted.committed_metadata.as_ref().map(|m| m.to_string());
                    let refused = match &allowed {
                        Err(e) => Some(*e),
                        Ok(()) if !exists => {
                            Some(error_map::refusal(Refusal::UnknownTopicOrPartition))
                        }
                        Ok(())
                            if metadata
                                .as_ref()
                                .is_some_and(|m| m.len() > MAX_METADATA_BYTES) =>
                        {
                            Some(ResponseError::OffsetMetadataTooLarge)
                        }
                        Ok(()) => None,
                    };
                    if refused.is_none() {
                        written.push((t, p));
                        offsets.push((
                            (name.clone(), wanted.partition_index),
                            Committed {
                                offset: wanted.committed_offset,
                                leader_epoch: wanted.committed_leader_epoch,
                                metadata,
                                commit_timestamp_ms: now,
                                topic_id: known.map(|k| k.id),
                            },
                        ));
                    }
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(wanted.partition_index)
                        .with_error_code(refused.map_or(0, |e| e.code()))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    if !offsets.is_empty() {
        let command = OffsetsCommand::Commit {
            group: group.clone(),
            offsets,
        };
        let outcome = match ctx.broker.services.groups.offsets(&group) {
            Ok(table) => table
                .propose(&command)
                .await
                .map_err(|e| error_map::offsets_error(&e)),
            Err(e) => Err(error_map::coordinator_error(&e)),
        };
        if let Err(error) = outcome {
            for (t, p) in written {
                topics[t].partitions[p].error_code = error.code();
            }
        }
    }
    Some(OffsetCommitResponse::default().with_topics(topics))
}

/// Whether this broker coordinates `group` and the committer may commit for it.
fn admit(
    ctx: &RequestContext,
    request: &OffsetCommitRequest,
    group: &str,
) -> Result<(), ResponseError> {
    check_group_id(group).map_err(|e| error_map::group_error(&e))?;
    let epoch = coordinator::epoch(ctx, group)?;
    let instance = request.group_instance_id.as_ref().map(|i| i.to_string());
    ctx.broker
        .services
        .groups
        .membership()
        .validate_commit(
            epoch,
            group,
            &request.member_id,
            request.generation_id_or_member_epoch,
            instance.as_deref(),
        )
        .map_err(|e| error_map::group_error(&e))
}
