//! Why an admin request (or one topic or resource of it) was refused. `kafka/error_map.rs`
//! picks the Kafka code for each; the message goes to the client as it reads here.

use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

use super::configs::ConfigResource;
use crate::metadata::{MetadataError, NodeId, ProposeError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("topic '{0}' appears more than once in the request")]
    DuplicateTopic(String),
    #[error("topic named more than once in the request")]
    DuplicateTopicRef,
    #[error("resource {0} appears more than once in the request")]
    DuplicateResource(ConfigResource),
    #[error("config '{0}' appears more than once")]
    DuplicateConfig(String),
    /// A topic named by both a name and an id, or by neither.
    #[error("give either a topic name or a topic id")]
    MalformedTopicRef,
    #[error("give either replica assignments or partition count and replication factor")]
    AssignmentsWithCounts,
    /// AlterConfigs with a key but no value.
    #[error("config '{0}' has a null value")]
    NullConfigValue(String),
    #[error("SET of config '{0}' has a null value")]
    NullSet(String),
    #[error("unknown operation {op} on config '{name}'")]
    UnknownConfigOperation { name: String, op: i8 },
    #[error("unknown resource type {0}")]
    UnknownResourceType(i8),
    #[error("this is broker {me}; ask broker '{name}' itself for its configs")]
    OtherBroker { me: NodeId, name: String },
    #[error("broker loggers are set by log.level or RUST_LOG at start-up")]
    BrokerLoggers,
    #[error(
        "broker configs are static: set them in the config file, a RAFTKA_* variable or \
         --override, and restart"
    )]
    StaticBrokerConfigs,
    #[error(
        "{0} is an internal topic: the broker creates and configures it, clients cannot create, delete, grow or reconfigure it"
    )]
    InternalTopic(String),
    #[error("unknown topic '{0}'")]
    UnknownTopic(String),
    #[error("no topic has id {0}")]
    UnknownTopicId(Uuid),
    #[error("partition count {0} must be at least 1")]
    NoPartitions(i32),
    /// More new partitions in one request than [`super::MAX_NEW_PARTITIONS`]: refused before
    /// anything is allocated for them.
    #[error("{requested} new partitions in one request; at most {max}")]
    TooManyPartitions { requested: i64, max: usize },
    #[error("topic '{name}' has {current} partitions; the new count ({requested}) must be larger")]
    FewerPartitions {
        name: String,
        current: usize,
        requested: i32,
    },
    #[error(transparent)]
    Assignment(#[from] AssignmentError),
    /// CreateTopics with a key but no value.
    #[error("config '{0}' has no value")]
    ConfigWithoutValue(String),
    #[error("config '{0}' is not a list: APPEND and SUBTRACT do not apply")]
    NotAList(String),
    /// The metadata state refuses the change (checked here, before proposing).
    #[error(transparent)]
    Refused(#[from] MetadataError),
    /// The metadata log did not take the change.
    #[error(transparent)]
    Propose(#[from] ProposeError),
    #[error("the change did not take effect on this broker within {0:?}")]
    NotInEffect(Duration),
    /// Free disk space is below `log.dir.min.free.bytes`: no new partition here.
    #[error(
        "{free_bytes} bytes free on the log directory's disk, below the {floor_bytes} kept free"
    )]
    DiskFull { free_bytes: u64, floor_bytes: u64 },
    #[error("{} could not be removed", .0.display())]
    FilesRemain(PathBuf),
    #[error("the replica of {topic}-{partition} did not start here (see the broker log)")]
    ReplicaNotStarted { topic: String, partition: i32 },
    /// Created, yet not in the metadata that followed.
    #[error("topic vanished")]
    Vanished,
}

impl AdminError {
    /// The topic exists already: auto-creation and internal topics take that as done.
    pub fn is_topic_exists(&self) -> bool {
        matches!(
            self,
            AdminError::Refused(MetadataError::TopicExists(_))
                | AdminError::Propose(ProposeError::Rejected(MetadataError::TopicExists(_)))
        )
    }
}

/// Replicas chosen by the client that do not fit the topic or the cluster.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("replica assignments must cover partitions 0..n once each")]
    Gaps,
    #[error("{new} new partitions need {new} replica assignments, got {got}")]
    Count { new: usize, got: usize },
    #[error(
        "new partition {partition} has {replicas} replicas; the topic's replication factor is \
         {replication_factor}"
    )]
    ReplicationFactor {
        partition: usize,
        replicas: usize,
        replication_factor: usize,
    },
    #[error("broker {0} is not registered")]
    Unregistered(i32),
    #[error("new partition {partition} names broker {broker} twice")]
    Repeated { partition: usize, broker: i32 },
}
