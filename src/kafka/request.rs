//! From a frame to a request ready for its handler: the fixed header fields, the API table lookup,
//! the bounds walk over header and body, then the header decode. `connection.rs` acts on the result;
//! `schema.rs` does the walking.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::Decodable;

use super::schema::BoundsError;
use super::schemas::REQUEST_HEADER;
use super::versions::{self, Api};
use super::walk;

/// Decoding any frame may allocate at least this much (legitimate requests of a few hundred
/// kilobytes can decode to a few megabytes: thousands of topics or partitions).
pub const DECODE_FLOOR_BYTES: usize = 16 << 20;

/// The most a frame of `frame_len` bytes may cost once decoded, beyond the frame itself:
/// the frame's own size or [`DECODE_FLOOR_BYTES`], whichever is larger.
pub fn decode_budget(frame_len: usize) -> usize {
    frame_len.max(DECODE_FLOOR_BYTES)
}

/// A frame that passed every check.
#[derive(Debug)]
pub(crate) enum Parsed {
    /// Ready for `api.route`: the body has been walked against its schema.
    Routed {
        api: &'static Api,
        header: RequestHeader,
        body: Bytes,
        /// Estimated bytes the decoded request will take (header + body).
        decoded_bytes: usize,
    },
    /// ApiVersions at a version this broker does not know: answered at v0 with
    /// UNSUPPORTED_VERSION and the supported ranges (KIP-511).
    NewerApiVersions { correlation_id: i32, version: i16 },
}

/// A frame that cannot be served: the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("frame of {0} bytes is shorter than a request header")]
    TooShort(usize),
    #[error("unknown API key {0}")]
    UnknownApiKey(i16),
    #[error("API {0:?} is not served by this broker")]
    NotServed(ApiKey),
    #[error("{api:?} v{version} is not supported (served: v{min}-v{max})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        min: i16,
        max: i16,
    },
    #[error("bad request header: {0}")]
    Header(BoundsError),
    #[error("bad {api:?} v{version} body: {source}")]
    Body {
        api: ApiKey,
        version: i16,
        source: BoundsError,
    },
    #[error("undecodable {api:?} v{version}: {message}")]
    Decode {
        api: ApiKey,
        version: i16,
        message: String,
    },
}

/// Checks a frame (the bytes after the size prefix) and decodes its header.
pub(crate) fn parse(mut frame: Bytes) -> Result<Parsed, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::TooShort(frame.len()));
    }
    let mut fixed = &frame[..8];
    let (key, version, correlation_id) = (fixed.get_i16(), fixed.get_i16(), fixed.get_i32());
    let api_key = ApiKey::try_from(key).map_err(|()| RequestError::UnknownApiKey(key))?;
    let api = versions::find(api_key).ok_or(RequestError::NotServed(api_key))?;
    let header_version = api_key.request_header_version(version);
    if !api.versions.contains(version) {
        if api_key == ApiKey::ApiVersions && version > api.versions.max {
            // The body of an unknown version cannot be read, but the header still has to be sound.
            walk_header(&frame, header_version)?;
            return Ok(Parsed::NewerApiVersions {
                correlation_id,
                version,
            });
        }
        return Err(RequestError::UnsupportedVersion {
            api: api_key,
            version,
            min: api.versions.min,
            max: api.versions.max,
        });
    }
    let (header_len, mut decoded_bytes) = walk_header(&frame, header_version)?;
    let mut pos = header_len;
    walk::walk(
        api.request,
        version,
        &frame,
        &mut pos,
        &mut decoded_bytes,
        decode_budget(frame.len()),
    )
    .map_err(|source| RequestError::Body {
        api: api_key,
        version,
        source,
    })?;
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| RequestError::Decode {
            api: api_key,
            version,
            message: format!("header: {e}"),
        })?;
    Ok(Parsed::Routed {
        api,
        header,
        body: frame,
        decoded_bytes,
    })
}

/// Walks the request header; returns its length and decoded-size estimate.
fn walk_header(frame: &[u8], header_version: i16) -> Result<(usize, usize), RequestError> {
    let (mut pos, mut decoded) = (0, 0);
    walk::walk(
        &REQUEST_HEADER,
        header_version,
        frame,
        &mut pos,
        &mut decoded,
        decode_budget(frame.len()),
    )
    .map_err(RequestError::Header)?;
    Ok((pos, decoded))
}

/// Runs every check and decodes the body without serving it; returns the decoded-size estimate.
/// For tests and tools that judge the decoder (see tests/decode_memory.rs).
pub fn check_and_decode(frame: Bytes) -> Result<usize, RequestError> {
    match parse(frame)? {
        Parsed::NewerApiVersions { .. } => Ok(0),
        Parsed::Routed {
            api,
            header,
            mut body,
            decoded_bytes,
        } => {
            let version = header.request_api_version;
            (api.decode)(&mut body, version).map_err(|e| RequestError::Decode {
                api: api.key,
                version,
                message: e.to_string(),
            })?;
            Ok(decoded_bytes)
        }
    }
}
