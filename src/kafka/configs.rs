//! Config resources on the wire: Kafka's codes for resource types, config sources and value
//! types, and the error fields of an answer. `metadata/admin/configs.rs` does the work; the
//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs handlers encode with these.

use kafka_protocol::protocol::StrBytes;

use super::error_map;
use crate::config::SettingType;
use crate::metadata::ConfigSource;
use crate::metadata::admin::{AdminError, ConfigResource, ResourceKind};

/// Kafka's resource type codes (`ConfigResource.Type`).
const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

/// The resource `(resource_type, name)` of a request.
pub(crate) fn resource(resource_type: i8, name: &str) -> ConfigResource {
    let kind = match resource_type {
        TOPIC => ResourceKind::Topic,
        BROKER => ResourceKind::Broker,
        BROKER_LOGGER => ResourceKind::BrokerLogger,
        other => ResourceKind::Unknown(other),
    };
    ConfigResource {
        kind,
        name: name.to_string(),
    }
}

/// Kafka's config source codes (`DescribeConfigsResponse.ConfigSource`).
pub(crate) fn source_code(source: ConfigSource) -> i8 {
    match source {
        ConfigSource::Topic => 1,
        ConfigSource::StaticBroker => 4,
        ConfigSource::Default => 5,
    }
}

/// Kafka's config type codes (`DescribeConfigsResponse.ConfigType`).
pub(crate) fn type_code(t: SettingType) -> i8 {
    match t {
        SettingType::Boolean => 1,
        SettingType::String => 2,
        SettingType::Int => 3,
        SettingType::Long => 5,
        SettingType::Double => 6,
        SettingType::List => 7,
    }
}

/// The error code and message an answer carries for one outcome.
pub(crate) fn outcome_fields<T>(outcome: &Result<T, AdminError>) -> (i16, Option<StrBytes>) {
    match outcome {
        Ok(_) => (error_map::NONE, None),
        Err(e) => (
            error_map::admin_code(e),
            Some(StrBytes::from_string(e.to_string())),
        ),
    }
}

/// The answers of AlterConfigs and IncrementalAlterConfigs, whose per-resource types differ in
/// name only: each resource of the request, in order, with the code and message of its outcome.
macro_rules! alter_answers {
    ($answer:ty, $resources:expr, $outcomes:expr) => {
        $resources
            .into_iter()
            .zip($outcomes)
            .map(|(r, outcome)| {
                let (code, message) = $crate::kafka::configs::outcome_fields(&outcome);
                <$answer>::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
                    .with_error_code(code)
                    .with_error_message(message)
            })
            .collect()
    };
}
pub(crate) use alter_answers;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(source_code(ConfigSource::Topic), 1);
        assert_eq!(source_code(ConfigSource::StaticBroker), 4);
        assert_eq!(source_code(ConfigSource::Default), 5);
        assert_eq!(type_code(SettingType::Long), 5);
        assert_eq!(type_code(SettingType::Boolean), 1);
        assert_eq!(type_code(SettingType::Double), 6);
        assert_eq!(type_code(SettingType::List), 7);
        assert_eq!(resource(2, "t").kind, ResourceKind::Topic);
        assert_eq!(resource(4, "1").kind, ResourceKind::Broker);
        assert_eq!(resource(8, "").kind, ResourceKind::BrokerLogger);
        assert_eq!(resource(3, "").kind, ResourceKind::Unknown(3));
    }
}
