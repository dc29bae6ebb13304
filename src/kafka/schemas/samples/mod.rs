//! Populated sample requests, encoded by `kafka-protocol` itself, for every API with a schema: the
//! round-trip tests in `../tests.rs` and `versions.rs` walk them. Each sample sets every field the
//! version has (never one it lacks: the crate's encoder refuses those), puts two elements in the
//! outer arrays and at least one in every nested array, and sets every known tagged field. A
//! [`Fill`] adds an unknown tagged field to every struct of a flexible version, and/or nulls every
//! field that is nullable at that version (inside arrays, the second element's).

mod admin;
mod groups;
mod produce_fetch;

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, MetadataRequest, metadata_request};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

/// What a sample holds beyond every field of its version.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fill {
    /// Null in every field nullable at the version (else a value).
    pub nulls: bool,
    /// One unknown tagged field in every struct of a flexible version.
    pub unknown_tags: bool,
}

impl Fill {
    pub(crate) const FULL: Fill = Fill {
        nulls: false,
        unknown_tags: true,
    };
    pub(crate) const NULLS: Fill = Fill {
        nulls: true,
        unknown_tags: true,
    };
    /// Nothing the crate decodes into a map: what it allocates is exactly its `Vec`s.
    pub(crate) const PLAIN: Fill = Fill {
        nulls: false,
        unknown_tags: false,
    };

    fn tags(self, flexible: bool) -> BTreeMap<i32, Bytes> {
        tagged(flexible && self.unknown_tags)
    }
}

/// `key`'s sample at `version` with every field set and unknown tagged fields.
pub(crate) fn sample(key: ApiKey, version: i16) -> BytesMut {
    sample_with(key, version, Fill::FULL)
}

/// One unknown tagged field (tag 99, three bytes) when `flexible`, none otherwise.
pub(crate) fn tagged(flexible: bool) -> BTreeMap<i32, Bytes> {
    let mut map = BTreeMap::new();
    if flexible {
        map.insert(99, Bytes::from_static(b"xyz"));
    }
    map
}

pub(crate) fn sample_with(key: ApiKey, v: i16, f: Fill) -> BytesMut {
    let mut buf = BytesMut::new();
    let encoded = match key {
        ApiKey::ApiVersions => api_versions(v, f).encode(&mut buf, v),
        ApiKey::Metadata => metadata(v, f).encode(&mut buf, v),
        ApiKey::Produce => produce_fetch::produce(v, f).encode(&mut buf, v),
        ApiKey::Fetch => produce_fetch::fetch(v, f).encode(&mut buf, v),
        ApiKey::ListOffsets => produce_fetch::list_offsets(v, f).encode(&mut buf, v),
        ApiKey::OffsetForLeaderEpoch => {
            produce_fetch::offset_for_leader_epoch(v, f).encode(&mut buf, v)
        }
        ApiKey::InitProducerId => produce_fetch::init_producer_id(v, f).encode(&mut buf, v),
        ApiKey::DescribeProducers => produce_fetch::describe_producers(v, f).encode(&mut buf, v),
        ApiKey::DeleteRecords => produce_fetch::delete_records(v, f).encode(&mut buf, v),
        ApiKey::CreateTopics => admin::create_topics(v, f).encode(&mut buf, v),
        ApiKey::DeleteTopics => admin::delete_topics(v, f).encode(&mut buf, v),
        ApiKey::CreatePartitions => admin::create_partitions(v, f).encode(&mut buf, v),
        ApiKey::DescribeConfigs => admin::describe_configs(v, f).encode(&mut buf, v),
        ApiKey::AlterConfigs => admin::alter_configs(v, f).encode(&mut buf, v),
        ApiKey::IncrementalAlterConfigs => {
            admin::incremental_alter_configs(v, f).encode(&mut buf, v)
        }
        ApiKey::DescribeCluster => admin::describe_cluster(v, f).encode(&mut buf, v),
        ApiKey::FindCoordinator => groups::find_coordinator(v, f).encode(&mut buf, v),
        ApiKey::JoinGroup => groups::join_group(v, f).encode(&mut buf, v),
        ApiKey::SyncGroup => groups::sync_group(v, f).encode(&mut buf, v),
        ApiKey::Heartbeat => groups::heartbeat(v, f).encode(&mut buf, v),
        ApiKey::LeaveGroup => groups::leave_group(v, f).encode(&mut buf, v),
        ApiKey::OffsetCommit => groups::offset_commit(v, f).encode(&mut buf, v),
        ApiKey::OffsetFetch => groups::offset_fetch(v, f).encode(&mut buf, v),
        ApiKey::ListGroups => groups::list_groups(v, f).encode(&mut buf, v),
        ApiKey::DescribeGroups => groups::describe_groups(v, f).encode(&mut buf, v),
        ApiKey::DeleteGroups => groups::delete_groups(v, f).encode(&mut buf, v),
        ApiKey::OffsetDelete => groups::offset_delete(f).encode(&mut buf, v),
        other => panic!("add a sample request for {other:?}"),
    };
    encoded.unwrap_or_else(|e| panic!("{key:?} v{v} sample encodes: {e}"));
    buf
}

/// A string of any of the crate's string newtypes.
pub(super) fn s<T: From<StrBytes>>(value: &'static str) -> T {
    T::from(StrBytes::from_static_str(value))
}

/// `value` when `present`, else the field's default (what the encoder expects of absent fields).
pub(super) fn only<T: Default>(present: bool, value: T) -> T {
    if present { value } else { T::default() }
}

/// `Some(value)` unless `null`.
pub(super) fn unless<T>(null: bool, value: T) -> Option<T> {
    if null { None } else { Some(value) }
}

pub(super) const ID_A: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
pub(super) const ID_B: Uuid = Uuid::from_u128(0xfedc_ba98_7654_3210_fedc_ba98_7654_3210);

fn api_versions(v: i16, f: Fill) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s("raftka-test"))
        .with_client_software_version(s("1.2.3"))
        .with_unknown_tagged_fields(f.tags(v >= 3))
}

fn metadata(v: i16, f: Fill) -> MetadataRequest {
    use metadata_request::MetadataRequestTopic;
    let t = f.tags(v >= 9);
    let topic = |name, id, null| {
        MetadataRequestTopic::default()
            .with_topic_id(only(v >= 10, id))
            .with_name(unless(null && v >= 10, s(name)))
            .with_unknown_tagged_fields(t.clone())
    };
    let topics = vec![topic("a", ID_A, false), topic("bb", ID_B, f.nulls)];
    MetadataRequest::default()
        .with_topics(unless(f.nulls && v >= 1, topics))
        .with_allow_auto_topic_creation(v < 4)
        .with_include_cluster_authorized_operations((8..=10).contains(&v))
        .with_include_topic_authorized_operations(v >= 8)
        .with_unknown_tagged_fields(t.clone())
}
