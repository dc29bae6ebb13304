//! ApiVersions conformance: every served version answers with header v0 and the served ranges; a
//! newer version gets a v0 answer with UNSUPPORTED_VERSION (KIP-511); a malformed client software
//! name gets INVALID_REQUEST.

use std::io::Write;

use kafka_protocol::messages::ApiKey;
use tracing::info;

use crate::common::init_logs;
use crate::common::wire::{framed, read_frame};
use crate::harness::{Target, api_versions, decode_api_versions, raw_header};

#[test]
fn every_served_version_answers_with_the_served_ranges() {
    init_logs();
    let target = Target::any();
    let mut s = target.connect();
    for version in 0..=4 {
        info!(
            version,
            "ApiVersions at each served version, one connection"
        );
        let correlation = 100 + i32::from(version);
        let (got, response) = api_versions(&mut s, version, correlation);
        assert_eq!(got, correlation);
        assert_eq!(response.error_code, 0, "v{version}");
        let own = response
            .api_keys
            .iter()
            .find(|k| k.api_key == ApiKey::ApiVersions as i16)
            .expect("ApiVersions listed");
        assert_eq!((own.min_version, own.max_version), (0, 4), "v{version}");
        for k in &response.api_keys {
            let key = ApiKey::try_from(k.api_key).expect("a known API key");
            let crate_range = key.valid_versions();
            assert!(k.min_version <= k.max_version, "{key:?}");
            assert!(
                crate_range.min <= k.min_version && k.max_version <= crate_range.max,
                "{key:?}"
            );
        }
    }
}

#[test]
fn newer_version_gets_a_v0_answer_with_unsupported_version() {
    init_logs();
    let target = Target::any();
    for version in [5, 100, i16::MAX] {
        info!(version, "ApiVersions newer than served");
        let mut s = target.connect();
        // A newer client speaks header v2; its body is unknown to us, so send some opaque bytes.
        let mut frame = raw_header(ApiKey::ApiVersions as i16, version, 9, true);
        frame.extend_from_slice(&[0x05, b'n', b'a', b'm', b'e', 0x02, b'1', 0x00, 0xaa, 0xbb]);
        s.write_all(&framed(&frame)).expect("send");
        let (correlation, response) = decode_api_versions(read_frame(&mut s).expect("answer"), 0);
        assert_eq!(correlation, 9);
        assert_eq!(response.error_code, 35, "UNSUPPORTED_VERSION");
        assert!(
            response
                .api_keys
                .iter()
                .any(|k| k.api_key == 18 && k.min_version == 0 && k.max_version >= 3)
        );
        info!("the same connection then serves the version the client falls back to");
        let (_, response) = api_versions(&mut s, 3, 10);
        assert_eq!(response.error_code, 0);
    }
}

#[test]
fn malformed_client_software_name_is_invalid_request() {
    init_logs();
    let target = Target::any();
    let mut s = target.connect();
    let mut frame = raw_header(ApiKey::ApiVersions as i16, 3, 5, true);
    frame.extend_from_slice(&[0x04, b'-', b'x', b'-', 0x02, b'1', 0x00]);
    s.write_all(&framed(&frame)).expect("send");
    let (correlation, response) = decode_api_versions(read_frame(&mut s).expect("answer"), 3);
    assert_eq!(correlation, 5);
    assert_eq!(response.error_code, 42, "INVALID_REQUEST");
    target.assert_serving();
}
