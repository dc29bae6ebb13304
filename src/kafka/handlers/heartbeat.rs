//! Heartbeat v0-v4: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.
//! v3+: static members.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::{RequestContext, coordinator};
use crate::group::membership;
use crate::kafka::error_map;

/// Group instance ids exist from v3.
fn has_instance_id(version: i16) -> bool {
    version >= 3
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: HeartbeatRequest,
) -> Option<HeartbeatResponse> {
    let version = ctx.api_version;
    let group_id = request.group_id.0.to_string();
    let code = match membership::check_group_id(&group_id) {
        Err(e) => error_map::group_code(Some(&e)),
        Ok(()) => match coordinator::coordinator_epoch(&ctx, &group_id) {
            Err(e) => error_map::coordinator_code(&e),
            Ok(epoch) => {
                let instance = request
                    .group_instance_id
                    .as_ref()
                    .filter(|_| has_instance_id(version))
                    .map(|i| i.as_str());
                let result = ctx.broker.services.groups.membership().heartbeat(
                    epoch,
                    &group_id,
                    &request.member_id,
                    instance,
                    request.generation_id,
                );
                error_map::group_code(result.err().as_ref())
            }
        },
    };
    Some(HeartbeatResponse::default().with_error_code(code))
}
