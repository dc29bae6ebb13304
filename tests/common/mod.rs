//! What every test target shares: the one bound on waits, test logs, names no earlier run used,
//! free ports, and a client call bounded in time. `process.rs` runs the `raftka` binary (one
//! broker on a free port in a temp dir, or a process the cluster harness configures);
//! `wire.rs` speaks raw Kafka frames, `raw.rs` builds the requests no client lets a test shape; `raft.rs` runs a single-member Raft instance in process.
//!
//! Each target includes this module: `mod common;` from a file in `tests/`,
//! `#[path = "../common/mod.rs"] mod common;` from a directory in `tests/`, and
//! `#[path = "../tests/common/mod.rs"] mod common;` from `protocol-tests/`.

// Each target uses a part of this module.
#![allow(dead_code)]

pub mod process;
pub mod raft;
pub mod raw;
pub mod wire;

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The bound on every wait: a start-up, a read, a client call, a condition polled for. A test
/// that waits for something slower says so with a multiple of it.
pub const WAIT: Duration = Duration::from_secs(30);

/// Test logs (phases) through the test writer, once per test binary; `RUST_LOG` filters them.
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

/// `prefix` with this process's id and the time: a topic or group name no earlier run (against
/// a long-lived `RAFTKA_BOOTSTRAP` broker, say) has used.
pub fn unique_name(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A port free when asked, below the kernel's ephemeral range (Linux: from 32768). A port the
/// kernel hands out for `:0` can be taken as the local port of some outgoing connection (a
/// client, a Raft link) before a broker binds it; ports below that range are only ever taken
/// by a bind. Each call in this process gets a new one.
pub fn free_port() -> u16 {
    const FIRST: u16 = 20_000;
    const LAST: u16 = 32_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let span = u32::from(LAST - FIRST);
    // Test binaries run one after another, but start each run elsewhere in the range anyway.
    let _ = NEXT.compare_exchange(
        0,
        std::process::id() % span + 1,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let taken = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (taken % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{LAST}");
}

/// Runs a client future to completion within `within`; rdkafka's futures need no runtime of
/// their own, the timer does.
pub fn block_on<F: Future>(within: Duration, future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime");
    runtime
        .block_on(async { tokio::time::timeout(within, future).await })
        .unwrap_or_else(|_| panic!("client call did not finish within {within:?}"))
}

/// The directory of `partition` of `topic` under the data directory `data`:
/// `<topic>-<partition>.<topic id>`; `None` unless exactly one incarnation's is there.
pub fn partition_dir(data: &Path, topic: &str, partition: i32) -> Option<PathBuf> {
    let prefix = format!("{topic}-{partition}.");
    let mut found = std::fs::read_dir(data)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_name().to_str().is_some_and(|name| {
                name.strip_prefix(&prefix)
                    .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
            })
        })
        .map(|e| e.path());
    let first = found.next()?;
    found.next().is_none().then_some(first)
}
