//! DescribeConfigs v1-v4: every supported setting of a topic (its value, where the value comes
//! from, synonyms down to the broker default) or of this broker (static settings, read-only).
//! From v3 each entry has a type and, when asked, documentation. `metadata/admin/` describes;
//! `configs.rs` holds the codes.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::kafka::configs;
use crate::metadata::admin::{ConfigEntry, Synonym};

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
    let resources = request
        .resources
        .iter()
        .map(|r| {
            let keys = r
                .configuration_keys
                .as_ref()
                .map(|keys| keys.iter().map(|k| k.to_string()).collect());
            (configs::resource(r.resource_type, &r.resource_name), keys)
        })
        .collect();
    let described = ctx.broker.services.admin.describe_configs(resources);
    let results = request
        .resources
        .into_iter()
        .zip(described)
        .map(|(r, entries)| {
            let (code, message) = configs::outcome_fields(&entries);
            DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name)
                .with_error_code(code)
                .with_error_message(message)
                .with_configs(
                    entries
                        .unwrap_or_default()
                        .iter()
                        .map(|e| entry(e, wanted))
                        .collect(),
                )
        })
        .collect();
    Some(DescribeConfigsResponse::default().with_results(results))
}

/// One entry with the fields every version has; type and documentation added per version.
fn entry(e: &ConfigEntry, wanted: Wanted) -> DescribeConfigsResourceResult {
    let mut described = DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(e.name))
        .with_value(Some(StrBytes::from_string(e.value.clone())))
        .with_read_only(e.read_only)
        .with_config_source(configs::source_code(e.source))
        .with_is_sensitive(false)
        .with_documentation(None);
    if wanted.synonyms {
        described.synonyms = e.synonyms.iter().map(synonym).collect();
    }
    if has_type_and_documentation(wanted.version) {
        described.config_type = configs::type_code(e.value_type);
        if wanted.documentation {
            described.documentation = Some(StrBytes::from_static_str(e.doc));
        }
    }
    described
}

fn synonym(s: &Synonym) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_static_str(s.name))
        .with_value(Some(StrBytes::from_string(s.value.clone())))
        .with_source(configs::source_code(s.source))
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    use super::*;
    use crate::config::SettingType;
    use crate::metadata::ConfigSource;

    #[test]
    fn every_version_encodes() {
        let described = ConfigEntry {
            name: "retention.ms",
            value: "1000".into(),
            source: ConfigSource::Topic,
            read_only: false,
            synonyms: vec![Synonym {
                name: "log.retention.ms",
                value: "604800000".into(),
                source: ConfigSource::Default,
            }],
            value_type: SettingType::Long,
            doc: "age after which a whole segment is deleted",
        };
        for version in 1..=4 {
            let wanted = Wanted {
                synonyms: true,
                documentation: has_type_and_documentation(version),
                version,
            };
            let encoded = entry(&described, wanted);
            assert_eq!(encoded.config_source, 1);
            assert_eq!(encoded.synonyms[0].source, 5);
            assert_eq!(
                encoded.config_type,
                if version >= 3 { 5 } else { 0 },
                "v{version}"
            );
            let response = DescribeConfigsResponse::default().with_results(vec![
                DescribeConfigsResult::default().with_configs(vec![encoded]),
            ]);
            response
                .encode(&mut BytesMut::new(), version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
