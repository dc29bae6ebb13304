//! Config resources as DescribeConfigs, AlterConfigs and IncrementalAlterConfigs name them: the
//! resource types, which broker a name means, Kafka's codes for config sources and types, and
//! the one way a topic's settings change (through the metadata log, effective on the replicas
//! before the answer). The handlers beside `handlers/` build their responses from these.

use std::collections::HashSet;

use kafka_protocol::protocol::StrBytes;

use super::context::BrokerContext;
use super::error_map::{self, Refusal};
use super::topics::{self, TopicError};
use crate::config::SettingType;
use crate::metadata::{Command, ConfigSource, ValueType, state};

/// Kafka's resource type codes (`ConfigResource.Type`).
pub(crate) const TOPIC: i8 = 2;
pub(crate) const BROKER: i8 = 4;
pub(crate) const BROKER_LOGGER: i8 = 8;

/// Kafka's config source codes (`DescribeConfigsResponse.ConfigSource`).
pub(crate) const DYNAMIC_TOPIC_CONFIG: i8 = 1;
pub(crate) const STATIC_BROKER_CONFIG: i8 = 4;
pub(crate) const DEFAULT_CONFIG: i8 = 5;

/// A resource a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resource {
    Topic(String),
    /// This broker (named by its id, or by "" for the cluster-wide defaults, which are the
    /// same settings here).
    Broker,
}

fn refused(r: Refusal, message: impl Into<String>) -> TopicError {
    TopicError::new(error_map::refusal(r), message)
}

/// Which resource `(resource_type, name)` means on this broker.
pub(crate) fn resource(
    ctx: &BrokerContext,
    resource_type: i8,
    name: &str,
) -> Result<Resource, TopicError> {
    match resource_type {
        TOPIC => {
            state::validate_topic_name(name)
                .map_err(|e| refused(Refusal::InvalidTopic, e.to_string()))?;
            Ok(Resource::Topic(name.to_string()))
        }
        BROKER => {
            let me = ctx.node_id();
            if name.is_empty() || name.parse::<u64>().ok() == Some(me) {
                Ok(Resource::Broker)
            } else {
                Err(refused(
                    Refusal::InvalidRequest,
                    format!("this is broker {me}; ask broker '{name}' itself for its configs"),
                ))
            }
        }
        BROKER_LOGGER => Err(refused(
            Refusal::InvalidRequest,
            "broker loggers are set by log.level or RUST_LOG at start-up",
        )),
        other => Err(refused(
            Refusal::InvalidRequest,
            format!("unknown resource type {other}"),
        )),
    }
}

/// The topic an alter request may change; anything else is refused.
pub(crate) fn alterable_topic(resource: Resource) -> Result<String, TopicError> {
    match resource {
        Resource::Topic(name) => Ok(name),
        Resource::Broker => Err(refused(
            Refusal::InvalidRequest,
            "broker configs are static: set them in the config file, a RAFTKA_* variable or \
             --override, and restart",
        )),
    }
}

/// Applies (or with `validate_only`, checks) a change of a topic's settings; the running
/// replicas have the new settings when this returns.
pub(crate) async fn alter_topic(
    ctx: &BrokerContext,
    cmd: &Command,
    validate_only: bool,
) -> Result<(), TopicError> {
    topics::apply(ctx, cmd, validate_only, topics::effect_wait(0))
        .await
        .map(drop)
}

/// Refuses a request naming the same resource twice, as Kafka does.
pub(crate) fn duplicate(resource_type: i8, name: &str) -> TopicError {
    refused(
        Refusal::InvalidRequest,
        format!("resource {resource_type}/'{name}' appears more than once in the request"),
    )
}

/// The (type, name) pairs named more than once among an Alter request's resources.
pub(crate) fn repeated<'a>(
    resources: impl IntoIterator<Item = (i8, &'a str)>,
) -> HashSet<(i8, &'a str)> {
    let mut seen = HashSet::new();
    let mut repeated = HashSet::new();
    for key in resources {
        if !seen.insert(key) {
            repeated.insert(key);
        }
    }
    repeated
}

/// The error code and message an Alter response carries for one resource's outcome.
pub(crate) fn outcome_fields(
    resource_name: &str,
    outcome: Result<(), TopicError>,
) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(()) => (0, None),
        Err(e) => {
            tracing::info!(resource = resource_name, error = %e.message, "configs not altered");
            (e.error.code(), Some(StrBytes::from_string(e.message)))
        }
    }
}

pub(crate) fn topic_source(source: ConfigSource, broker_static: bool) -> i8 {
    match source {
        ConfigSource::Topic => DYNAMIC_TOPIC_CONFIG,
        ConfigSource::Default if broker_static => STATIC_BROKER_CONFIG,
        ConfigSource::Default => DEFAULT_CONFIG,
    }
}

pub(crate) fn broker_source(is_default: bool) -> i8 {
    if is_default {
        DEFAULT_CONFIG
    } else {
        STATIC_BROKER_CONFIG
    }
}

/// Kafka's config type codes (`DescribeConfigsResponse.ConfigType`).
pub(crate) fn topic_type(t: ValueType) -> i8 {
    match t {
        ValueType::String => 2,
        ValueType::Int => 3,
        ValueType::Long => 5,
    }
}

pub(crate) fn broker_type(t: SettingType) -> i8 {
    match t {
        SettingType::Boolean => 1,
        SettingType::String => 2,
        SettingType::Int => 3,
        SettingType::Long => 5,
    }
}

/// An unknown topic in a config request.
pub(crate) fn unknown_topic(name: &str) -> TopicError {
    refused(
        Refusal::UnknownTopicOrPartition,
        format!("unknown topic '{name}'"),
    )
}

/// A malformed entry of an alter request (null value, unknown operation).
pub(crate) fn invalid_request(message: String) -> TopicError {
    refused(Refusal::InvalidRequest, message)
}

pub(crate) fn invalid_config(message: String) -> TopicError {
    refused(Refusal::InvalidConfig, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(topic_source(ConfigSource::Topic, true), 1);
        assert_eq!(topic_source(ConfigSource::Default, true), 4);
        assert_eq!(topic_source(ConfigSource::Default, false), 5);
        assert_eq!(broker_source(false), 4);
        assert_eq!(topic_type(ValueType::Long), 5);
        assert_eq!(broker_type(SettingType::Boolean), 1);
    }
}
