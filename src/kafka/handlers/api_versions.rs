//! ApiVersions: the served APIs and version ranges, straight from the table in `versions.rs`.
//! Newer-than-served versions are answered by `connection.rs` through [`unsupported_version`].

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use super::RequestContext;
use crate::kafka::error_map::{self, Refusal};
use crate::kafka::versions;

/// Serves ApiVersions v0-v4. From v3 the client names itself; a malformed name is INVALID_REQUEST,
/// as Kafka answers.
pub(crate) async fn handle(
    ctx: RequestContext,
    request: ApiVersionsRequest,
) -> Option<ApiVersionsResponse> {
    if ctx.api_version >= 3
        && !(valid_software_field(&request.client_software_name)
            && valid_software_field(&request.client_software_version))
    {
        tracing::info!(
            name = %request.client_software_name.escape_debug(),
            version = %request.client_software_version.escape_debug(),
            "ApiVersions with a malformed client software name or version"
        );
        return Some(
            ApiVersionsResponse::default()
                .with_error_code(error_map::refusal_code(Refusal::InvalidRequest)),
        );
    }
    Some(supported())
}

/// The v0 answer to an ApiVersions version newer than served: UNSUPPORTED_VERSION plus the ranges,
/// from which the client picks a version it shares with us (KIP-511).
pub(crate) fn unsupported_version() -> ApiVersionsResponse {
    supported().with_error_code(error_map::refusal_code(Refusal::UnsupportedVersion))
}

fn supported() -> ApiVersionsResponse {
    let api_keys = versions::served()
        .into_iter()
        .map(|(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default().with_api_keys(api_keys)
}

/// Kafka's rule for client software name and version: `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`.
fn valid_software_field(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_field_rule_matches_kafka() {
        for ok in ["librdkafka", "2.12.1", "a", "franz-go", "x.y-z9"] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".", "a b", "é", "a_b"] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }

    #[test]
    fn unsupported_version_answer_lists_the_table() {
        let r = unsupported_version();
        assert_eq!(r.error_code, 35);
        assert_eq!(r.api_keys.len(), versions::served().len());
        assert!(
            r.api_keys
                .iter()
                .any(|k| k.api_key == 18 && k.max_version == 4)
        );
    }
}
