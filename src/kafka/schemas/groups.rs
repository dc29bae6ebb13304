//! Wire schemas of the consumer-group requests: FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
//! LeaveGroup, OffsetCommit, OffsetFetch, ListGroups, DescribeGroups, DeleteGroups and
//! OffsetDelete. `mod.rs` says how a schema is transcribed; `tests.rs` checks each against the
//! crate's encoder at every version.

use std::mem::size_of;

use kafka_protocol::messages::{
    DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest, HeartbeatRequest,
    JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest, OffsetCommitRequest,
    OffsetDeleteRequest, OffsetFetchRequest, SyncGroupRequest, join_group_request as join,
    leave_group_request as leave, offset_commit_request as commit,
    offset_delete_request as offset_delete, offset_fetch_request as offset_fetch,
    sync_group_request as sync,
};

use crate::kafka::schema::{Field, MessageSchema, NEVER, Struct, Ty, range, since};

/// FindCoordinatorRequest v0-v6 (the crate's range; served: v0-v4). One key until v3, a batch of
/// keys from v4.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static FIND_COORDINATOR_REQUEST: MessageSchema = MessageSchema {
    flexible: since(3),
    body: Struct {
        name: "FindCoordinatorRequest",
        decoded_bytes: size_of::<FindCoordinatorRequest>(),
        fields: &[
            Field::new("key", Ty::String, range(0, 3)),
            Field::new("key_type", Ty::Int8, since(1)),
            Field::new("coordinator_keys", Ty::Array(&Ty::String), since(4)),
        ],
    },
};

/// JoinGroupRequest v0-v9.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static JOIN_GROUP_REQUEST: MessageSchema = MessageSchema {
    flexible: since(6),
    body: Struct {
        name: "JoinGroupRequest",
        decoded_bytes: size_of::<JoinGroupRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, since(0)),
            Field::new("session_timeout_ms", Ty::Int32, since(0)),
            Field::new("rebalance_timeout_ms", Ty::Int32, since(1)),
            Field::new("member_id", Ty::String, since(0)),
            Field::new("group_instance_id", Ty::String, since(5)).nullable(since(5)),
            Field::new("protocol_type", Ty::String, since(0)),
            Field::new(
                "protocols",
                Ty::Array(&Ty::Struct(&JOIN_GROUP_REQUEST_PROTOCOL)),
                since(0),
            ),
            Field::new("reason", Ty::String, since(8)).nullable(since(8)),
        ],
    },
};

static JOIN_GROUP_REQUEST_PROTOCOL: Struct = Struct {
    name: "JoinGroupRequestProtocol",
    decoded_bytes: size_of::<join::JoinGroupRequestProtocol>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("metadata", Ty::Bytes, since(0)),
    ],
};

/// SyncGroupRequest v0-v5.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static SYNC_GROUP_REQUEST: MessageSchema = MessageSchema {
    flexible: since(4),
    body: Struct {
        name: "SyncGroupRequest",
        decoded_bytes: size_of::<SyncGroupRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, since(0)),
            Field::new("generation_id", Ty::Int32, since(0)),
            Field::new("member_id", Ty::String, since(0)),
            Field::new("group_instance_id", Ty::String, since(3)).nullable(since(3)),
            Field::new("protocol_type", Ty::String, since(5)).nullable(since(5)),
            Field::new("protocol_name", Ty::String, since(5)).nullable(since(5)),
            Field::new(
                "assignments",
                Ty::Array(&Ty::Struct(&SYNC_GROUP_REQUEST_ASSIGNMENT)),
                since(0),
            ),
        ],
    },
};

static SYNC_GROUP_REQUEST_ASSIGNMENT: Struct = Struct {
    name: "SyncGroupRequestAssignment",
    decoded_bytes: size_of::<sync::SyncGroupRequestAssignment>(),
    fields: &[
        Field::new("member_id", Ty::String, since(0)),
        Field::new("assignment", Ty::Bytes, since(0)),
    ],
};

/// HeartbeatRequest v0-v4.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static HEARTBEAT_REQUEST: MessageSchema = MessageSchema {
    flexible: since(4),
    body: Struct {
        name: "HeartbeatRequest",
        decoded_bytes: size_of::<HeartbeatRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, since(0)),
            Field::new("generation_id", Ty::Int32, since(0)),
            Field::new("member_id", Ty::String, since(0)),
            Field::new("group_instance_id", Ty::String, since(3)).nullable(since(3)),
        ],
    },
};

/// LeaveGroupRequest v0-v5. One member until v2, a batch of members from v3.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static LEAVE_GROUP_REQUEST: MessageSchema = MessageSchema {
    flexible: since(4),
    body: Struct {
        name: "LeaveGroupRequest",
        decoded_bytes: size_of::<LeaveGroupRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, since(0)),
            Field::new("member_id", Ty::String, range(0, 2)),
            Field::new(
                "members",
                Ty::Array(&Ty::Struct(&MEMBER_IDENTITY)),
                since(3),
            ),
        ],
    },
};

static MEMBER_IDENTITY: Struct = Struct {
    name: "MemberIdentity",
    decoded_bytes: size_of::<leave::MemberIdentity>(),
    fields: &[
        Field::new("member_id", Ty::String, since(3)),
        Field::new("group_instance_id", Ty::String, since(3)).nullable(since(3)),
        Field::new("reason", Ty::String, since(5)).nullable(since(5)),
    ],
};

/// OffsetCommitRequest v2-v9 (the crate's range).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static OFFSET_COMMIT_REQUEST: MessageSchema = MessageSchema {
    flexible: since(8),
    body: Struct {
        name: "OffsetCommitRequest",
        decoded_bytes: size_of::<OffsetCommitRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, since(0)),
            Field::new("generation_id_or_member_epoch", Ty::Int32, since(1)),
            Field::new("member_id", Ty::String, since(1)),
            Field::new("group_instance_id", Ty::String, since(7)).nullable(since(7)),
            Field::new("retention_time_ms", Ty::Int64, range(2, 4)),
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&OFFSET_COMMIT_REQUEST_TOPIC)),
                since(0),
            ),
        ],
    },
};

static OFFSET_COMMIT_REQUEST_TOPIC: Struct = Struct {
    name: "OffsetCommitRequestTopic",
    decoded_bytes: size_of::<commit::OffsetCommitRequestTopic>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new(
            "partitions",
            Ty::Array(&Ty::Struct(&OFFSET_COMMIT_REQUEST_PARTITION)),
            since(0),
        ),
    ],
};

static OFFSET_COMMIT_REQUEST_PARTITION: Struct = Struct {
    name: "OffsetCommitRequestPartition",
    decoded_bytes: size_of::<commit::OffsetCommitRequestPartition>(),
    fields: &[
        Field::new("partition_index", Ty::Int32, since(0)),
        Field::new("committed_offset", Ty::Int64, since(0)),
        Field::new("committed_leader_epoch", Ty::Int32, since(6)),
        Field::new("committed_metadata", Ty::String, since(0)).nullable(since(0)),
    ],
};

/// OffsetFetchRequest v1-v9 (the crate's range). One group until v7, a batch of groups from v8.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static OFFSET_FETCH_REQUEST: MessageSchema = MessageSchema {
    flexible: since(6),
    body: Struct {
        name: "OffsetFetchRequest",
        decoded_bytes: size_of::<OffsetFetchRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, range(0, 7)),
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&OFFSET_FETCH_REQUEST_TOPIC)),
                range(0, 7),
            )
            .nullable(range(2, 7)),
            Field::new(
                "groups",
                Ty::Array(&Ty::Struct(&OFFSET_FETCH_REQUEST_GROUP)),
                since(8),
            ),
            Field::new("require_stable", Ty::Bool, since(7)),
        ],
    },
};

static OFFSET_FETCH_REQUEST_TOPIC: Struct = Struct {
    name: "OffsetFetchRequestTopic",
    decoded_bytes: size_of::<offset_fetch::OffsetFetchRequestTopic>(),
    fields: &[
        Field::new("name", Ty::String, range(0, 7)),
        Field::new("partition_indexes", Ty::Array(&Ty::Int32), range(0, 7)),
    ],
};

static OFFSET_FETCH_REQUEST_GROUP: Struct = Struct {
    name: "OffsetFetchRequestGroup",
    decoded_bytes: size_of::<offset_fetch::OffsetFetchRequestGroup>(),
    fields: &[
        Field::new("group_id", Ty::String, since(8)),
        Field::new("member_id", Ty::String, since(9)).nullable(since(9)),
        Field::new("member_epoch", Ty::Int32, since(9)),
        Field::new(
            "topics",
            Ty::Array(&Ty::Struct(&OFFSET_FETCH_REQUEST_TOPICS)),
            since(8),
        )
        .nullable(since(8)),
    ],
};

static OFFSET_FETCH_REQUEST_TOPICS: Struct = Struct {
    name: "OffsetFetchRequestTopics",
    decoded_bytes: size_of::<offset_fetch::OffsetFetchRequestTopics>(),
    fields: &[
        Field::new("name", Ty::String, since(8)),
        Field::new("partition_indexes", Ty::Array(&Ty::Int32), since(8)),
    ],
};

/// ListGroupsRequest v0-v5. v0-v2 have an empty body.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static LIST_GROUPS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(3),
    body: Struct {
        name: "ListGroupsRequest",
        decoded_bytes: size_of::<ListGroupsRequest>(),
        fields: &[
            Field::new("states_filter", Ty::Array(&Ty::String), since(4)),
            Field::new("types_filter", Ty::Array(&Ty::String), since(5)),
        ],
    },
};

/// DescribeGroupsRequest v0-v6 (the crate's range; served: v0-v5).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DESCRIBE_GROUPS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(5),
    body: Struct {
        name: "DescribeGroupsRequest",
        decoded_bytes: size_of::<DescribeGroupsRequest>(),
        fields: &[
            Field::new("groups", Ty::Array(&Ty::String), since(0)),
            Field::new("include_authorized_operations", Ty::Bool, since(3)),
        ],
    },
};

/// DeleteGroupsRequest v0-v2.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DELETE_GROUPS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(2),
    body: Struct {
        name: "DeleteGroupsRequest",
        decoded_bytes: size_of::<DeleteGroupsRequest>(),
        fields: &[Field::new("groups_names", Ty::Array(&Ty::String), since(0))],
    },
};

/// OffsetDeleteRequest v0 (never flexible).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static OFFSET_DELETE_REQUEST: MessageSchema = MessageSchema {
    flexible: NEVER,
    body: Struct {
        name: "OffsetDeleteRequest",
        decoded_bytes: size_of::<OffsetDeleteRequest>(),
        fields: &[
            Field::new("group_id", Ty::String, since(0)),
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&OFFSET_DELETE_REQUEST_TOPIC)),
                since(0),
            ),
        ],
    },
};

static OFFSET_DELETE_REQUEST_TOPIC: Struct = Struct {
    name: "OffsetDeleteRequestTopic",
    decoded_bytes: size_of::<offset_delete::OffsetDeleteRequestTopic>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new(
            "partitions",
            Ty::Array(&Ty::Struct(&OFFSET_DELETE_REQUEST_PARTITION)),
            since(0),
        ),
    ],
};

static OFFSET_DELETE_REQUEST_PARTITION: Struct = Struct {
    name: "OffsetDeleteRequestPartition",
    decoded_bytes: size_of::<offset_delete::OffsetDeleteRequestPartition>(),
    fields: &[Field::new("partition_index", Ty::Int32, since(0))],
};
