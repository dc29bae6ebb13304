//! The broker under test: `RAFTKA_BOOTSTRAP` if set, else a `raftka` process of our own on a free
//! port in a temp dir (`tests/common/process.rs`), killed when its handle drops; and the raw-frame
//! client helpers of the suite. Every wait is bounded by `common::WAIT`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::common::process::Broker;
use crate::common::wire::{framed, read_frame};

/// A broker to test: ours (killed on drop) or an external one.
pub struct Target {
    pub addr: SocketAddr,
    broker: Option<Broker>,
}

impl Target {
    /// `RAFTKA_BOOTSTRAP` if set, else a fresh broker with default settings.
    pub fn any() -> Target {
        match std::env::var("RAFTKA_BOOTSTRAP") {
            Ok(bootstrap) => {
                let addr = bootstrap
                    .split(',')
                    .next()
                    .and_then(|a| a.to_socket_addrs().ok()?.next())
                    .unwrap_or_else(|| panic!("RAFTKA_BOOTSTRAP={bootstrap}: expected host:port"));
                Target { addr, broker: None }
            }
            Err(_) => Target::own(&[]),
        }
    }

    /// A broker of our own with `overrides` (`key=value` settings), `RAFTKA_BOOTSTRAP` or not.
    /// A test that needs one is `#[ignore]`d with the reason (see `main.rs`).
    pub fn own(overrides: &[(&str, &str)]) -> Target {
        let broker = Broker::start(overrides);
        Target {
            addr: broker.addr,
            broker: Some(broker),
        }
    }

    /// A broker the test keeps running itself (one started with its built-in defaults, say).
    pub fn at(addr: SocketAddr) -> Target {
        Target { addr, broker: None }
    }

    fn broker(&mut self) -> &mut Broker {
        self.broker
            .as_mut()
            .expect("only a broker the test started can be killed or stopped")
    }

    /// `kill -9` of our own broker, then a new process on the same data directory and port,
    /// waited for until it answers.
    pub fn kill9_and_restart(&mut self) {
        self.broker().kill9_and_restart();
    }

    /// The data directory of our own broker (`None` for an external one).
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.broker.as_ref().map(Broker::data_dir)
    }

    /// The process id of our own broker.
    pub fn pid(&self) -> Option<u32> {
        self.broker.as_ref()?.process.pid()
    }

    /// Waits (bounded) for our broker to exit; returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        self.broker().process.wait_exit(within)?.code()
    }

    pub fn connect(&self) -> TcpStream {
        crate::common::wire::connect(self.addr)
    }

    /// A new connection gets a normal ApiVersions v3 answer: the broker is still serving.
    pub fn assert_serving(&self) {
        let mut s = self.connect();
        let (correlation, response) = api_versions(&mut s, 3, 77);
        assert_eq!(correlation, 77);
        assert_eq!(response.error_code, 0);
        assert!(
            response
                .api_keys
                .iter()
                .any(|k| k.api_key == ApiKey::ApiVersions as i16)
        );
    }
}

/// A framed ApiVersions request built with the client side of `kafka-protocol`.
pub fn api_versions_frame(version: i16, correlation_id: i32) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(ApiKey::ApiVersions as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_static_str("protocol-tests")));
    let mut buf = BytesMut::new();
    header
        .encode(
            &mut buf,
            ApiKey::ApiVersions.request_header_version(version.min(4)),
        )
        .expect("encode header");
    let body = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("raftka-protocol-tests"))
        .with_client_software_version(StrBytes::from_static_str("0.1.0"));
    body.encode(&mut buf, version.min(4)).expect("encode body");
    framed(&buf)
}

/// Sends ApiVersions at `version` and decodes the answer (response header v0, always).
pub fn api_versions(
    s: &mut TcpStream,
    version: i16,
    correlation_id: i32,
) -> (i32, ApiVersionsResponse) {
    s.write_all(&api_versions_frame(version, correlation_id))
        .expect("send ApiVersions");
    let frame = read_frame(s).expect("ApiVersions answer");
    decode_api_versions(frame, version)
}

/// Response header v0 then the body at `version`; every byte must be used.
pub fn decode_api_versions(mut frame: Bytes, version: i16) -> (i32, ApiVersionsResponse) {
    let header = ResponseHeader::decode(&mut frame, 0).expect("response header v0");
    let response = ApiVersionsResponse::decode(&mut frame, version).expect("ApiVersions body");
    assert_eq!(
        frame.remaining(),
        0,
        "bytes left after an ApiVersions v{version} answer"
    );
    (header.correlation_id, response)
}

/// The broker closes the connection (end of stream or reset) within [`WAIT`].
pub fn assert_closed(s: &mut TcpStream, case: &str) {
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue, // an answer to something earlier; keep reading
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!(
                "{case}: connection not closed after {:?}: {e}",
                start.elapsed()
            ),
        }
    }
}

/// Peak resident memory of a process, from /proc (Linux).
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Request header bytes (v1, or v2 when `flexible`) for hand-made frames.
pub fn raw_header(api_key: i16, version: i16, correlation_id: i32, flexible: bool) -> BytesMut {
    let mut b = BytesMut::new();
    b.put_i16(api_key);
    b.put_i16(version);
    b.put_i32(correlation_id);
    b.put_i16(-1); // null client id
    if flexible {
        b.put_u8(0);
    }
    b
}

pub fn put_varint(b: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}
