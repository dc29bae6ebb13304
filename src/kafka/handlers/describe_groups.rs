//! DescribeGroups v0-v5: each group's state (as Kafka spells it), protocol type, selected
//! protocol and members (metadata and assignment once Stable). A group without members here but
//! with committed offsets is Empty; one this broker does not know at all is described as Dead, as
//! Kafka does; one it does not coordinate gets NOT_COORDINATOR.
//! v3+: authorized operations on request (no authorizer: everything a group allows).

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::coordinator::{GroupRequestError, coordinator_epoch};
use crate::group::membership::GroupState;
use crate::kafka::error_map;

/// Group instance ids exist from v4.
fn has_instance_id(version: i16) -> bool {
    version >= 4
}

/// Authorized operations from v3.
fn has_authorized_operations(version: i16) -> bool {
    version >= 3
}

/// Kafka's "not requested" value of `authorized_operations`.
const OPERATIONS_NOT_REQUESTED: i32 = i32::MIN;
/// READ (3), DELETE (6) and DESCRIBE (8): what a group resource allows, all granted without an
/// authorizer.
const GROUP_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DescribeGroupsRequest,
) -> Option<DescribeGroupsResponse> {
    let version = ctx.api_version;
    let operations = if has_authorized_operations(version) && request.include_authorized_operations
    {
        GROUP_OPERATIONS
    } else {
        OPERATIONS_NOT_REQUESTED
    };
    let mut groups = Vec::with_capacity(request.groups.len());
    for group_id in request.groups {
        let base = DescribedGroup::default()
            .with_group_id(group_id.clone())
            .with_authorized_operations(operations);
        groups.push(describe(&ctx, &group_id.0, base, version).await);
    }
    Some(DescribeGroupsResponse::default().with_groups(groups))
}

async fn describe(
    ctx: &RequestContext,
    id: &str,
    base: DescribedGroup,
    version: i16,
) -> DescribedGroup {
    let refused = |e: GroupRequestError| {
        base.clone()
            .with_error_code(error_map::group_request_code(&e))
    };
    let epoch = match coordinator_epoch(ctx, id) {
        Ok(epoch) => epoch,
        Err(e) => return refused(e.into()),
    };
    let groups = &ctx.broker.services.groups;
    let Some(group) = groups.membership().describe(epoch, id) else {
        let committed = match groups.offsets(id) {
            Ok(table) => table.group(id).await.map_err(GroupRequestError::from),
            Err(e) => Err(e.into()),
        };
        let state = match committed {
            Ok(offsets) if offsets.is_empty() => GroupState::Dead,
            Ok(_) => GroupState::Empty,
            Err(e) => return refused(e),
        };
        return base.with_group_state(StrBytes::from_static_str(state.name()));
    };
    let members = group
        .members
        .into_iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(
                    m.group_instance_id
                        .filter(|_| has_instance_id(version))
                        .map(StrBytes::from_string),
                )
                .with_client_id(StrBytes::from_string(m.client_id))
                .with_client_host(StrBytes::from_string(m.client_host))
                .with_member_metadata(m.metadata)
                .with_member_assignment(m.assignment)
        })
        .collect();
    base.with_group_state(StrBytes::from_static_str(group.state.name()))
        .with_protocol_type(StrBytes::from_string(group.protocol_type))
        .with_protocol_data(StrBytes::from_string(group.protocol))
        .with_members(members)
}
