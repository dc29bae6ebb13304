//! Populated sample requests, encoded by `kafka-protocol` itself, for every API with a schema: the
//! round-trip tests in `tests.rs` and `versions.rs` walk them. Each sample sets every field the
//! version has (never one it lacks: the crate's encoder refuses those), puts two elements in the
//! outer arrays and at least one in every nested array, and adds an unknown tagged field to every
//! struct of a flexible version. With `nulls`, every field that is nullable at that version is null
//! (or, inside arrays, the second element's is), so the walker's null handling is exercised too.

mod admin;
mod groups;
mod produce_fetch;

use std::collections::BTreeMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, MetadataRequest, metadata_request};
use kafka_protocol::protocol::{Encodable, StrBytes};
use uuid::Uuid;

/// The sample with every nullable field set.
pub(crate) fn sample(key: ApiKey, version: i16) -> BytesMut {
    encode(key, version, false)
}

/// The sample with every nullable field null where the version allows it.
pub(crate) fn sample_with_nulls(key: ApiKey, version: i16) -> BytesMut {
    encode(key, version, true)
}

/// One unknown tagged field (tag 99, three bytes) when `flexible`, none otherwise.
pub(crate) fn tagged(flexible: bool) -> BTreeMap<i32, Bytes> {
    let mut map = BTreeMap::new();
    if flexible {
        map.insert(99, Bytes::from_static(b"xyz"));
    }
    map
}

fn encode(key: ApiKey, v: i16, nulls: bool) -> BytesMut {
    let mut buf = BytesMut::new();
    let encoded = match key {
        ApiKey::ApiVersions => api_versions(v).encode(&mut buf, v),
        ApiKey::Metadata => metadata(v, nulls).encode(&mut buf, v),
        ApiKey::Produce => produce_fetch::produce(v, nulls).encode(&mut buf, v),
        ApiKey::Fetch => produce_fetch::fetch(v, nulls).encode(&mut buf, v),
        ApiKey::ListOffsets => produce_fetch::list_offsets(v).encode(&mut buf, v),
        ApiKey::OffsetForLeaderEpoch => {
            produce_fetch::offset_for_leader_epoch(v).encode(&mut buf, v)
        }
        ApiKey::InitProducerId => produce_fetch::init_producer_id(v, nulls).encode(&mut buf, v),
        ApiKey::CreateTopics => admin::create_topics(v, nulls).encode(&mut buf, v),
        ApiKey::DeleteTopics => admin::delete_topics(v, nulls).encode(&mut buf, v),
        ApiKey::CreatePartitions => admin::create_partitions(v, nulls).encode(&mut buf, v),
        ApiKey::DescribeConfigs => admin::describe_configs(v, nulls).encode(&mut buf, v),
        ApiKey::AlterConfigs => admin::alter_configs(v, nulls).encode(&mut buf, v),
        ApiKey::IncrementalAlterConfigs => {
            admin::incremental_alter_configs(v, nulls).encode(&mut buf, v)
        }
        ApiKey::DescribeCluster => admin::describe_cluster(v).encode(&mut buf, v),
        ApiKey::FindCoordinator => groups::find_coordinator(v).encode(&mut buf, v),
        ApiKey::JoinGroup => groups::join_group(v, nulls).encode(&mut buf, v),
        ApiKey::SyncGroup => groups::sync_group(v, nulls).encode(&mut buf, v),
        ApiKey::Heartbeat => groups::heartbeat(v, nulls).encode(&mut buf, v),
        ApiKey::LeaveGroup => groups::leave_group(v, nulls).encode(&mut buf, v),
        ApiKey::OffsetCommit => groups::offset_commit(v, nulls).encode(&mut buf, v),
        ApiKey::OffsetFetch => groups::offset_fetch(v, nulls).encode(&mut buf, v),
        ApiKey::ListGroups => groups::list_groups(v).encode(&mut buf, v),
        ApiKey::DescribeGroups => groups::describe_groups(v).encode(&mut buf, v),
        ApiKey::DeleteGroups => groups::delete_groups(v).encode(&mut buf, v),
        ApiKey::OffsetDelete => groups::offset_delete().encode(&mut buf, v),
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

fn api_versions(v: i16) -> ApiVersionsRequest {
    ApiVersionsRequest::default()
        .with_client_software_name(s("raftka-test"))
        .with_client_software_version(s("1.2.3"))
        .with_unknown_tagged_fields(tagged(v >= 3))
}

fn metadata(v: i16, nulls: bool) -> MetadataRequest {
    use metadata_request::MetadataRequestTopic;
    let t = tagged(v >= 9);
    let topic = |name, id, null| {
        MetadataRequestTopic::default()
            .with_topic_id(only(v >= 10, id))
            .with_name(unless(null && v >= 10, s(name)))
            .with_unknown_tagged_fields(t.clone())
    };
    let topics = vec![topic("a", ID_A, false), topic("bb", ID_B, nulls)];
    MetadataRequest::default()
        .with_topics(unless(nulls && v >= 1, topics))
        .with_allow_auto_topic_creation(v < 4)
        .with_include_cluster_authorized_operations((8..=10).contains(&v))
        .with_include_topic_authorized_operations(v >= 8)
        .with_unknown_tagged_fields(t.clone())
}
