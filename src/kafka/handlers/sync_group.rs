//! SyncGroup v0-v5: the leader hands in the assignments the coordinator relays to every member;
//! a follower's SyncGroup waits for them (bounded by its rebalance timeout). v3+: static members;
//! v5: protocol type and name checked and echoed.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::{RequestContext, coordinator};
use crate::group::membership::{self, SyncRequest, SyncResponse};
use crate::kafka::error_map;

/// Group instance ids exist from v3.
fn has_instance_id(version: i16) -> bool {
    version >= 3
}

/// Protocol type and name in the request and the response from v5.
fn has_protocol(version: i16) -> bool {
    version >= 5
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: SyncGroupRequest,
) -> Option<SyncGroupResponse> {
    let version = ctx.api_version;
    let group_id = request.group_id.0.to_string();
    if let Err(e) = membership::check_group_id(&group_id) {
        return Some(response(version, SyncResponse::error(e)));
    }
    let epoch = match coordinator::coordinator_epoch(&ctx, &group_id) {
        Ok(epoch) => epoch,
        Err(e) => {
            return Some(
                response(
                    version,
                    SyncResponse::error(membership::GroupError::NotCoordinator),
                )
                .with_error_code(error_map::coordinator_code(&e)),
            );
        }
    };
    let sync = SyncRequest {
        member_id: request.member_id.to_string(),
        group_instance_id: request
            .group_instance_id
            .filter(|_| has_instance_id(version))
            .map(|i| i.to_string()),
        generation_id: request.generation_id,
        protocol_type: request
            .protocol_type
            .filter(|_| has_protocol(version))
            .map(|t| t.to_string()),
        protocol_name: request
            .protocol_name
            .filter(|_| has_protocol(version))
            .map(|n| n.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let answer = ctx
        .broker
        .services
        .groups
        .membership()
        .sync(epoch, &group_id, sync)
        .await;
    Some(response(version, answer))
}

fn response(version: i16, answer: SyncResponse) -> SyncGroupResponse {
    let (protocol_type, protocol_name) = if has_protocol(version) {
        (
            answer.protocol_type.map(StrBytes::from_string),
            answer.protocol_name.map(StrBytes::from_string),
        )
    } else {
        (None, None)
    };
    SyncGroupResponse::default()
        .with_error_code(error_map::group_code(answer.error.as_ref()))
        .with_protocol_type(protocol_type)
        .with_protocol_name(protocol_name)
        .with_assignment(answer.assignment)
}
