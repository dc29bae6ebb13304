//! Raw Kafka wire helpers shared by the black-box suites: a connection with bounded reads,
//! size-prefixed frames and one typed request/response round trip with `kafka-protocol`'s
//! client side.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use super::WAIT;

/// A connection to `addr` whose connect, reads and writes are bounded by [`WAIT`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.set_write_timeout(Some(WAIT)).expect("write timeout");
    s
}

/// `body` with its 4-byte size prefix.
pub fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as i32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads one frame's body (size prefix removed).
pub fn read_frame(s: &mut TcpStream) -> std::io::Result<Bytes> {
    let mut size = [0u8; 4];
    s.read_exact(&mut size)?;
    let size = i32::from_be_bytes(size);
    assert!((0..64 << 20).contains(&size), "response size {size}");
    let mut body = vec![0u8; size as usize];
    s.read_exact(&mut body)?;
    Ok(Bytes::from(body))
}

/// Sends `request` at `version` and decodes the answer; every byte must be used.
pub fn call<Req: Encodable, Resp: Decodable + HeaderVersion>(
    s: &mut TcpStream,
    key: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    send(s, key, version, 11, request);
    receive(s, key, version, 11)
}

/// Sends `request` at `version` without waiting for its answer (requests may be pipelined).
pub fn send<Req: Encodable>(
    s: &mut TcpStream,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
    request: &Req,
) {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("admin-raw")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("encode header");
    request.encode(&mut buf, version).expect("encode request");
    s.write_all(&framed(&buf)).expect("send");
}

/// Reads and decodes the next answer, which must be the one to `correlation_id`.
pub fn receive<Resp: Decodable + HeaderVersion>(
    s: &mut TcpStream,
    key: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Resp {
    let mut frame = read_frame(s).expect("answer");
    let h = ResponseHeader::decode(&mut frame, Resp::header_version(version)).expect("header");
    assert_eq!(h.correlation_id, correlation_id);
    let response = Resp::decode(&mut frame, version).expect("decode answer");
    assert_eq!(frame.remaining(), 0, "{key:?} v{version}: bytes left");
    response
}
