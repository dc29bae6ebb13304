//! AlterConfigs v0-v2: replaces the whole set of a topic's overrides (settings left out go back
//! to the broker defaults), through the metadata log; `validate_only` checks without writing.
//! Broker settings are static and refused. `incremental_alter_configs.rs` changes single keys.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::RequestContext;
use crate::kafka::configs;
use crate::kafka::context::BrokerContext;
use crate::kafka::topics::TopicError;
use crate::metadata::Command;

pub(crate) async fn handle(
    ctx: RequestContext,
    request: AlterConfigsRequest,
) -> Option<AlterConfigsResponse> {
    let repeated = configs::repeated(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, &*r.resource_name)),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for r in &request.resources {
        let outcome = if repeated.contains(&(r.resource_type, &*r.resource_name)) {
            Err(configs::duplicate(r.resource_type, &r.resource_name))
        } else {
            alter(&ctx.broker, r, request.validate_only).await
        };
        let (code, message) = configs::outcome_fields(&r.resource_name, outcome);
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message),
        );
    }
    Some(AlterConfigsResponse::default().with_responses(responses))
}

async fn alter(
    broker: &BrokerContext,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), TopicError> {
    let resource = configs::resource(broker, r.resource_type, &r.resource_name)?;
    let name = configs::alterable_topic(resource)?;
    let cmd = Command::ReplaceTopicConfigs {
        name: name.clone(),
        configs: new_overrides(r)?,
    };
    configs::alter_topic(broker, &cmd, validate_only).await?;
    if !validate_only {
        tracing::info!(topic = %name, "topic configs replaced");
    }
    Ok(())
}

/// The overrides a resource entry asks for; a key given twice or without a value is refused.
fn new_overrides(r: &AlterConfigsResource) -> Result<BTreeMap<String, String>, TopicError> {
    let mut overrides = BTreeMap::new();
    for c in &r.configs {
        let value = c.value.as_ref().ok_or_else(|| {
            configs::invalid_request(format!("config '{}' has a null value", &*c.name))
        })?;
        if overrides
            .insert(c.name.to_string(), value.to_string())
            .is_some()
        {
            return Err(configs::invalid_request(format!(
                "config '{}' appears more than once",
                &*c.name
            )));
        }
    }
    Ok(overrides)
}
