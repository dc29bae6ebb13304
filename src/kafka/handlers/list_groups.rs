//! ListGroups v0-v5: the groups this broker coordinates (each broker answers for its own), with
//! their protocol type; v4+ their state and a filter on states; v5+ their type ("classic") and a
//! filter on types. Filters match case-insensitively, as Kafka's do. Groups that have committed
//! offsets but no members here are listed as Empty with no protocol type, as Kafka lists groups
//! it loaded from offsets alone.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use std::collections::HashSet;

use super::{RequestContext, coordinator};
use crate::group::membership::{GroupOverview, GroupState};
use crate::kafka::error_map;

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
    let groups = &ctx.broker.services.groups;
    let mut listed = groups
        .membership()
        .list(|group_id, epoch| coordinator::is_current(&ctx, group_id, epoch));
    let with_offsets = match groups.groups_with_offsets().await {
        Ok(found) => found,
        Err(e) => {
            return Some(
                ListGroupsResponse::default()
                    .with_error_code(error_map::group_request_code(&e.into())),
            );
        }
    };
    let known: HashSet<String> = listed.iter().map(|g| g.group_id.clone()).collect();
    listed.extend(
        with_offsets
            .into_iter()
            .filter(|g| !known.contains(g))
            .map(|group_id| GroupOverview {
                group_id,
                protocol_type: String::new(),
                state: GroupState::Empty,
            }),
    );
    listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    let groups = listed
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
