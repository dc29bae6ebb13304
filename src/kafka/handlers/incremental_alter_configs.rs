//! IncrementalAlterConfigs v0-v1: SET and DELETE single settings of a topic through the metadata
//! log, leaving the others as they are; `validate_only` checks without writing. APPEND and
//! SUBTRACT apply to list settings, of which raftka has none. Broker settings are static.
//! `metadata/admin/` does it.

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};

use super::RequestContext;
use crate::kafka::configs;
use crate::metadata::admin::ConfigOp;

/// Kafka's `AlterConfigOp.OpType` codes.
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: IncrementalAlterConfigsRequest,
) -> Option<IncrementalAlterConfigsResponse> {
    let resources = request
        .resources
        .iter()
        .map(|r| {
            let ops = r.configs.iter().map(op).collect();
            (configs::resource(r.resource_type, &r.resource_name), ops)
        })
        .collect();
    let outcomes = ctx
        .broker
        .services
        .admin
        .incremental_alter_configs(resources, request.validate_only)
        .await;
    let responses =
        configs::alter_answers!(AlterConfigsResourceResponse, request.resources, outcomes);
    Some(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

fn op(c: &AlterableConfig) -> (String, ConfigOp) {
    let op = match c.config_operation {
        SET => ConfigOp::Set(c.value.as_ref().map(|v| v.to_string())),
        DELETE => ConfigOp::Delete,
        APPEND => ConfigOp::Append(c.value.as_ref().map(|v| v.to_string())),
        SUBTRACT => ConfigOp::Subtract(c.value.as_ref().map(|v| v.to_string())),
        other => ConfigOp::Unknown(other),
    };
    (c.name.to_string(), op)
}
