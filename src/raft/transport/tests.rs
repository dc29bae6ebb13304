//! Unit tests of the transport's wire format: round trips, zero-copy record payloads, split
//! requests, and hostile bytes (truncations, bad counts, huge lengths) that must be refused
//! without a panic or a large allocation.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use openraft::entry::RaftEntry;
use openraft::{EntryPayload, Membership};

use super::append::{self, AppendRequest, ENTRY_HEADER_BYTES};
use super::frame::{self, Hello, MAX_HELLO_FRAME_BYTES, Welcome};
use super::peer::next_backoff;
use super::{DEFAULT_MAX_FRAME_BYTES, FRAME_SLACK_BYTES, TransportConfig};
use crate::config::Config;
use crate::raft::RaftTiming;
use crate::raft::types::{Entry, LogId, Request, Vote};
use crate::record::{BATCH_HEADER_BYTES, RecordBatch};

/// A RecordBatch v2 of `len` bytes (header fields only; the transport never reads records).
fn batch(len: usize, fill: u8) -> RecordBatch {
    let mut b = vec![fill; len];
    b[..8].copy_from_slice(&0i64.to_be_bytes());
    b[8..12].copy_from_slice(&((len - 12) as i32).to_be_bytes());
    b[16] = 2;
    b[21..27].fill(0); // attributes (no codec) and last offset delta
    RecordBatch::new(Bytes::from(b)).expect("valid batch")
}

fn log_id(term: u64, index: u64) -> LogId {
    LogId::new_term_index(term, index)
}

/// prev (1, 4); entries 5 (blank), 6 (membership), 7.. (records) in term 2.
fn request(records: usize, batch_len: usize) -> AppendRequest {
    let mut entries = vec![
        Entry::new(log_id(2, 5), EntryPayload::Blank),
        Entry::new_membership(
            log_id(2, 6),
            Membership::new_with_defaults(vec![BTreeSet::from([1, 2, 3])], []),
        ),
    ];
    for i in 0..records {
        let b = batch(batch_len, i as u8);
        entries.push(Entry::new(
            log_id(2, 7 + i as u64),
            EntryPayload::Normal(Request::Records(b)),
        ));
    }
    AppendRequest {
        vote: Vote::new_committed(2, 1),
        prev_log_id: Some(log_id(1, 4)),
        entries,
        leader_commit: Some(log_id(2, 6 + records as u64)),
    }
}

fn concat(body: &[Bytes]) -> Bytes {
    let mut out = BytesMut::new();
    for chunk in body {
        out.put_slice(chunk);
    }
    out.freeze()
}

#[test]
fn append_round_trips_and_sends_batches_without_copying() {
    let req = request(3, 200);
    let batch_ptrs: Vec<*const u8> = req.entries[2..]
        .iter()
        .map(|e| match &e.payload {
            EntryPayload::Normal(Request::Records(b)) => b.bytes().as_ptr(),
            _ => unreachable!(),
        })
        .collect();
    let pieces = append::encode(req.clone(), 1 << 20).expect("encode");
    assert_eq!(pieces.len(), 1);
    let sent: Vec<*const u8> = pieces[0].body.iter().map(|c| c.as_ptr()).collect();
    for ptr in batch_ptrs {
        assert!(
            sent.contains(&ptr),
            "a record batch was copied into the frame"
        );
    }
    let back = append::decode(&concat(&pieces[0].body)).expect("decode");
    assert_eq!(format!("{back:?}"), format!("{req:?}"));
    assert_eq!(pieces[0].last_log_id, Some(log_id(2, 9)));
}

#[test]
fn heartbeat_has_no_entries() {
    let mut req = request(0, 0);
    req.entries.clear();
    let pieces = append::encode(req.clone(), 1 << 20).expect("encode");
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0].last_log_id, req.prev_log_id);
    let back = append::decode(&concat(&pieces[0].body)).expect("decode");
    assert!(back.entries.is_empty());
    assert_eq!(back.leader_commit, req.leader_commit);
}

#[test]
fn big_request_is_split_into_chained_pieces() {
    let req = request(10, 1000);
    let max_body = append::BODY_OVERHEAD_BYTES + 3 * (1000 + ENTRY_HEADER_BYTES);
    let pieces = append::encode(req.clone(), max_body).expect("encode");
    assert!(pieces.len() >= 4, "{} pieces", pieces.len());
    let mut prev = req.prev_log_id;
    let mut all = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        assert!(piece.body_len() <= max_body);
        let part = append::decode(&concat(&piece.body)).expect("decode piece");
        assert_eq!(part.prev_log_id, prev, "piece {i} does not chain");
        assert!(part.leader_commit <= piece.last_log_id.max(req.leader_commit));
        if i + 1 < pieces.len() {
            assert!(
                part.leader_commit <= piece.last_log_id,
                "commit beyond piece {i}"
            );
        } else {
            assert_eq!(part.leader_commit, req.leader_commit);
        }
        prev = piece.last_log_id;
        all.extend(part.entries);
    }
    assert_eq!(format!("{all:?}"), format!("{:?}", req.entries));
}

#[test]
fn entry_larger_than_a_frame_is_refused() {
    let req = request(1, 5000);
    assert!(append::encode(req, 4000).is_err());
}

#[test]
fn every_truncation_of_an_append_body_is_an_error() {
    let body = concat(
        &append::encode(request(2, BATCH_HEADER_BYTES + 5), 1 << 20).expect("encode")[0].body,
    );
    for len in 0..body.len() {
        assert!(
            append::decode(&body.slice(..len)).is_err(),
            "truncated at {len}"
        );
    }
    let mut longer = BytesMut::from(&body[..]);
    longer.put_u8(0);
    assert!(
        append::decode(&longer.freeze()).is_err(),
        "trailing byte accepted"
    );
}

/// The body of an append: meta, then `count` and whatever entry bytes follow.
fn raw_append(count: u32, entries: &[u8]) -> Bytes {
    let meta = br#"{"vote":{"leader_id":{"term":1,"voted_for":1},"committed":true},"prev_log_id":null,"leader_commit":null}"#;
    let mut b = BytesMut::new();
    b.put_u32(meta.len() as u32);
    b.put_slice(meta);
    b.put_u32(count);
    b.put_slice(entries);
    b.freeze()
}

fn raw_entry(term: u64, index: u64, kind: u8, payload_len: u32, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&term.to_be_bytes());
    b.extend_from_slice(&index.to_be_bytes());
    b.push(kind);
    b.extend_from_slice(&payload_len.to_be_bytes());
    b.extend_from_slice(payload);
    b
}

#[test]
fn hostile_append_bodies_are_errors() {
    assert!(
        append::decode(&raw_append(0, &[])).is_ok(),
        "the meta itself must decode"
    );
    // A count no body could hold: refused before allocating.
    assert!(append::decode(&raw_append(u32::MAX, &[])).is_err());
    // A payload length past the end.
    assert!(append::decode(&raw_append(1, &raw_entry(1, 0, 1, u32::MAX, &[]))).is_err());
    // Index 5 does not follow an empty log; index 0 then 2 skips one.
    assert!(append::decode(&raw_append(1, &raw_entry(1, 5, 1, 0, &[]))).is_err());
    let mut two = raw_entry(1, 0, 1, 0, &[]);
    two.extend(raw_entry(1, 2, 1, 0, &[]));
    assert!(append::decode(&raw_append(2, &two)).is_err());
    // Terms going down.
    let mut down = raw_entry(3, 0, 1, 0, &[]);
    down.extend(raw_entry(2, 1, 1, 0, &[]));
    assert!(append::decode(&raw_append(2, &down)).is_err());
    // Unknown kind, blank with a payload, records that are no batch, membership that is no JSON.
    assert!(append::decode(&raw_append(1, &raw_entry(1, 0, 99, 0, &[]))).is_err());
    assert!(append::decode(&raw_append(1, &raw_entry(1, 0, 1, 1, &[7]))).is_err());
    assert!(append::decode(&raw_append(1, &raw_entry(1, 0, 3, 3, b"abc"))).is_err());
    assert!(append::decode(&raw_append(1, &raw_entry(1, 0, 2, 3, b"abc"))).is_err());
    // Meta length past the end, meta that is no JSON.
    let mut b = BytesMut::new();
    b.put_u32(u32::MAX);
    assert!(append::decode(&b.freeze()).is_err());
    let mut b = BytesMut::new();
    b.put_u32(2);
    b.put_slice(b"{]");
    b.put_u32(0);
    assert!(append::decode(&b.freeze()).is_err());
}

#[test]
fn frame_header_round_trips() {
    let f = frame::encode(frame::VOTE, 42, "orders-3", b"body").expect("encode");
    let len = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
    assert_eq!(len, f.len() - 4);
    let back = frame::decode(f.slice(4..)).expect("decode");
    assert_eq!(back.kind, frame::VOTE);
    assert_eq!(back.request_id, 42);
    assert_eq!(&back.group[..], b"orders-3");
    assert_eq!(&back.body[..], b"body");
    assert!(frame::header(frame::VOTE, 1, &"x".repeat(frame::MAX_GROUP_BYTES + 1), 0).is_err());
    // A group length beyond the frame.
    let mut bad = BytesMut::from(&f[4..]);
    bad[9] = 0xff;
    assert!(frame::decode(bad.freeze()).is_err());
}

async fn read_all(bytes: &[u8], max: u32) -> std::io::Result<Vec<frame::Frame>> {
    let mut reader = bytes;
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    while let Some(f) = frame::read_frame(&mut reader, &mut buf, max).await? {
        out.push(f);
    }
    Ok(out)
}

#[tokio::test]
async fn frame_reader_bounds_lengths_and_reports_truncation() {
    let mut two = BytesMut::new();
    two.put_slice(&frame::encode(frame::VOTE, 1, "a-0", b"x").expect("encode"));
    two.put_slice(&frame::response(1, frame::STATUS_OK, b"{}").expect("encode"));
    let frames = read_all(&two, 1024).await.expect("two frames");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].kind, frame::RESPONSE);
    for cut in 1..two.len() {
        if cut == frames_len(&two) {
            continue;
        }
        assert!(read_all(&two[..cut], 1024).await.is_err(), "cut at {cut}");
    }
    // A hostile length: refused from the four bytes alone.
    let huge = [0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    assert!(read_all(&huge, 1024).await.is_err());
    let tiny = [0, 0, 0, 3, 1, 2, 3];
    assert!(read_all(&tiny, 1024).await.is_err());
    assert!(read_all(&[], 1024).await.expect("clean end").is_empty());
}

fn frames_len(two: &[u8]) -> usize {
    4 + u32::from_be_bytes([two[0], two[1], two[2], two[3]]) as usize
}

#[tokio::test]
async fn handshake_bodies_round_trip_and_refuse_truncation() {
    let hello = Hello {
        version: frame::PROTOCOL_VERSION,
        node_id: 2,
        target_id: 3,
        cluster_id: "c1".into(),
    };
    let bytes = hello.encode().expect("encode");
    let frames = read_all(&bytes, MAX_HELLO_FRAME_BYTES).await.expect("read");
    assert_eq!(Hello::decode(&frames[0].body).expect("decode"), hello);
    for len in 0..frames[0].body.len() {
        assert!(Hello::decode(&frames[0].body[..len]).is_err());
    }
    let welcome = Welcome {
        version: 1,
        node_id: 3,
        cluster_id: "c1".into(),
    };
    let frames = read_all(&welcome.encode().expect("encode"), MAX_HELLO_FRAME_BYTES)
        .await
        .expect("read");
    assert_eq!(Welcome::decode(&frames[0].body).expect("decode"), welcome);
}

#[test]
fn reconnect_backoff_doubles_up_to_its_bound() {
    let max = Duration::from_secs(1);
    let mut b = Duration::from_millis(20);
    for _ in 0..20 {
        b = next_backoff(b, max);
        assert!(b <= max);
    }
    assert_eq!(b, max);
}

#[test]
fn settings_come_from_the_broker_config() {
    let mut config = Config {
        node_id: 2,
        cluster_id: "c9".into(),
        ..Default::default()
    };
    config.cluster.enabled = true;
    config.cluster.initial_members = vec!["h1:1".into(), "h2:2".into(), "h3:3".into()];
    config.cluster.raft_address = "h2:2".into();
    let t = TransportConfig::from_config(&config);
    assert_eq!(t.node_id, 2);
    assert_eq!(t.cluster_id, "c9");
    assert_eq!(t.members.get(&3).map(String::as_str), Some("h3:3"));
    assert_eq!(t.members.len(), 3);
    assert_eq!(t.max_frame_bytes, DEFAULT_MAX_FRAME_BYTES);
    config.message_max_bytes = 100 << 20;
    let t = TransportConfig::from_config(&config);
    assert_eq!(t.max_frame_bytes, (100 << 20) + FRAME_SLACK_BYTES);

    config.cluster.rtt_ms = 20;
    config.cluster.heartbeat_rtt = 2;
    config.cluster.election_rtt = 10;
    let timing = RaftTiming::from_cluster(&config.cluster);
    assert_eq!(
        (
            timing.heartbeat_ms,
            timing.election_timeout_min_ms,
            timing.election_timeout_max_ms
        ),
        (40, 200, 300)
    );
}
