//! The cluster view: brokers, topics, replica assignments, topic settings. Replicated through
//! the metadata Raft instance, whose leader is the controller. `admin/` changes topics for the
//! admin APIs; `routing.rs` finds the replica and the leader a partition request goes to.

pub mod admin;
pub mod leadership;
pub mod producer_ids;
pub mod routing;
pub mod state;
pub mod store;
pub mod topic_config;

pub use producer_ids::ProducerIds;
pub use state::{
    BrokerInfo, Command, LeaderRecord, MetadataError, MetadataState, NodeId, ProducerIdBlock,
    TopicMeta,
};
pub use store::{METADATA_TOPIC, MetadataStore, MetadataView, ProposeError};
pub use topic_config::{ConfigSource, DescribedConfig, TopicDefaults};

/// The topic consumer groups commit their offsets to; the group coordinator owns it.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Topics the broker keeps for itself: clients cannot create, delete, grow or reconfigure them.
pub fn is_internal_topic(name: &str) -> bool {
    name == OFFSETS_TOPIC || name == METADATA_TOPIC
}
