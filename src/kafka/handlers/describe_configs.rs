//! DescribeConfigs v1-v4: every supported setting of a topic (its value, where the value comes
//! from, synonyms down to the broker default) or of this broker (static settings, read-only).
//! From v3 each entry has a type and, when asked, documentation. `configs.rs` holds the codes.

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::config::BrokerSetting;
use crate::kafka::configs::{self, Resource};
use crate::kafka::context::BrokerContext;
use crate::metadata::{ConfigSource, topic_config};

/// From v3 entries carry their type and (on request) documentation.
fn has_type_and_documentation(version: i16) -> bool {
    version >= 3
}

/// What the request asks to be included, beside values.
#[derive(Debug, Clone, Copy)]
struct Wanted {
    synonyms: bool,
    documentation: bool,
    version: i16,
}

pub(crate) async fn handle(
    ctx: RequestContext,
    request: DescribeConfigsRequest,
) -> Option<DescribeConfigsResponse> {
    let version = ctx.api_version;
    let wanted = Wanted {
        synonyms: request.include_synonyms,
        documentation: has_type_and_documentation(version) && request.include_documentation,
        version,
    };
    let broker_settings = ctx.broker.config.describe(&ctx.broker.advertised);
    let results = request
        .resources
        .iter()
        .map(|r| describe(&ctx.broker, &broker_settings, r, wanted))
        .collect();
    Some(DescribeConfigsResponse::default().with_results(results))
}

fn describe(
    broker: &BrokerContext,
    broker_settings: &[BrokerSetting],
    r: &DescribeConfigsResource,
    wanted: Wanted,
) -> DescribeConfigsResult {
    let base = DescribeConfigsResult::default()
        .with_resource_type(r.resource_type)
        .with_resource_name(r.resource_name.clone())
        .with_error_message(None);
    // Null or empty: every key (as Kafka does).
    let keep = |name: &str| match &r.configuration_keys {
        Some(keys) if !keys.is_empty() => keys.iter().any(|k| &**k == name),
        _ => true,
    };
    let entries = match configs::resource(broker, r.resource_type, &r.resource_name) {
        Err(e) => Err(e),
        Ok(Resource::Broker) => Ok(broker_settings
            .iter()
            .filter(|s| keep(s.name))
            .map(|s| broker_entry(s, wanted))
            .collect()),
        Ok(Resource::Topic(name)) => {
            let state = broker.services.metadata.current().state;
            match state.topics.get(&name) {
                None => Err(configs::unknown_topic(&name)),
                Some(topic) => Ok(topic_config::describe(
                    &topic.configs,
                    &broker.services.topic_defaults,
                )
                .into_iter()
                .filter(|c| keep(c.name))
                .map(|c| topic_entry(&c, broker_settings, wanted))
                .collect()),
            }
        }
    };
    match entries {
        Ok(entries) => base.with_configs(entries),
        Err(e) => {
            tracing::info!(resource = %&*r.resource_name, error = %e.message, "configs not described");
            base.with_error_code(e.error.code())
                .with_error_message(Some(StrBytes::from_string(e.message)))
        }
    }
}

fn synonym(name: &str, value: &str, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value.to_string())))
        .with_source(source)
}

/// One entry with the fields every version has; type and documentation added per version.
fn entry(
    name: &str,
    value: &str,
    source: i8,
    read_only: bool,
    synonyms: Vec<DescribeConfigsSynonym>,
    type_and_doc: (i8, &str),
    wanted: Wanted,
) -> DescribeConfigsResourceResult {
    let mut e = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(name.to_string()))
        .with_value(Some(StrBytes::from_string(value.to_string())))
        .with_read_only(read_only)
        .with_config_source(source)
        .with_is_sensitive(false)
        .with_documentation(None);
    if wanted.synonyms {
        e.synonyms = synonyms;
    }
    if has_type_and_documentation(wanted.version) {
        e.config_type = type_and_doc.0;
        if wanted.documentation {
            e.documentation = Some(StrBytes::from_string(type_and_doc.1.to_string()));
        }
    }
    e
}

/// A broker setting: read-only (settings are static), synonyms from the value to the default.
fn broker_entry(s: &BrokerSetting, wanted: Wanted) -> DescribeConfigsResourceResult {
    let source = configs::broker_source(s.is_default);
    let mut synonyms = Vec::with_capacity(2);
    if !s.is_default {
        synonyms.push(synonym(s.name, &s.value, configs::STATIC_BROKER_CONFIG));
    }
    synonyms.push(synonym(s.name, &s.default, configs::DEFAULT_CONFIG));
    let type_and_doc = (configs::broker_type(s.value_type), s.doc);
    entry(
        s.name,
        &s.value,
        source,
        true,
        synonyms,
        type_and_doc,
        wanted,
    )
}

/// A topic setting: the override if any, else the broker's value of its synonym.
fn topic_entry(
    c: &topic_config::DescribedConfig,
    broker_settings: &[BrokerSetting],
    wanted: Wanted,
) -> DescribeConfigsResourceResult {
    let key = topic_config::lookup(c.name);
    let broker_name = key.map_or("", |k| k.broker_name);
    let broker_setting = broker_settings.iter().find(|s| s.name == broker_name);
    let broker_static = broker_setting.is_some_and(|s| !s.is_default);
    let mut synonyms = Vec::with_capacity(3);
    if c.source == ConfigSource::Topic {
        synonyms.push(synonym(c.name, &c.value, configs::DYNAMIC_TOPIC_CONFIG));
    }
    if let Some(s) = broker_setting {
        if !s.is_default {
            synonyms.push(synonym(s.name, &s.value, configs::STATIC_BROKER_CONFIG));
        }
        synonyms.push(synonym(s.name, &s.default, configs::DEFAULT_CONFIG));
    }
    let source = configs::topic_source(c.source, broker_static);
    let config_type = key.map_or(0, |k| configs::topic_type(k.value_type()));
    entry(
        c.name,
        &c.value,
        source,
        false,
        synonyms,
        (config_type, c.doc),
        wanted,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    use super::*;
    use crate::config::Config;
    use crate::metadata::TopicDefaults;

    #[test]
    fn every_version_encodes_and_sources_follow_the_override() {
        let config = Config {
            num_partitions: 4,
            ..Config::default()
        };
        let settings = config.describe(&config.advertised_listeners);
        let overrides = BTreeMap::from([("retention.ms".to_string(), "1000".to_string())]);
        let described = topic_config::describe(&overrides, &TopicDefaults::default());
        for version in 1..=4 {
            let wanted = Wanted {
                synonyms: true,
                documentation: has_type_and_documentation(version),
                version,
            };
            let topic: Vec<_> = described
                .iter()
                .map(|c| topic_entry(c, &settings, wanted))
                .collect();
            let retention = topic
                .iter()
                .find(|e| &*e.name == "retention.ms")
                .expect("entry");
            assert_eq!(retention.config_source, configs::DYNAMIC_TOPIC_CONFIG);
            assert_eq!(
                retention.synonyms.len(),
                2,
                "topic override, then the default"
            );
            assert_eq!(&*retention.synonyms[1].name, "log.retention.ms");
            let segment = topic
                .iter()
                .find(|e| &*e.name == "segment.bytes")
                .expect("entry");
            assert_eq!(segment.config_source, configs::DEFAULT_CONFIG);
            let brokers: Vec<_> = settings.iter().map(|s| broker_entry(s, wanted)).collect();
            let partitions = brokers
                .iter()
                .find(|e| &*e.name == "num.partitions")
                .expect("entry");
            assert_eq!(partitions.config_source, configs::STATIC_BROKER_CONFIG);
            assert!(partitions.read_only);
            let response = DescribeConfigsResponse::default().with_results(vec![
                DescribeConfigsResult::default().with_configs(topic),
                DescribeConfigsResult::default().with_configs(brokers),
            ]);
            response
                .encode(&mut BytesMut::new(), version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
