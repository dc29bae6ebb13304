//! What every consumer-group handler does first: check that this broker coordinates the group
//! (leads its `__consumer_offsets` partition) and learn the coordinator epoch the group's
//! membership is kept under. `group/membership/` holds the groups themselves.

use kafka_protocol::ResponseError;

use super::RequestContext;
use crate::group::membership::CoordinatorEpoch;
use crate::kafka::error_map;

/// The coordinator epoch of `group_id` here, or the error to answer (NOT_COORDINATOR,
/// COORDINATOR_NOT_AVAILABLE).
pub(crate) fn epoch(
    ctx: &RequestContext,
    group_id: &str,
) -> Result<CoordinatorEpoch, ResponseError> {
    ctx.broker
        .services
        .groups
        .coordinator(group_id)
        .map(|replica| replica.leadership().term)
        .map_err(|e| error_map::coordinator_error(&e))
}

/// Whether `group_id` is still coordinated here under `epoch` (ListGroups shows only those).
pub(crate) fn is_current(ctx: &RequestContext, group_id: &str, epoch: CoordinatorEpoch) -> bool {
    self::epoch(ctx, group_id).is_ok_and(|current| current == epoch)
}

/// The client id of the request, as group members record it.
pub(crate) fn client_id(ctx: &RequestContext) -> String {
    ctx.client_id
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default()
}
