//! Samples of the consumer-group requests (see `mod.rs` for what a sample holds).

use bytes::Bytes;
use kafka_protocol::messages::*;

use super::{Fill, only, s, unless};

pub(super) fn find_coordinator(v: i16, f: Fill) -> FindCoordinatorRequest {
    FindCoordinatorRequest::default()
        .with_key(only(v <= 3, s("group-1")))
        .with_key_type(only(v >= 1, 1))
        .with_coordinator_keys(only(v >= 4, vec![s("group-1"), s("txn-2")]))
        .with_unknown_tagged_fields(f.tags(v >= 3))
}

pub(super) fn join_group(v: i16, f: Fill) -> JoinGroupRequest {
    use join_group_request::JoinGroupRequestProtocol;
    let t = f.tags(v >= 6);
    let protocol = |name| {
        JoinGroupRequestProtocol::default()
            .with_name(s(name))
            .with_metadata(Bytes::from_static(b"\x00\x03subscription"))
            .with_unknown_tagged_fields(t.clone())
    };
    JoinGroupRequest::default()
        .with_group_id(s("group-1"))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s("member-1"))
        .with_group_instance_id(unless(f.nulls || v < 5, s("instance-1")))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![protocol("range"), protocol("roundrobin")])
        .with_reason(unless(f.nulls || v < 8, s("joining")))
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn sync_group(v: i16, f: Fill) -> SyncGroupRequest {
    use sync_group_request::SyncGroupRequestAssignment;
    let t = f.tags(v >= 4);
    let assignment = |member| {
        SyncGroupRequestAssignment::default()
            .with_member_id(s(member))
            .with_assignment(Bytes::from_static(b"\x00\x03assignment"))
            .with_unknown_tagged_fields(t.clone())
    };
    SyncGroupRequest::default()
        .with_group_id(s("group-1"))
        .with_generation_id(3)
        .with_member_id(s("member-1"))
        .with_group_instance_id(unless(f.nulls || v < 3, s("instance-1")))
        .with_protocol_type(unless(f.nulls || v < 5, s("consumer")))
        .with_protocol_name(unless(f.nulls || v < 5, s("range")))
        .with_assignments(vec![assignment("member-1"), assignment("member-2")])
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn heartbeat(v: i16, f: Fill) -> HeartbeatRequest {
    HeartbeatRequest::default()
        .with_group_id(s("group-1"))
        .with_generation_id(3)
        .with_member_id(s("member-1"))
        .with_group_instance_id(unless(f.nulls || v < 3, s("instance-1")))
        .with_unknown_tagged_fields(f.tags(v >= 4))
}

pub(super) fn leave_group(v: i16, f: Fill) -> LeaveGroupRequest {
    use leave_group_request::MemberIdentity;
    let t = f.tags(v >= 4);
    let member = |id, null| {
        MemberIdentity::default()
            .with_member_id(s(id))
            .with_group_instance_id(unless(null, s("instance-1")))
            .with_reason(unless(null || v < 5, s("leaving")))
            .with_unknown_tagged_fields(t.clone())
    };
    let members = vec![member("member-1", false), member("member-2", f.nulls)];
    LeaveGroupRequest::default()
        .with_group_id(s("group-1"))
        .with_member_id(only(v <= 2, s("member-1")))
        .with_members(only(v >= 3, members))
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn offset_commit(v: i16, f: Fill) -> OffsetCommitRequest {
    use offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
    let t = f.tags(v >= 8);
    let partition = |index, null| {
        OffsetCommitRequestPartition::default()
            .with_partition_index(index)
            .with_committed_offset(100)
            .with_committed_leader_epoch(2)
            .with_committed_metadata(unless(null, s("meta")))
            .with_unknown_tagged_fields(t.clone())
    };
    let topic = |name| {
        OffsetCommitRequestTopic::default()
            .with_name(s(name))
            .with_partitions(vec![partition(0, false), partition(1, f.nulls)])
            .with_unknown_tagged_fields(t.clone())
    };
    OffsetCommitRequest::default()
        .with_group_id(s("group-1"))
        .with_generation_id_or_member_epoch(5)
        .with_member_id(s("member-1"))
        .with_group_instance_id(unless(f.nulls || v < 7, s("instance-1")))
        .with_retention_time_ms(86_400_000)
        .with_topics(vec![topic("a"), topic("bb")])
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn offset_fetch(v: i16, f: Fill) -> OffsetFetchRequest {
    use offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    let t = f.tags(v >= 6);
    let topic = |name| {
        OffsetFetchRequestTopic::default()
            .with_name(s(name))
            .with_partition_indexes(vec![0, 1])
            .with_unknown_tagged_fields(t.clone())
    };
    let topics = |name| {
        OffsetFetchRequestTopics::default()
            .with_name(s(name))
            .with_partition_indexes(vec![0, 1])
            .with_unknown_tagged_fields(t.clone())
    };
    let group = |id, null| {
        OffsetFetchRequestGroup::default()
            .with_group_id(s(id))
            .with_member_id(unless(null || v < 9, s("member-1")))
            .with_member_epoch(if v >= 9 { 4 } else { -1 })
            .with_topics(unless(null, vec![topics("a"), topics("bb")]))
            .with_unknown_tagged_fields(t.clone())
    };
    let single_group_topics = if v >= 8 {
        Some(vec![])
    } else {
        unless(f.nulls && v >= 2, vec![topic("a"), topic("bb")])
    };
    OffsetFetchRequest::default()
        .with_group_id(only(v <= 7, s("group-1")))
        .with_topics(single_group_topics)
        .with_groups(only(
            v >= 8,
            vec![group("group-1", false), group("group-2", f.nulls)],
        ))
        .with_require_stable(v >= 7)
        .with_unknown_tagged_fields(t.clone())
}

pub(super) fn list_groups(v: i16, f: Fill) -> ListGroupsRequest {
    ListGroupsRequest::default()
        .with_states_filter(only(v >= 4, vec![s("Stable"), s("Empty")]))
        .with_types_filter(only(v >= 5, vec![s("classic")]))
        .with_unknown_tagged_fields(f.tags(v >= 3))
}

pub(super) fn describe_groups(v: i16, f: Fill) -> DescribeGroupsRequest {
    DescribeGroupsRequest::default()
        .with_groups(vec![s("group-1"), s("group-2")])
        .with_include_authorized_operations(v >= 3)
        .with_unknown_tagged_fields(f.tags(v >= 5))
}

pub(super) fn delete_groups(v: i16, f: Fill) -> DeleteGroupsRequest {
    DeleteGroupsRequest::default()
        .with_groups_names(vec![s("group-1"), s("group-2")])
        .with_unknown_tagged_fields(f.tags(v >= 2))
}

pub(super) fn offset_delete(_never_flexible: Fill) -> OffsetDeleteRequest {
    use offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic};
    let partition = |index| OffsetDeleteRequestPartition::default().with_partition_index(index);
    let topic = |name| {
        OffsetDeleteRequestTopic::default()
            .with_name(s(name))
            .with_partitions(vec![partition(0), partition(1)])
    };
    OffsetDeleteRequest::default()
        .with_group_id(s("group-1"))
        .with_topics(vec![topic("a"), topic("bb")])
}
