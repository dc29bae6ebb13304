//! DeleteGroups v0-v2: a group without members loses its membership and its committed offsets
//! (one record in its offsets partition); a group with members is NON_EMPTY_GROUP, one that is
//! known neither as members nor as offsets GROUP_ID_NOT_FOUND.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::{RequestContext, coordinator};
use crate::group::membership::check_group_id;
use crate::group::offsets::OffsetsCommand;
use crate::kafka::error_map;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DeleteGroupsRequest,
) -> Option<DeleteGroupsResponse> {
    let mut results = Vec::with_capacity(request.groups_names.len());
    for group in &request.groups_names {
        let outcome = delete(&ctx, group).await;
        results.push(
            DeletableGroupResult::default()
                .with_group_id(group.clone())
                .with_error_code(outcome.err().map_or(0, |e| e.code())),
        );
    }
    Some(DeleteGroupsResponse::default().with_results(results))
}

async fn delete(ctx: &RequestContext, group: &str) -> Result<(), ResponseError> {
    check_group_id(group).map_err(|e| error_map::group_error(&e))?;
    let epoch = coordinator::epoch(ctx, group)?;
    let groups = &ctx.broker.services.groups;
    let was_known = groups
        .membership()
        .delete(epoch, group)
        .map_err(|e| error_map::group_error(&e))?;
    let table = groups
        .offsets(group)
        .map_err(|e| error_map::coordinator_error(&e))?;
    let committed = table
        .group(group)
        .await
        .map_err(|e| error_map::offsets_error(&e))?;
    if committed.is_empty() {
        return if was_known {
            Ok(())
        } else {
            Err(ResponseError::GroupIdNotFound)
        };
    }
    table
        .propose(&OffsetsCommand::DeleteGroup {
            group: group.to_string(),
        })
        .await
        .map_err(|e| error_map::offsets_error(&e))
}
