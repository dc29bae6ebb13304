//! LeaveGroup v0-v5: members leave (a rebalance follows). One member by id until v2; from v3 a
//! batch of members, each by member id or, for static members, by group.instance.id alone
//! (administrative removal), each with its own error code.

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use super::RequestContext;
use super::coordinator::{GroupRequestError, coordinator_epoch};
use crate::group::membership;
use crate::kafka::error_map;

/// From v3 the request names a batch of members and the response answers each.
fn batched(version: i16) -> bool {
    version >= 3
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: LeaveGroupRequest,
) -> Option<LeaveGroupResponse> {
    let version = ctx.api_version;
    let group_id = request.group_id.0.to_string();
    let refuse = |e: GroupRequestError| {
        LeaveGroupResponse::default().with_error_code(error_map::group_request_code(&e))
    };
    if let Err(e) = membership::check_group_id(&group_id) {
        return Some(refuse(e.into()));
    }
    let epoch = match coordinator_epoch(&ctx, &group_id) {
        Ok(epoch) => epoch,
        Err(e) => return Some(refuse(e.into())),
    };
    let leaving: Vec<(String, Option<String>)> = if batched(version) {
        request
            .members
            .iter()
            .map(|m| {
                if let Some(reason) = &m.reason {
                    tracing::debug!(group = %group_id, member = %m.member_id, reason = %reason, "leave");
                }
                (
                    m.member_id.to_string(),
                    m.group_instance_id.as_ref().map(|i| i.to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.to_string(), None)]
    };
    let results = ctx
        .broker
        .services
        .groups
        .membership()
        .leave(epoch, &group_id, &leaving);
    let results = match results {
        Ok(results) => results,
        Err(e) => return Some(refuse(e.into())),
    };
    if !batched(version) {
        let code = error_map::group_code(results.first().and_then(|r| r.as_ref().err()));
        return Some(LeaveGroupResponse::default().with_error_code(code));
    }
    let members = request
        .members
        .into_iter()
        .zip(results)
        .map(|(m, result)| {
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(error_map::group_code(result.err().as_ref()))
        })
        .collect();
    Some(LeaveGroupResponse::default().with_members(members))
}
