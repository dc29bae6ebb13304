//! Wire schemas of the admin requests: CreateTopics, DeleteTopics, CreatePartitions,
//! DescribeConfigs, AlterConfigs, IncrementalAlterConfigs and DescribeCluster. `mod.rs` says how a
//! schema is transcribed; `tests.rs` checks each against the crate's encoder at every version.

use std::mem::size_of;

use kafka_protocol::messages::{
    AlterConfigsRequest, CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest,
    DescribeClusterRequest, DescribeConfigsRequest, IncrementalAlterConfigsRequest,
    alter_configs_request as alter, create_partitions_request as create_partitions,
    create_topics_request as create_topics, delete_topics_request as delete_topics,
    describe_configs_request as describe_configs, incremental_alter_configs_request as incremental,
};

use crate::kafka::schema::{Field, MessageSchema, Struct, Ty, range, since};

/// CreateTopicsRequest v2-v7 (the crate's range).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static CREATE_TOPICS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(5),
    body: Struct {
        name: "CreateTopicsRequest",
        decoded_bytes: size_of::<CreateTopicsRequest>(),
        fields: &[
            Field::new("topics", Ty::Array(&Ty::Struct(&CREATABLE_TOPIC)), since(0)),
            Field::new("timeout_ms", Ty::Int32, since(0)),
            Field::new("validate_only", Ty::Bool, since(1)),
        ],
    },
};

static CREATABLE_TOPIC: Struct = Struct {
    name: "CreatableTopic",
    decoded_bytes: size_of::<create_topics::CreatableTopic>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("num_partitions", Ty::Int32, since(0)),
        Field::new("replication_factor", Ty::Int16, since(0)),
        Field::new(
            "assignments",
            Ty::Array(&Ty::Struct(&CREATABLE_REPLICA_ASSIGNMENT)),
            since(0),
        ),
        Field::new(
            "configs",
            Ty::Array(&Ty::Struct(&CREATABLE_TOPIC_CONFIG)),
            since(0),
        ),
    ],
};

static CREATABLE_REPLICA_ASSIGNMENT: Struct = Struct {
    name: "CreatableReplicaAssignment",
    decoded_bytes: size_of::<create_topics::CreatableReplicaAssignment>(),
    fields: &[
        Field::new("partition_index", Ty::Int32, since(0)),
        Field::new("broker_ids", Ty::Array(&Ty::Int32), since(0)),
    ],
};

static CREATABLE_TOPIC_CONFIG: Struct = Struct {
    name: "CreatableTopicConfig",
    decoded_bytes: size_of::<create_topics::CreatableTopicConfig>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("value", Ty::String, since(0)).nullable(since(0)),
    ],
};

/// DeleteTopicsRequest v1-v6 (the crate's range). Names until v5, name-or-id structs from v6.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DELETE_TOPICS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(4),
    body: Struct {
        name: "DeleteTopicsRequest",
        decoded_bytes: size_of::<DeleteTopicsRequest>(),
        fields: &[
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&DELETE_TOPIC_STATE)),
                since(6),
            ),
            Field::new("topic_names", Ty::Array(&Ty::String), range(0, 5)),
            Field::new("timeout_ms", Ty::Int32, since(0)),
        ],
    },
};

static DELETE_TOPIC_STATE: Struct = Struct {
    name: "DeleteTopicState",
    decoded_bytes: size_of::<delete_topics::DeleteTopicState>(),
    fields: &[
        Field::new("name", Ty::String, since(6)).nullable(since(6)),
        Field::new("topic_id", Ty::Uuid, since(6)),
    ],
};

/// CreatePartitionsRequest v0-v3.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static CREATE_PARTITIONS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(2),
    body: Struct {
        name: "CreatePartitionsRequest",
        decoded_bytes: size_of::<CreatePartitionsRequest>(),
        fields: &[
            Field::new(
                "topics",
                Ty::Array(&Ty::Struct(&CREATE_PARTITIONS_TOPIC)),
                since(0),
            ),
            Field::new("timeout_ms", Ty::Int32, since(0)),
            Field::new("validate_only", Ty::Bool, since(0)),
        ],
    },
};

static CREATE_PARTITIONS_TOPIC: Struct = Struct {
    name: "CreatePartitionsTopic",
    decoded_bytes: size_of::<create_partitions::CreatePartitionsTopic>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("count", Ty::Int32, since(0)),
        Field::new(
            "assignments",
            Ty::Array(&Ty::Struct(&CREATE_PARTITIONS_ASSIGNMENT)),
            since(0),
        )
        .nullable(since(0)),
    ],
};

static CREATE_PARTITIONS_ASSIGNMENT: Struct = Struct {
    name: "CreatePartitionsAssignment",
    decoded_bytes: size_of::<create_partitions::CreatePartitionsAssignment>(),
    fields: &[Field::new("broker_ids", Ty::Array(&Ty::Int32), since(0))],
};

/// DescribeConfigsRequest v1-v4 (the crate's range).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DESCRIBE_CONFIGS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(4),
    body: Struct {
        name: "DescribeConfigsRequest",
        decoded_bytes: size_of::<DescribeConfigsRequest>(),
        fields: &[
            Field::new(
                "resources",
                Ty::Array(&Ty::Struct(&DESCRIBE_CONFIGS_RESOURCE)),
                since(0),
            ),
            Field::new("include_synonyms", Ty::Bool, since(1)),
            Field::new("include_documentation", Ty::Bool, since(3)),
        ],
    },
};

static DESCRIBE_CONFIGS_RESOURCE: Struct = Struct {
    name: "DescribeConfigsResource",
    decoded_bytes: size_of::<describe_configs::DescribeConfigsResource>(),
    fields: &[
        Field::new("resource_type", Ty::Int8, since(0)),
        Field::new("resource_name", Ty::String, since(0)),
        Field::new("configuration_keys", Ty::Array(&Ty::String), since(0)).nullable(since(0)),
    ],
};

/// AlterConfigsRequest v0-v2.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static ALTER_CONFIGS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(2),
    body: Struct {
        name: "AlterConfigsRequest",
        decoded_bytes: size_of::<AlterConfigsRequest>(),
        fields: &[
            Field::new(
                "resources",
                Ty::Array(&Ty::Struct(&ALTER_CONFIGS_RESOURCE)),
                since(0),
            ),
            Field::new("validate_only", Ty::Bool, since(0)),
        ],
    },
};

static ALTER_CONFIGS_RESOURCE: Struct = Struct {
    name: "AlterConfigsResource",
    decoded_bytes: size_of::<alter::AlterConfigsResource>(),
    fields: &[
        Field::new("resource_type", Ty::Int8, since(0)),
        Field::new("resource_name", Ty::String, since(0)),
        Field::new(
            "configs",
            Ty::Array(&Ty::Struct(&ALTERABLE_CONFIG)),
            since(0),
        ),
    ],
};

static ALTERABLE_CONFIG: Struct = Struct {
    name: "AlterableConfig",
    decoded_bytes: size_of::<alter::AlterableConfig>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("value", Ty::String, since(0)).nullable(since(0)),
    ],
};

/// IncrementalAlterConfigsRequest v0-v1. Its structs share names with AlterConfigs' but add an
/// operation per config.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static INCREMENTAL_ALTER_CONFIGS_REQUEST: MessageSchema = MessageSchema {
    flexible: since(1),
    body: Struct {
        name: "IncrementalAlterConfigsRequest",
        decoded_bytes: size_of::<IncrementalAlterConfigsRequest>(),
        fields: &[
            Field::new(
                "resources",
                Ty::Array(&Ty::Struct(&INCREMENTAL_RESOURCE)),
                since(0),
            ),
            Field::new("validate_only", Ty::Bool, since(0)),
        ],
    },
};

static INCREMENTAL_RESOURCE: Struct = Struct {
    name: "AlterConfigsResource",
    decoded_bytes: size_of::<incremental::AlterConfigsResource>(),
    fields: &[
        Field::new("resource_type", Ty::Int8, since(0)),
        Field::new("resource_name", Ty::String, since(0)),
        Field::new(
            "configs",
            Ty::Array(&Ty::Struct(&INCREMENTAL_CONFIG)),
            since(0),
        ),
    ],
};

static INCREMENTAL_CONFIG: Struct = Struct {
    name: "AlterableConfig",
    decoded_bytes: size_of::<incremental::AlterableConfig>(),
    fields: &[
        Field::new("name", Ty::String, since(0)),
        Field::new("config_operation", Ty::Int8, since(0)),
        Field::new("value", Ty::String, since(0)).nullable(since(0)),
    ],
};

/// DescribeClusterRequest v0-v2 (the crate's range; served: v0-v1). Flexible from v0.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) static DESCRIBE_CLUSTER_REQUEST: MessageSchema = MessageSchema {
    flexible: since(0),
    body: Struct {
        name: "DescribeClusterRequest",
        decoded_bytes: size_of::<DescribeClusterRequest>(),
        fields: &[
            Field::new("include_cluster_authorized_operations", Ty::Bool, since(0)),
            Field::new("endpoint_type", Ty::Int8, since(1)),
            Field::new("include_fenced_brokers", Ty::Bool, since(2)),
        ],
    },
};
