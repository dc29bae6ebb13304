//! OffsetDelete v0: forgets some committed offsets of a group. Allowed while the group has no
//! members; while it has some, every named partition answers GROUP_SUBSCRIBED_TO_TOPIC (the
//! broker does not read the members' subscriptions, so it assumes the topics are in use).

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::RequestContext;
use super::coordinator::{GroupRequestError, coordinator_epoch};
use crate::group::membership::{GroupState, check_group_id};
use crate::group::offsets::OffsetsCommand;
use crate::kafka::error_map;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: OffsetDeleteRequest,
) -> Option<OffsetDeleteResponse> {
    let group = request.group_id.0.to_string();
    let partition_code = match forget(&ctx, &group, &request).await {
        Ok(per_partition) => {
            per_partition.map_or(error_map::NONE, |e| error_map::group_request_code(&e))
        }
        Err(e) => {
            let code = error_map::group_request_code(&e);
            return Some(OffsetDeleteResponse::default().with_error_code(code));
        }
    };
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            OffsetDeleteResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(partition_code)
                        })
                        .collect(),
                )
        })
        .collect();
    Some(OffsetDeleteResponse::default().with_topics(topics))
}

/// Deletes the named offsets; `Ok(Some(error))` when every partition is refused alike.
async fn forget(
    ctx: &RequestContext,
    group: &str,
    request: &OffsetDeleteRequest,
) -> Result<Option<GroupRequestError>, GroupRequestError> {
    check_group_id(group)?;
    let epoch = coordinator_epoch(ctx, group)?;
    let groups = &ctx.broker.services.groups;
    let state = groups.membership().state(epoch, group);
    let table = groups.offsets(group)?;
    let committed = table.group(group).await?;
    if state.is_none() && committed.is_empty() {
        return Err(GroupRequestError::GroupNotFound);
    }
    if state.is_some_and(|s| !matches!(s, GroupState::Empty | GroupState::Dead)) {
        return Ok(Some(GroupRequestError::GroupInUse));
    }
    let partitions: Vec<(String, i32)> = request
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.0.to_string(), p.partition_index))
        })
        .filter(|tp| committed.contains_key(tp))
        .collect();
    if !partitions.is_empty() {
        table
            .propose(&OffsetsCommand::Forget {
                group: group.to_string(),
                partitions,
            })
            .await?;
    }
    Ok(None)
}
