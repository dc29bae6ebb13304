//! ListGroups v0-v5: the groups this broker coordinates (each broker answers for its own), with
//! their protocol type; v4+ their state and a filter on states; v5+ their type ("classic") and a
//! filter on types. Filters match case-insensitively, as Kafka's do.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, coordinator};

/// Every group served here runs the classic protocol (KIP-848's type names).
const GROUP_TYPE: &str = "classic";

/// States in the response and the state filter from v4.
fn has_states(version: i16) -> bool {
    version >= 4
}

/// Group types in the response and the type filter from v5.
fn has_types(version: i16) -> bool {
    version >= 5
}

fn wanted(filter: &[StrBytes], value: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| f.eq_ignore_ascii_case(value))
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: ListGroupsRequest,
) -> Option<ListGroupsResponse> {
    let version = ctx.api_version;
    let states: &[StrBytes] = if has_states(version) {
        &request.states_filter
    } else {
        &[]
    };
    let types: &[StrBytes] = if has_types(version) {
        &request.types_filter
    } else {
        &[]
    };
    if !wanted(types, GROUP_TYPE) {
        return Some(ListGroupsResponse::default());
    }
    let groups = ctx
        .broker
        .services
        .groups
        .membership()
        .list(|group_id, epoch| coordinator::is_current(&ctx, group_id, epoch))
        .into_iter()
        .filter(|g| wanted(states, g.state.name()))
        .map(|g| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
                .with_protocol_type(StrBytes::from_string(g.protocol_type));
            let listed = if has_states(version) {
                listed.with_group_state(StrBytes::from_static_str(g.state.name()))
            } else {
                listed
            };
            if has_types(version) {
                listed.with_group_type(StrBytes::from_static_str(GROUP_TYPE))
            } else {
                listed
            }
        })
        .collect();
    Some(ListGroupsResponse::default().with_groups(groups))
}
