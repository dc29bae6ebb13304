//! What every consumer-group handler does first: check that this broker coordinates the group
//! (leads its `__consumer_offsets` partition) and learn the coordinator epoch the group's
//! membership is kept under. `group/membership/` holds the groups themselves.

use super::RequestContext;
use crate::group::CoordinatorError;
use crate::group::membership::{CoordinatorEpoch, GroupError};
use crate::group::offsets::OffsetsError;

/// Why a group request is answered with an error; `error_map::group_request_code` picks it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum GroupRequestError {
    #[error(transparent)]
    Group(#[from] GroupError),
    #[error(transparent)]
    Coordinator(#[from] CoordinatorError),
    #[error(transparent)]
    Offsets(#[from] OffsetsError),
    /// Known neither by its members nor by committed offsets.
    #[error("no such group")]
    GroupNotFound,
    /// The group has members, which may be consuming the topics named.
    #[error("the group has members")]
    GroupInUse,
}

/// The coordinator epoch of `group_id` here, or why this broker does not coordinate it.
pub(crate) fn coordinator_epoch(
    ctx: &RequestContext,
    group_id: &str,
) -> Result<CoordinatorEpoch, CoordinatorError> {
    ctx.broker
        .services
        .groups
        .coordinator(group_id)
        .map(|replica| replica.leader_epoch())
}

/// Whether `group_id` is still coordinated here under `epoch` (ListGroups shows only those).
pub(crate) fn is_current(ctx: &RequestContext, group_id: &str, epoch: CoordinatorEpoch) -> bool {
    coordinator_epoch(ctx, group_id).is_ok_and(|current| current == epoch)
}

/// The client id of the request, as group members record it.
pub(crate) fn client_id(ctx: &RequestContext) -> String {
    ctx.client_id
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default()
}
