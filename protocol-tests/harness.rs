//! Test harness: the broker under test (the `raftka` binary started on a free port in a temp
//! directory, or any broker named by `RAFTKA_BOOTSTRAP`), and raw-frame client helpers.
//! Every wait is bounded; a started broker is killed when its handle drops.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::wire::{framed, read_frame};

/// Bound on every read, connect and start-up wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// A broker to test: ours (killed on drop) or an external one.
pub struct Target {
    pub addr: SocketAddr,
    process: Option<BrokerProcess>,
}

struct BrokerProcess {
    child: Child,
    dir: tempfile::TempDir,
    overrides: Vec<(String, String)>,
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
                Target {
                    addr,
                    process: None,
                }
            }
            Err(_) => Target::own(&[]),
        }
    }

    /// A broker of our own with `overrides` (`key=value` settings); `None` when the suite runs
    /// against `RAFTKA_BOOTSTRAP`, whose settings it cannot choose.
    pub fn own_unless_external(overrides: &[(&str, &str)]) -> Option<Target> {
        if std::env::var_os("RAFTKA_BOOTSTRAP").is_some() {
            tracing::info!(
                "RAFTKA_BOOTSTRAP set: skipping a test that needs its own broker settings"
            );
            return None;
        }
        Some(Target::own(overrides))
    }

    /// Starts `raftka` on a free port; retries if another process takes the port first.
    pub fn own(overrides: &[(&str, &str)]) -> Target {
        let mut last_error = String::new();
        let overrides: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        for _ in 0..5 {
            let port = free_port();
            let dir = tempfile::tempdir().expect("temp dir");
            let child = spawn(port, dir.path(), &overrides);
            let mut process = BrokerProcess {
                child,
                dir,
                overrides: overrides.clone(),
            };
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match wait_ready(&mut process.child, addr) {
                Ok(()) => {
                    drain_stderr(&mut process.child);
                    return Target {
                        addr,
                        process: Some(process),
                    };
                }
                Err(e) => last_error = e,
            }
        }
        panic!("broker did not start: {last_error}");
    }

    /// `kill -9` of our own broker (panics on an external one), then a new process on the same
    /// data directory and port, waited for until it answers.
    #[allow(dead_code)] // used by tests/crash.rs only
    pub fn kill9_and_restart(&mut self) {
        let addr = self.addr;
        let p = self
            .process
            .as_mut()
            .expect("only a broker the test started can be killed");
        p.child.kill().expect("SIGKILL the broker");
        let status = p.child.wait().expect("reap the killed broker");
        tracing::info!(%status, "broker killed");
        p.child = spawn(addr.port(), p.dir.path(), &p.overrides);
        if let Err(e) = wait_ready(&mut p.child, addr) {
            panic!("broker did not restart on {addr}: {e}");
        }
        drain_stderr(&mut p.child);
    }

    /// The data directory of our own broker (`None` for an external one).
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self.process.as_ref().map(|p| p.dir.path())
    }

    /// The process id of our own broker.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(|p| p.child.id())
    }

    /// Waits (bounded) for our broker to exit; returns its exit code.
    pub fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let p = self.process.as_mut()?;
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = p.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
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

/// Starts `raftka serve` on `port` with its data in `dir`; no `RAFTKA_*` variable leaks in.
/// Segment size of test brokers: above `message.max.bytes` + 64 KiB, far below the default.
const TEST_SEGMENT_BYTES: &str = "log.segment.bytes=8388608";

fn spawn(port: u16, dir: &std::path::Path, overrides: &[(String, String)]) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftka"));
    cmd.arg("serve")
        .arg("--listeners")
        .arg(format!("PLAINTEXT://127.0.0.1:{port}"))
        .arg("--log-dirs")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // Every partition preallocates a whole segment of disk: test brokers use small ones so a
    // suite of many topics in parallel reserves megabytes, not gigabytes.
    if !overrides.iter().any(|(key, _)| key == "log.segment.bytes") {
        cmd.arg("--override").arg(TEST_SEGMENT_BYTES);
    }
    for (key, value) in overrides {
        cmd.arg("--override").arg(format!("{key}={value}"));
    }
    for (name, _) in std::env::vars() {
        if name.starts_with("RAFTKA_") {
            cmd.env_remove(name);
        }
    }
    cmd.spawn().expect("spawn raftka")
}

/// Keeps draining stderr so the broker never blocks on a full pipe.
fn drain_stderr(child: &mut Child) {
    if let Some(mut err) = child.stderr.take() {
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

fn wait_ready(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("raftka exited with {status}: {err}"));
        }
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
            if s.write_all(&api_versions_frame(0, 1)).is_ok() && read_frame(&mut s).is_ok() {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    Err(format!("no answer on {addr} within {WAIT:?}"))
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    s.set_read_timeout(Some(WAIT)).expect("read timeout");
    s.set_write_timeout(Some(WAIT)).expect("write timeout");
    s
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

/// Test logs (phases) through the test writer, once per test binary; RUST_LOG filters them.
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}
