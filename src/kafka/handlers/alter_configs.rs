//! AlterConfigs v0-v2: replaces the whole set of a topic's overrides (settings left out go back
//! to the broker defaults), through the metadata log; `validate_only` checks without writing.
//! Broker settings are static and refused. `metadata/admin/` does it;
//! `incremental_alter_configs.rs` changes single keys.

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::RequestContext;
use crate::kafka::configs;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: AlterConfigsRequest,
) -> Option<AlterConfigsResponse> {
    let resources = request
        .resources
        .iter()
        .map(|r| {
            let entries = r
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect();
            (
                configs::resource(r.resource_type, &r.resource_name),
                entries,
            )
        })
        .collect();
    let outcomes = ctx
        .broker
        .services
        .admin
        .alter_configs(resources, request.validate_only)
        .await;
    let responses =
        configs::alter_answers!(AlterConfigsResourceResponse, request.resources, outcomes);
    Some(AlterConfigsResponse::default().with_responses(responses))
}
