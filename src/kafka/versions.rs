//! The one table of served APIs: key, versions, request schema, handler. Dispatch (`request.rs`,
//! `connection.rs`) and the ApiVersions answer (`handlers/api_versions.rs`) are both built from it,
//! so nothing is advertised that is not served. Add an API with one `api!` line.

use bytes::Bytes;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, ApiVersionsRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeGroupsRequest, DescribeProducersRequest, FetchRequest,
    FindCoordinatorRequest, HeartbeatRequest, IncrementalAlterConfigsRequest,
    InitProducerIdRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, OffsetForLeaderEpochRequest, ProduceRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::Decodable;

use super::handlers::{self, Route};
use super::schema::{MessageSchema, Versions, range};
use super::schemas;

/// Decodes a body and drops it: the bounds tests run the real decoder through this.
pub(crate) type DecodeOnly = fn(&mut Bytes, i16) -> anyhow::Result<()>;

/// One served API.
pub(crate) struct Api {
    pub key: ApiKey,
    pub versions: Versions,
    /// Checked by `walk::walk` before `kafka-protocol` decodes the body.
    pub request: &'static MessageSchema,
    pub route: Route,
    pub decode: DecodeOnly,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} v{}-v{}",
            self.key, self.versions.min, self.versions.max
        )
    }
}

/// `api!(Key, min, max, SCHEMA, RequestType, handler)`: `handler` is
/// `async fn(RequestContext, RequestType) -> Option<ResponseType>` (`None` sends nothing back).
macro_rules! api {
    ($key:ident, $min:expr, $max:expr, $schema:expr, $req:ty, $handler:path) => {
        Api {
            key: ApiKey::$key,
            versions: range($min, $max),
            request: &$schema,
            route: |ctx, body| handlers::serve::<$req, _, _, _>(ctx, body, $handler),
            decode: |body, version| <$req as Decodable>::decode(body, version).map(drop),
        }
    };
}

pub(crate) static APIS: &[Api] = &[
    api!(
        ApiVersions,
        0,
        4,
        schemas::API_VERSIONS_REQUEST,
        ApiVersionsRequest,
        handlers::api_versions::handle
    ),
    api!(
        Metadata,
        0,
        12,
        schemas::METADATA_REQUEST,
        MetadataRequest,
        handlers::metadata::handle
    ),
    api!(
        Produce,
        3,
        11,
        schemas::PRODUCE_REQUEST,
        ProduceRequest,
        handlers::produce::handle
    ),
    api!(
        Fetch,
        4,
        15,
        schemas::FETCH_REQUEST,
        FetchRequest,
        handlers::fetch::handle
    ),
    api!(
        CreateTopics,
        2,
        7,
        schemas::CREATE_TOPICS_REQUEST,
        CreateTopicsRequest,
        handlers::create_topics::handle
    ),
    api!(
        ListOffsets,
        1,
        8,
        schemas::LIST_OFFSETS_REQUEST,
        ListOffsetsRequest,
        handlers::list_offsets::handle
    ),
    api!(
        FindCoordinator,
        0,
        4,
        schemas::FIND_COORDINATOR_REQUEST,
        FindCoordinatorRequest,
        handlers::find_coordinator::handle
    ),
    api!(
        InitProducerId,
        0,
        5,
        schemas::INIT_PRODUCER_ID_REQUEST,
        InitProducerIdRequest,
        handlers::init_producer_id::handle
    ),
    api!(
        DeleteRecords,
        0,
        2,
        schemas::DELETE_RECORDS_REQUEST,
        DeleteRecordsRequest,
        handlers::delete_records::handle
    ),
    api!(
        DescribeProducers,
        0,
        0,
        schemas::DESCRIBE_PRODUCERS_REQUEST,
        DescribeProducersRequest,
        handlers::describe_producers::handle
    ),
    api!(
        OffsetCommit,
        2,
        9,
        schemas::OFFSET_COMMIT_REQUEST,
        OffsetCommitRequest,
        handlers::offset_commit::handle
    ),
    api!(
        OffsetDelete,
        0,
        0,
        schemas::OFFSET_DELETE_REQUEST,
        OffsetDeleteRequest,
        handlers::offset_delete::handle
    ),
    api!(
        DeleteGroups,
        0,
        2,
        schemas::DELETE_GROUPS_REQUEST,
        DeleteGroupsRequest,
        handlers::delete_groups::handle
    ),
    api!(
        OffsetFetch,
        1,
        9,
        schemas::OFFSET_FETCH_REQUEST,
        OffsetFetchRequest,
        handlers::offset_fetch::handle
    ),
    api!(
        OffsetForLeaderEpoch,
        2,
        4,
        schemas::OFFSET_FOR_LEADER_EPOCH_REQUEST,
        OffsetForLeaderEpochRequest,
        handlers::offset_for_leader_epoch::handle
    ),
    api!(
        DeleteTopics,
        1,
        6,
        schemas::DELETE_TOPICS_REQUEST,
        DeleteTopicsRequest,
        handlers::delete_topics::handle
    ),
    api!(
        CreatePartitions,
        0,
        3,
        schemas::CREATE_PARTITIONS_REQUEST,
        CreatePartitionsRequest,
        handlers::create_partitions::handle
    ),
    api!(
        DescribeConfigs,
        1,
        4,
        schemas::DESCRIBE_CONFIGS_REQUEST,
        DescribeConfigsRequest,
        handlers::describe_configs::handle
    ),
    api!(
        AlterConfigs,
        0,
        2,
        schemas::ALTER_CONFIGS_REQUEST,
        AlterConfigsRequest,
        handlers::alter_configs::handle
    ),
    api!(
        IncrementalAlterConfigs,
        0,
        1,
        schemas::INCREMENTAL_ALTER_CONFIGS_REQUEST,
        IncrementalAlterConfigsRequest,
        handlers::incremental_alter_configs::handle
    ),
    api!(
        DescribeCluster,
        0,
        1,
        schemas::DESCRIBE_CLUSTER_REQUEST,
        DescribeClusterRequest,
        handlers::describe_cluster::handle
    ),
    api!(
        JoinGroup,
        0,
        9,
        schemas::JOIN_GROUP_REQUEST,
        JoinGroupRequest,
        handlers::join_group::handle
    ),
    api!(
        SyncGroup,
        0,
        5,
        schemas::SYNC_GROUP_REQUEST,
        SyncGroupRequest,
        handlers::sync_group::handle
    ),
    api!(
        Heartbeat,
        0,
        4,
        schemas::HEARTBEAT_REQUEST,
        HeartbeatRequest,
        handlers::heartbeat::handle
    ),
    api!(
        LeaveGroup,
        0,
        5,
        schemas::LEAVE_GROUP_REQUEST,
        LeaveGroupRequest,
        handlers::leave_group::handle
    ),
    api!(
        ListGroups,
        0,
        5,
        schemas::LIST_GROUPS_REQUEST,
        ListGroupsRequest,
        handlers::list_groups::handle
    ),
    api!(
        DescribeGroups,
        0,
        5,
        schemas::DESCRIBE_GROUPS_REQUEST,
        DescribeGroupsRequest,
        handlers::describe_groups::handle
    ),
];

pub(crate) fn find(key: ApiKey) -> Option<&'static Api> {
    APIS.iter().find(|api| api.key == key)
}

/// The served `(api key, min version, max version)` triples, in table order.
pub fn served() -> Vec<(i16, i16, i16)> {
    APIS.iter()
        .map(|api| (api.key as i16, api.versions.min, api.versions.max))
        .collect()
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;
    use kafka_protocol::messages::RequestHeader;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    use super::super::request::{Parsed, parse};
    use super::super::schemas::samples::{sample, tagged};
    use super::*;

    #[test]
    fn table_is_within_the_crate_and_has_no_duplicates() {
        for (i, api) in APIS.iter().enumerate() {
            let crate_range = api.key.valid_versions();
            assert!(api.versions.min <= api.versions.max, "{api:?}");
            assert!(
                crate_range.min <= api.versions.min && api.versions.max <= crate_range.max,
                "{api:?}"
            );
            assert!(
                APIS[..i].iter().all(|other| other.key != api.key),
                "{api:?} twice"
            );
        }
        assert!(find(ApiKey::ApiVersions).is_some());
    }

    #[test]
    fn schemas_agree_with_the_encoder() {
        for api in APIS {
            for version in api.versions.min..=api.versions.max {
                let header_version = api.key.request_header_version(version);
                let header = RequestHeader::default()
                    .with_request_api_key(api.key as i16)
                    .with_request_api_version(version)
                    .with_correlation_id(7)
                    .with_client_id(Some(StrBytes::from_static_str("client-1")))
                    .with_unknown_tagged_fields(tagged(header_version >= 2));
                let mut frame = BytesMut::new();
                header
                    .encode(&mut frame, header_version)
                    .expect("header encodes");
                let body = sample(api.key, version);
                frame.extend_from_slice(&body);
                match parse(frame.freeze()) {
                    Ok(Parsed::Routed {
                        header: h,
                        body: rest,
                        ..
                    }) => {
                        assert_eq!(h, header, "{api:?} v{version} header");
                        assert_eq!(rest[..], body[..], "{api:?} v{version} body");
                        let mut rest = rest;
                        (api.decode)(&mut rest, version).expect("decodes");
                        assert!(rest.is_empty(), "{api:?} v{version}: decoder left bytes");
                    }
                    other => panic!("{api:?} v{version}: {other:?}"),
                }
                // The walker must consume exactly the body: a schema that skips or over-reads a
                // field fails here (checked by walking the body alone).
                let (mut pos, mut decoded) = (0, 0);
                super::super::walk::walk(
                    api.request,
                    version,
                    &body,
                    &mut pos,
                    &mut decoded,
                    usize::MAX,
                )
                .unwrap_or_else(|e| panic!("{api:?} v{version}: {e}"));
                assert_eq!(
                    pos,
                    body.len(),
                    "{api:?} v{version}: schema length differs from the encoder"
                );
            }
        }
    }
}
