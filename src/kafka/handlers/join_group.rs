//! JoinGroup v0-v9: a member enters the group or rejoins it for a rebalance. The answer comes
//! when the join phase completes (bounded by the member's rebalance timeout); the leader gets
//! every member's metadata. v4+: a new member first gets MEMBER_ID_REQUIRED with its id; v5+:
//! static members (group.instance.id); v9: `skip_assignment` for a replaced static leader.

use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use super::coordinator::{self, GroupRequestError};
use crate::group::membership::{self, JoinRequest, JoinResponse, Protocol};
use crate::kafka::error_map;

/// v0 has no rebalance timeout: the session timeout serves as both.
fn has_rebalance_timeout(version: i16) -> bool {
    version >= 1
}

/// KIP-394: from v4 a member without an id is handed one and must rejoin with it.
fn requires_known_member_id(version: i16) -> bool {
    version >= 4
}

/// Group instance ids (KIP-345) exist from v5.
fn has_instance_id(version: i16) -> bool {
    version >= 5
}

/// The protocol type is in the response from v7; before, the protocol name is not nullable.
fn has_protocol_type(version: i16) -> bool {
    version >= 7
}

/// KIP-814: `skip_assignment` from v9.
fn has_skip_assignment(version: i16) -> bool {
    version >= 9
}

fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: JoinGroupRequest,
) -> Option<JoinGroupResponse> {
    let version = ctx.api_version;
    let group_id = request.group_id.0.to_string();
    let member_id = request.member_id.to_string();
    let refuse = |e: GroupRequestError| {
        response(
            version,
            JoinResponse {
                error: None,
                generation_id: -1,
                protocol_type: None,
                protocol_name: None,
                leader: String::new(),
                skip_assignment: false,
                member_id: member_id.clone(),
                members: Vec::new(),
            },
        )
        .with_error_code(error_map::group_request_code(&e))
    };
    if let Err(e) = membership::check_group_id(&group_id) {
        return Some(refuse(e.into()));
    }
    let epoch = match coordinator::coordinator_epoch(&ctx, &group_id) {
        Ok(epoch) => epoch,
        Err(e) => return Some(refuse(e.into())),
    };
    let rebalance_timeout_ms = if has_rebalance_timeout(version) {
        request.rebalance_timeout_ms
    } else {
        request.session_timeout_ms
    };
    if let Some(reason) = &request.reason {
        tracing::debug!(group = %group_id, member = %member_id, reason = %reason, "join");
    }
    let join = JoinRequest {
        member_id: member_id.clone(),
        group_instance_id: request
            .group_instance_id
            .filter(|_| has_instance_id(version))
            .map(|i| i.to_string()),
        client_id: coordinator::client_id(&ctx),
        client_host: ctx.client_host.to_string(),
        session_timeout: millis(request.session_timeout_ms),
        rebalance_timeout: millis(rebalance_timeout_ms),
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: requires_known_member_id(version),
        supports_skip_assignment: has_skip_assignment(version),
    };
    let answer = ctx
        .broker
        .services
        .groups
        .membership()
        .join(epoch, &group_id, join)
        .await;
    Some(response(version, answer))
}

fn response(version: i16, answer: JoinResponse) -> JoinGroupResponse {
    let members = answer
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(
                    m.group_instance_id
                        .filter(|_| has_instance_id(version))
                        .map(StrBytes::from_string),
                )
                .with_metadata(m.metadata)
        })
        .collect();
    let protocol_name = match answer.protocol_name {
        Some(name) => Some(StrBytes::from_string(name)),
        None if has_protocol_type(version) => None,
        None => Some(StrBytes::default()),
    };
    JoinGroupResponse::default()
        .with_error_code(error_map::group_code(answer.error.as_ref()))
        .with_generation_id(answer.generation_id)
        .with_protocol_type(
            answer
                .protocol_type
                .filter(|_| has_protocol_type(version))
                .map(StrBytes::from_string),
        )
        .with_protocol_name(protocol_name)
        .with_leader(StrBytes::from_string(answer.leader))
        .with_skip_assignment(answer.skip_assignment && has_skip_assignment(version))
        .with_member_id(StrBytes::from_string(answer.member_id))
        .with_members(members)
}
