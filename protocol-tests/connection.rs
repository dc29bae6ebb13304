//! Connection behaviour: pipelined requests answered in order, idle and slow-drip connections
//! closed after `connections.max.idle.ms`, graceful exit on SIGTERM.

use std::io::Write;
use std::time::{Duration, Instant};

use tracing::info;

use crate::common::init_logs;
use crate::common::wire::read_frame;
use crate::harness::{
    Target, api_versions, api_versions_frame, assert_closed, decode_api_versions,
};

#[test]
fn fifty_pipelined_requests_are_answered_in_order() {
    init_logs();
    let target = Target::any();
    let mut s = target.connect();
    info!("50 ApiVersions requests of mixed versions written before reading any answer");
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend_from_slice(&api_versions_frame((i % 5) as i16, 1000 + i));
    }
    s.write_all(&batch).expect("send batch");
    for i in 0..50 {
        let frame = read_frame(&mut s).expect("answer");
        let (correlation, response) = decode_api_versions(frame, (i % 5) as i16);
        assert_eq!(correlation, 1000 + i, "answer {i} out of order");
        assert_eq!(response.error_code, 0);
    }
}

#[test]
#[ignore = "needs a broker of its own: sets connections.max.idle.ms"]
fn idle_connections_are_closed() {
    init_logs();
    let target = Target::own(&[("connections.max.idle.ms", "400")]);
    info!("a busy connection outlives the idle limit");
    let mut busy = target.connect();
    let start = Instant::now();
    let mut correlation = 0;
    while start.elapsed() < Duration::from_millis(1200) {
        correlation += 1;
        let (got, _) = api_versions(&mut busy, 3, correlation);
        assert_eq!(got, correlation);
        std::thread::sleep(Duration::from_millis(100));
    }

    info!("a silent connection is closed after about 400 ms");
    let mut silent = target.connect();
    let start = Instant::now();
    assert_closed(&mut silent, "idle");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(350),
        "closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(5),
        "closed too late: {waited:?}"
    );

    info!("a frame dripped one byte every 100 ms never completes and is closed");
    let mut drip = target.connect();
    let frame = api_versions_frame(3, 1);
    let start = Instant::now();
    let mut closed = false;
    for byte in frame.iter().take(frame.len() - 1) {
        if drip.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !closed {
        assert_closed(&mut drip, "slow drip");
    }
    assert!(start.elapsed() < Duration::from_secs(10));
    target.assert_serving();
}

#[test]
#[ignore = "needs a broker of its own: stops it with SIGTERM"]
fn sigterm_stops_the_broker_cleanly() {
    init_logs();
    let mut target = Target::own(&[]);
    let mut open = target.connect();
    let (_, response) = api_versions(&mut open, 3, 1);
    assert_eq!(response.error_code, 0);
    info!("SIGTERM with a connection open: the broker closes it and exits 0");
    let pid = target.pid().expect("own broker") as libc::pid_t;
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert_closed(&mut open, "connection at shutdown");
    assert_eq!(target.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(std::net::TcpStream::connect_timeout(&target.addr, Duration::from_secs(1)).is_err());
}

/// `queued.max.request.bytes` at 1 byte: every request fills the shared budget, so the
/// connections take turns; all of them, pipelining 50 requests each, are still answered, in
/// order, and the broker goes on serving.
#[test]
#[ignore = "needs a broker of its own: sets queued.max.request.bytes"]
fn connections_take_turns_within_the_shared_request_budget() {
    init_logs();
    let target = Target::own(&[("queued.max.request.bytes", "1")]);
    let mut conns: Vec<_> = (0..20).map(|_| target.connect()).collect();
    for (c, s) in conns.iter_mut().enumerate() {
        let mut batch = Vec::new();
        for i in 0..50 {
            batch.extend_from_slice(&api_versions_frame(3, (c * 100 + i) as i32));
        }
        s.write_all(&batch).expect("send batch");
    }
    for (c, s) in conns.iter_mut().enumerate() {
        for i in 0..50 {
            let frame = read_frame(s).expect("answer");
            let (correlation, response) = decode_api_versions(frame, 3);
            assert_eq!(correlation, (c * 100 + i) as i32);
            assert_eq!(response.error_code, 0);
        }
    }
    target.assert_serving();
}
