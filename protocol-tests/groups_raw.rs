//! Consumer-group membership over raw `kafka-protocol` requests against a broker process:
//! MEMBER_ID_REQUIRED round trip, two members joining one generation (the leader gets the member
//! list, the coordinator relays its assignments), heartbeats during a rebalance, batched and
//! single leaves, DescribeGroups and ListGroups, and the error codes of bad requests. Each test
//! first finds the coordinator (this broker) with FindCoordinator.
//! JoinGroup and SyncGroup are long polls: each member has its own connection, requests are
//! sent first and their answers read later.

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use tracing::info;

use crate::common::wire::{framed, read_frame};
use crate::common::{init_logs, unique_name};
use crate::harness::Target;

const NONE: i16 = 0;
const NOT_COORDINATOR: i16 = 16;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const ILLEGAL_GENERATION: i16 = 22;
const INVALID_GROUP_ID: i16 = 24;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_SESSION_TIMEOUT: i16 = 26;
const REBALANCE_IN_PROGRESS: i16 = 27;
const MEMBER_ID_REQUIRED: i16 = 79;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// Sends a request without waiting for its answer (a long poll is read later with [`recv`]).
fn send<Req: Encodable>(conn: &mut TcpStream, key: ApiKey, version: i16, request: &Req) {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(21)
        .with_client_id(Some(s("groups-raw")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .expect("encode header");
    request.encode(&mut buf, version).expect("encode request");
    conn.write_all(&framed(&buf)).expect("send");
}

/// Reads the answer of a request sent with [`send`].
fn recv<Resp: Decodable + HeaderVersion>(conn: &mut TcpStream, version: i16) -> Resp {
    let mut frame: Bytes = read_frame(conn).expect("answer within the read timeout");
    let header = ResponseHeader::decode(&mut frame, Resp::header_version(version)).expect("header");
    assert_eq!(header.correlation_id, 21);
    let response = Resp::decode(&mut frame, version).expect("decode answer");
    assert_eq!(frame.remaining(), 0, "bytes left");
    response
}

/// One request and its answer, sent with this suite's client id.
fn call_as_member<Req: Encodable, Resp: Decodable + HeaderVersion>(
    conn: &mut TcpStream,
    key: ApiKey,
    version: i16,
    request: &Req,
) -> Resp {
    send(conn, key, version, request);
    recv(conn, version)
}

fn join_request(group: &str, member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(Bytes::from(format!("subscription of {member_id}"))),
        ])
}

const JOIN_VERSION: i16 = 9;

fn join(conn: &mut TcpStream, group: &str, member_id: &str) -> JoinGroupResponse {
    call_as_member(
        conn,
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request(group, member_id),
    )
}

/// MEMBER_ID_REQUIRED, then the id to join with.
fn member_id(conn: &mut TcpStream, group: &str) -> String {
    let first = join(conn, group, "");
    assert_eq!(first.error_code, MEMBER_ID_REQUIRED, "{first:?}");
    assert_eq!(first.generation_id, -1);
    assert!(first.member_id.starts_with("groups-raw-"), "{first:?}");
    first.member_id.to_string()
}

fn send_join(conn: &mut TcpStream, group: &str, member_id: &str) {
    send(
        conn,
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request(group, member_id),
    );
}

fn sync_request(
    group: &str,
    member_id: &str,
    generation: i32,
    assignments: &[(&str, &str)],
) -> SyncGroupRequest {
    SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id))
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(
            assignments
                .iter()
                .map(|(member, assignment)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(member))
                        .with_assignment(Bytes::from(assignment.to_string()))
                })
                .collect(),
        )
}

fn heartbeat(conn: &mut TcpStream, group: &str, member_id: &str, generation: i32) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member_id));
    let response: HeartbeatResponse = call_as_member(conn, ApiKey::Heartbeat, 4, &request);
    response.error_code
}

fn describe(conn: &mut TcpStream, group: &str) -> describe_groups_response::DescribedGroup {
    let request = DescribeGroupsRequest::default()
        .with_groups(vec![GroupId(s(group))])
        .with_include_authorized_operations(true);
    let mut response: DescribeGroupsResponse =
        call_as_member(conn, ApiKey::DescribeGroups, 5, &request);
    assert_eq!(response.groups.len(), 1);
    response.groups.remove(0)
}

fn list(conn: &mut TcpStream, version: i16, states: &[&str]) -> Vec<(String, String)> {
    let request = ListGroupsRequest::default()
        .with_states_filter(if version >= 4 {
            states.iter().map(|st| s(st)).collect()
        } else {
            Vec::new()
        })
        .with_types_filter(if version >= 5 {
            vec![s("Classic")]
        } else {
            Vec::new()
        });
    let response: ListGroupsResponse = call_as_member(conn, ApiKey::ListGroups, version, &request);
    assert_eq!(response.error_code, NONE);
    response
        .groups
        .into_iter()
        .map(|g| (g.group_id.0.to_string(), g.group_state.to_string()))
        .collect()
}

/// FindCoordinator for `group` until it names a coordinator (the first one creates
/// `__consumer_offsets`); checks that it is this broker.
fn find_coordinator(conn: &mut TcpStream, group: &str, target: &Target) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let request = FindCoordinatorRequest::default()
            .with_key(s(group))
            .with_key_type(0);
        let found: FindCoordinatorResponse =
            call_as_member(conn, ApiKey::FindCoordinator, 3, &request);
        if found.error_code == NONE {
            assert_eq!(
                format!("{}:{}", found.host, found.port),
                target.addr.to_string()
            );
            return;
        }
        assert_eq!(found.error_code, COORDINATOR_NOT_AVAILABLE, "{found:?}");
        assert!(Instant::now() < deadline, "no coordinator for {group}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs a broker of its own: sets offsets.topic.num.partitions and group.initial.rebalance.delay.ms"]
fn members_join_sync_heartbeat_and_leave() {
    init_logs();
    let target = Target::own(&[
        ("offsets.topic.num.partitions", "1"),
        ("group.initial.rebalance.delay.ms", "1000"),
    ]);
    let group = unique_name("raw-group");
    let mut a = target.connect();
    let mut b = target.connect();
    let mut c = target.connect();

    info!("before FindCoordinator creates the offsets topic nobody coordinates the group");
    let early = join(&mut a, &group, "");
    assert!(
        [NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE].contains(&early.error_code),
        "{early:?}"
    );
    find_coordinator(&mut a, &group, &target);
    let unknown = describe(&mut a, &group);
    assert_eq!(unknown.error_code, NONE);
    assert_eq!(
        &*unknown.group_state, "Dead",
        "Kafka describes an unknown group as Dead"
    );

    info!("bad joins get their error codes");
    let no_group = join(&mut a, "", "");
    assert_eq!(no_group.error_code, INVALID_GROUP_ID);
    let short: JoinGroupResponse = call_as_member(
        &mut a,
        ApiKey::JoinGroup,
        JOIN_VERSION,
        &join_request(&group, "").with_session_timeout_ms(1000),
    );
    assert_eq!(short.error_code, INVALID_SESSION_TIMEOUT);
    assert_eq!(
        join(&mut a, &group, "groups-raw-unknown").error_code,
        UNKNOWN_MEMBER_ID
    );

    info!("MEMBER_ID_REQUIRED round trip for A and B; both join one generation");
    let id_a = member_id(&mut a, &group);
    let id_b = member_id(&mut b, &group);
    assert_ne!(id_a, id_b);
    send_join(&mut a, &group, &id_a);
    std::thread::sleep(Duration::from_millis(100));
    send_join(&mut b, &group, &id_b);
    let ja: JoinGroupResponse = recv(&mut a, JOIN_VERSION);
    let jb: JoinGroupResponse = recv(&mut b, JOIN_VERSION);
    assert_eq!(ja.error_code, NONE, "{ja:?}");
    assert_eq!(jb.error_code, NONE, "{jb:?}");
    let generation = ja.generation_id;
    assert_eq!(jb.generation_id, generation);
    assert!(generation >= 1);
    assert_eq!(&*ja.leader, id_a.as_str(), "the first to join leads");
    assert_eq!(&*jb.leader, id_a.as_str());
    assert_eq!(ja.protocol_name.as_deref(), Some("range"));
    assert_eq!(ja.protocol_type.as_deref(), Some("consumer"));
    let listed: Vec<(String, Bytes)> = ja
        .members
        .iter()
        .map(|m| (m.member_id.to_string(), m.metadata.clone()))
        .collect();
    assert_eq!(
        listed,
        vec![
            (id_a.clone(), Bytes::from(format!("subscription of {id_a}"))),
            (id_b.clone(), Bytes::from(format!("subscription of {id_b}"))),
        ]
    );
    assert!(jb.members.is_empty(), "followers get no member list");

    info!("B's SyncGroup waits for the leader's; the coordinator relays each assignment");
    send(
        &mut b,
        ApiKey::SyncGroup,
        5,
        &sync_request(&group, &id_b, generation, &[]),
    );
    std::thread::sleep(Duration::from_millis(100));
    let sa: SyncGroupResponse = call_as_member(
        &mut a,
        ApiKey::SyncGroup,
        5,
        &sync_request(
            &group,
            &id_a,
            generation,
            &[(&id_a, "partitions of a"), (&id_b, "partitions of b")],
        ),
    );
    let sb: SyncGroupResponse = recv(&mut b, 5);
    assert_eq!(sa.error_code, NONE);
    assert_eq!(sa.assignment, Bytes::from("partitions of a"));
    assert_eq!(sb.error_code, NONE);
    assert_eq!(sb.assignment, Bytes::from("partitions of b"));
    assert_eq!(sb.protocol_name.as_deref(), Some("range"));
    assert_eq!(heartbeat(&mut a, &group, &id_a, generation), NONE);
    assert_eq!(
        heartbeat(&mut a, &group, &id_a, generation + 5),
        ILLEGAL_GENERATION
    );
    assert_eq!(
        heartbeat(&mut a, &group, "groups-raw-unknown", generation),
        UNKNOWN_MEMBER_ID
    );

    info!("DescribeGroups and ListGroups show the Stable group");
    let described = describe(&mut a, &group);
    assert_eq!(described.error_code, NONE);
    assert_eq!(
        described.authorized_operations,
        (1 << 3) | (1 << 6) | (1 << 8)
    );
    assert_eq!(&*described.group_state, "Stable");
    assert_eq!(&*described.protocol_type, "consumer");
    assert_eq!(&*described.protocol_data, "range");
    assert_eq!(described.members.len(), 2);
    let member_b = described
        .members
        .iter()
        .find(|m| &*m.member_id == id_b.as_str())
        .expect("B described");
    assert_eq!(&*member_b.client_id, "groups-raw");
    assert_eq!(&*member_b.client_host, "/127.0.0.1");
    assert_eq!(member_b.member_assignment, Bytes::from("partitions of b"));
    assert_eq!(
        member_b.member_metadata,
        Bytes::from(format!("subscription of {id_b}"))
    );
    assert!(list(&mut a, 5, &["stable"]).contains(&(group.clone(), "Stable".to_string())));
    assert!(!list(&mut a, 4, &["Empty"]).iter().any(|(g, _)| *g == group));
    assert!(list(&mut a, 0, &[]).iter().any(|(g, _)| *g == group));

    info!("a newcomer starts a rebalance: heartbeats say REBALANCE_IN_PROGRESS until all rejoin");
    let id_c = member_id(&mut c, &group);
    send_join(&mut c, &group, &id_c);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        heartbeat(&mut a, &group, &id_a, generation),
        REBALANCE_IN_PROGRESS
    );
    assert_eq!(&*describe(&mut a, &group).group_state, "PreparingRebalance");
    send_join(&mut a, &group, &id_a);
    send_join(&mut b, &group, &id_b);
    let ja: JoinGroupResponse = recv(&mut a, JOIN_VERSION);
    let jb: JoinGroupResponse = recv(&mut b, JOIN_VERSION);
    let jc: JoinGroupResponse = recv(&mut c, JOIN_VERSION);
    for j in [&ja, &jb, &jc] {
        assert_eq!(j.error_code, NONE, "{j:?}");
        assert_eq!(j.generation_id, generation + 1);
    }
    assert_eq!(ja.members.len(), 3);
    assert_eq!(
        &*describe(&mut a, &group).group_state,
        "CompletingRebalance"
    );

    info!("A and B leave in one LeaveGroup v5; an unknown member gets its own error");
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_members(
            [id_a.as_str(), id_b.as_str(), "groups-raw-unknown"]
                .iter()
                .map(|m| {
                    MemberIdentity::default()
                        .with_member_id(s(m))
                        .with_reason(Some(s("test over")))
                })
                .collect(),
        );
    let left: LeaveGroupResponse = call_as_member(&mut a, ApiKey::LeaveGroup, 5, &leave);
    assert_eq!(left.error_code, NONE);
    let codes: Vec<i16> = left.members.iter().map(|m| m.error_code).collect();
    assert_eq!(codes, vec![NONE, NONE, UNKNOWN_MEMBER_ID]);
    assert_eq!(
        heartbeat(&mut c, &group, &id_c, generation + 1),
        REBALANCE_IN_PROGRESS
    );
    let jc = join(&mut c, &group, &id_c);
    assert_eq!(jc.error_code, NONE);
    assert_eq!(jc.generation_id, generation + 2);
    assert_eq!(&*jc.leader, id_c.as_str(), "the one left leads");

    info!("the last member leaves with LeaveGroup v1: the group is Empty");
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(s(&group)))
        .with_member_id(s(&id_c));
    let left: LeaveGroupResponse = call_as_member(&mut c, ApiKey::LeaveGroup, 1, &leave);
    assert_eq!(left.error_code, NONE);
    let left_again: LeaveGroupResponse = call_as_member(&mut c, ApiKey::LeaveGroup, 1, &leave);
    assert_eq!(left_again.error_code, UNKNOWN_MEMBER_ID);
    let described = describe(&mut a, &group);
    assert_eq!(&*described.group_state, "Empty");
    assert!(described.members.is_empty());
    assert!(list(&mut a, 4, &["Empty"]).contains(&(group.clone(), "Empty".to_string())));
}

#[test]
#[ignore = "needs a broker of its own: sets offsets.topic.num.partitions and group.initial.rebalance.delay.ms"]
fn old_join_versions_work_without_member_id_required() {
    init_logs();
    let target = Target::own(&[
        ("offsets.topic.num.partitions", "1"),
        ("group.initial.rebalance.delay.ms", "0"),
    ]);
    let group = unique_name("raw-old-group");
    let mut conn = target.connect();
    find_coordinator(&mut conn, &group, &target);
    for version in [0, 3] {
        info!(
            version,
            "JoinGroup without MEMBER_ID_REQUIRED: a member id at once"
        );
        let joined: JoinGroupResponse = call_as_member(
            &mut conn,
            ApiKey::JoinGroup,
            version,
            &join_request(&group, ""),
        );
        assert_eq!(joined.error_code, NONE, "v{version}: {joined:?}");
        assert!(joined.member_id.starts_with("groups-raw-"));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        let synced: SyncGroupResponse = call_as_member(
            &mut conn,
            ApiKey::SyncGroup,
            0,
            &sync_request(&group, &joined.member_id, joined.generation_id, &[])
                .with_protocol_type(None)
                .with_protocol_name(None),
        );
        assert_eq!(synced.error_code, NONE);
        let leave = LeaveGroupRequest::default()
            .with_group_id(GroupId(s(&group)))
            .with_member_id(joined.member_id.clone());
        let left: LeaveGroupResponse = call_as_member(&mut conn, ApiKey::LeaveGroup, 0, &leave);
        assert_eq!(left.error_code, NONE);
    }
}

#[test]
#[ignore = "needs a broker of its own: sets group.max.size"]
fn a_full_group_refuses_a_new_member_with_group_max_size_reached() {
    const GROUP_MAX_SIZE_REACHED: i16 = 81;
    init_logs();
    let target = Target::own(&[
        ("offsets.topic.num.partitions", "1"),
        ("group.max.size", "2"),
    ]);
    let group = unique_name("raw-full-group");
    let mut conn = target.connect();
    find_coordinator(&mut conn, &group, &target);
    let first = member_id(&mut conn, &group);
    let second = member_id(&mut conn, &group);
    assert_ne!(first, second);
    let third = join(&mut conn, &group, "");
    assert_eq!(third.error_code, GROUP_MAX_SIZE_REACHED, "{third:?}");
    target.assert_serving();
}
