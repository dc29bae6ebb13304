//! Hostile frames (the bad-input list of the reliability plan): each must close its own connection,
//! never crash, hang or balloon the broker, which then still answers a normal client.

use std::io::Write;
use std::net::Shutdown;

use bytes::BufMut;
use kafka_protocol::messages::ApiKey;
use tracing::info;

use crate::common::init_logs;
use crate::common::wire::{framed, read_frame};
use crate::harness::{Target, assert_closed, peak_rss_bytes, put_varint, raw_header};

/// Sends `bytes` on a new connection, expects it closed, then checks the broker serves others.
fn refused(target: &Target, case: &str, bytes: &[u8], half_close: bool) {
    info!(case, len = bytes.len(), "hostile input");
    let mut s = target.connect();
    // The broker may close before everything is written: a failed write is fine.
    let _ = s.write_all(bytes);
    if half_close {
        let _ = s.shutdown(Shutdown::Write);
    }
    assert_closed(&mut s, case);
    target.assert_serving();
}

#[test]
fn bad_size_prefixes_close_the_connection() {
    init_logs();
    let target = Target::any();
    refused(
        &target,
        "size 0x7fffffff",
        &[0x7f, 0xff, 0xff, 0xff, 0, 18],
        false,
    );
    refused(&target, "size -1", &[0xff, 0xff, 0xff, 0xff, 0, 18], false);
    refused(&target, "size INT32_MIN", &[0x80, 0, 0, 0, 0, 18], false);
    // Default socket.request.max.bytes is 100 MiB; the body is never sent.
    let over: i32 = 100 * 1024 * 1024 + 1;
    refused(
        &target,
        "size over socket.request.max.bytes",
        &over.to_be_bytes(),
        false,
    );
    refused(&target, "size 0", &[0, 0, 0, 0], false);
}

#[test]
#[ignore = "needs a broker of its own: sets socket.request.max.bytes"]
fn frame_over_a_small_limit_closes_before_the_body() {
    init_logs();
    let target = Target::own(&[
        ("socket.request.max.bytes", "4096"),
        ("message.max.bytes", "1024"),
    ]);
    refused(
        &target,
        "4097-byte frame, limit 4096",
        &4097i32.to_be_bytes(),
        false,
    );
    info!("a frame of exactly the limit is read and judged on its content");
    let mut body = raw_header(ApiKey::ApiVersions as i16, 0, 1, false).to_vec();
    body.resize(4096, 0);
    let mut s = target.connect();
    s.write_all(&framed(&body)).expect("send");
    let answer = read_frame(&mut s).expect("trailing bytes after a v0 body are ignored");
    assert_eq!(&answer[..4], &1i32.to_be_bytes());
}

#[test]
fn truncated_and_garbage_frames_close_the_connection() {
    init_logs();
    let target = Target::any();
    let mut truncated = 100i32.to_be_bytes().to_vec();
    truncated.extend_from_slice(&[0, 18, 0, 3, 0, 0]);
    refused(
        &target,
        "truncated body then end of stream",
        &truncated,
        true,
    );
    refused(
        &target,
        "frame shorter than a header",
        &framed(&[0, 18, 0]),
        false,
    );
    refused(
        &target,
        "unknown API key 9999",
        &framed(&raw_header(9999, 0, 1, false)),
        false,
    );
    refused(
        &target,
        "negative API key",
        &framed(&raw_header(-1, 0, 1, false)),
        false,
    );
    // kafka-protocol-rs #152, as a frame body (API key 768) and as a Metadata v0 body.
    let repro = [0x03, 0x00, 0x00, 0x03, 0x3c, 0x0c, 0x00, 0xb6];
    refused(
        &target,
        "issue 152 bytes as a frame",
        &framed(&repro),
        false,
    );
    let mut metadata = raw_header(ApiKey::Metadata as i16, 0, 1, false);
    metadata.extend_from_slice(&repro);
    refused(
        &target,
        "issue 152 bytes as a Metadata v0 body",
        &framed(&metadata),
        false,
    );
    let mut huge = raw_header(ApiKey::Metadata as i16, 1, 1, false);
    huge.put_i32(i32::MAX);
    refused(
        &target,
        "array count 2^31-1 with a 4-byte body",
        &framed(&huge),
        false,
    );
    let mut compact = raw_header(ApiKey::Metadata as i16, 9, 1, true);
    put_varint(&mut compact, u32::MAX);
    refused(
        &target,
        "compact array count 2^32-2",
        &framed(&compact),
        false,
    );
    refused(
        &target,
        "ApiVersions at version -1",
        &framed(&raw_header(18, -1, 1, false)),
        false,
    );
}

#[test]
fn invalid_strings_close_the_connection() {
    init_logs();
    let target = Target::any();
    let mut bad_client_id = raw_header(18, 0, 1, false);
    bad_client_id.truncate(8);
    bad_client_id.put_i16(2);
    bad_client_id.put_slice(&[0xc3, 0x28]);
    refused(
        &target,
        "invalid UTF-8 client id",
        &framed(&bad_client_id),
        false,
    );
    let mut bad_name = raw_header(18, 3, 1, true);
    bad_name.put_slice(&[0x03, 0xff, 0xfe, 0x02, b'1', 0x00]);
    refused(
        &target,
        "invalid UTF-8 client software name",
        &framed(&bad_name),
        false,
    );
    let mut long_id = raw_header(18, 0, 1, false);
    long_id.truncate(8);
    long_id.put_i16(i16::MAX);
    refused(
        &target,
        "client id longer than the frame",
        &framed(&long_id),
        false,
    );
    let mut null_name = raw_header(18, 3, 1, true);
    null_name.put_slice(&[0x00, 0x02, b'1', 0x00]);
    refused(
        &target,
        "null client software name",
        &framed(&null_name),
        false,
    );
}

#[test]
fn twenty_million_tagged_fields_do_not_balloon_the_broker() {
    init_logs();
    let target = Target::any();
    info!("tagged-field count of 20M with 4 bytes behind it");
    let mut short = raw_header(18, 3, 1, false);
    put_varint(&mut short, 20_000_000);
    short.put_slice(&[1, 0, 1, 0]);
    refused(
        &target,
        "20M tagged fields announced, 2 sent",
        &framed(&short),
        false,
    );

    info!("20M real tagged fields in a 40 MB frame (under the 100 MiB limit)");
    let count = 20_000_000u32;
    let mut full = raw_header(18, 3, 1, false);
    put_varint(&mut full, count);
    full.reserve(2 * count as usize);
    for _ in 0..count {
        full.put_slice(&[1, 0]);
    }
    refused(&target, "20M tagged fields", &framed(&full), false);
    if let Some(peak) = target.pid().and_then(peak_rss_bytes) {
        info!(peak_mib = peak >> 20, "broker peak RSS");
        // Decoding them would take gigabytes; the frame itself is 40 MB.
        assert!(peak < 256 << 20, "peak RSS {} MiB", peak >> 20);
    }
}
