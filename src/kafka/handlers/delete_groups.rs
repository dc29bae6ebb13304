//! DeleteGroups v0-v2: a group without members loses its membership and its committed offsets
//! (one record in its offsets partition); a group with members is NON_EMPTY_GROUP, one that is
//! known neither as members nor as offsets GROUP_ID_NOT_FOUND.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use super::coordinator::{GroupRequestError, coordinator_epoch};
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
                .with_error_code(
                    outcome
                        .map_or_else(|e| error_map::group_request_code(&e), |()| error_map::NONE),
                ),
        );
    }
    Some(DeleteGroupsResponse::default().with_results(results))
}

async fn delete(ctx: &RequestContext, group: &str) -> Result<(), GroupRequestError> {
    check_group_id(group)?;
    let epoch = coordinator_epoch(ctx, group)?;
    let groups = &ctx.broker.services.groups;
    let was_known = groups.membership().delete(epoch, group)?;
    let table = groups.offsets(group)?;
    let committed = table.group(group).await?;
    if committed.is_empty() {
        return if was_known {
            Ok(())
        } else {
            Err(GroupRequestError::GroupNotFound)
        };
    }
    table
        .propose(&OffsetsCommand::DeleteGroup {
            group: group.to_string(),
        })
        .await?;
    Ok(())
}
