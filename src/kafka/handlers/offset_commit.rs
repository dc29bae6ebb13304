//! OffsetCommit v2-v9: decodes the commit, has `group/commit.rs` check and write it, and answers
//! each partition with its own result (once committed and applied).

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use super::RequestContext;
use crate::group::commit::{CommitRequest, OffsetToCommit};
use crate::kafka::error_map;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: OffsetCommitRequest,
) -> Option<OffsetCommitResponse> {
    let commit = CommitRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        group_instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
        offsets: request
            .topics
            .iter()
            .flat_map(|topic| {
                topic.partitions.iter().map(|p| OffsetToCommit {
                    topic: topic.name.0.to_string(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                })
            })
            .collect(),
    };
    let topics = ctx.broker.services.metadata.current().state;
    // One result per partition, in request order.
    let mut results = ctx
        .broker
        .services
        .groups
        .commit(commit, &topics)
        .await
        .into_iter();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let error = results.next().and_then(Result::err);
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(error_map::commit_code(error.as_ref()))
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    Some(OffsetCommitResponse::default().with_topics(topics))
}
