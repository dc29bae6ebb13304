//! Group coordination as raw requests: FindCoordinator creates `__consumer_offsets` and names
//! the leader of the group's partition (this broker, alone), one key or a batch; OffsetFetch
//! answers -1 for partitions without a commit, for one group or several.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use kafka_protocol::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tracing::info;

use crate::common::wire::call;
use crate::common::{WAIT, init_logs};
use crate::harness::Target;

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// FindCoordinator v3 for `group` until it names a coordinator (the first request creates the
/// offsets topic, whose partitions elect their leaders).
fn coordinator_of(conn: &mut TcpStream, group: &str) -> FindCoordinatorResponse {
    let deadline = Instant::now() + WAIT;
    loop {
        let request = FindCoordinatorRequest::default()
            .with_key(s(group))
            .with_key_type(0);
        let response: FindCoordinatorResponse = call(conn, ApiKey::FindCoordinator, 3, &request);
        if response.error_code != ResponseError::CoordinatorNotAvailable.code() {
            return response;
        }
        assert!(Instant::now() < deadline, "no coordinator for {group}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn find_coordinator_names_this_broker_and_creates_the_offsets_topic() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    let found = coordinator_of(&mut conn, "coordinated-group");
    assert_eq!(found.error_code, 0, "{found:?}");
    assert_eq!(
        format!("{}:{}", found.host, found.port),
        target.addr.to_string()
    );
    assert!(found.node_id.0 >= 0);

    info!("a batch of keys (v4) gets one answer per key");
    let request = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![s("a"), s("b")]);
    let batch: FindCoordinatorResponse = call(&mut conn, ApiKey::FindCoordinator, 4, &request);
    let keys: Vec<String> = batch
        .coordinators
        .iter()
        .map(|c| c.key.to_string())
        .collect();
    assert_eq!(keys, ["a", "b"]);
    for c in &batch.coordinators {
        assert_eq!((c.error_code, c.node_id), (0, found.node_id), "{c:?}");
    }

    info!("transactional ids are not coordinated here");
    let request = FindCoordinatorRequest::default()
        .with_key(s("tx"))
        .with_key_type(1);
    let refused: FindCoordinatorResponse = call(&mut conn, ApiKey::FindCoordinator, 3, &request);
    assert_eq!(refused.error_code, ResponseError::InvalidRequest.code());

    info!("the offsets topic is listed as internal");
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(s("__consumer_offsets")))),
        ]))
        .with_allow_auto_topic_creation(false);
    let metadata: MetadataResponse = call(&mut conn, ApiKey::Metadata, 9, &request);
    let topic = &metadata.topics[0];
    assert_eq!(topic.error_code, 0);
    assert!(topic.is_internal);
    assert!(!topic.partitions.is_empty());
}

#[test]
fn offset_fetch_without_commits_answers_minus_one() {
    init_logs();
    let target = Target::any();
    let mut conn = target.connect();
    assert_eq!(coordinator_of(&mut conn, "fresh-group").error_code, 0);

    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(s("fresh-group")))
        .with_topics(Some(vec![
            OffsetFetchRequestTopic::default()
                .with_name(TopicName(s("some-topic")))
                .with_partition_indexes(vec![0, 1]),
        ]));
    let response: OffsetFetchResponse = call(&mut conn, ApiKey::OffsetFetch, 7, &request);
    assert_eq!(response.error_code, 0);
    let partitions = &response.topics[0].partitions;
    assert_eq!(partitions.len(), 2);
    assert!(
        partitions
            .iter()
            .all(|p| p.committed_offset == -1 && p.error_code == 0)
    );

    info!("a null topic list asks for every commit: none");
    let all: OffsetFetchResponse = call(
        &mut conn,
        ApiKey::OffsetFetch,
        7,
        &OffsetFetchRequest::default().with_group_id(GroupId(s("fresh-group"))),
    );
    assert_eq!((all.error_code, all.topics.len()), (0, 0));

    info!("v8 asks for several groups at once");
    let request = OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s("fresh-group")))
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(s("some-topic")))
                    .with_partition_indexes(vec![3]),
            ])),
        OffsetFetchRequestGroup::default().with_group_id(GroupId(s("other-group"))),
    ]);
    let response: OffsetFetchResponse = call(&mut conn, ApiKey::OffsetFetch, 8, &request);
    assert_eq!(response.groups.len(), 2);
    assert!(
        response.groups.iter().all(|g| g.error_code == 0),
        "{response:?}"
    );
    assert_eq!(
        response.groups[0].topics[0].partitions[0].committed_offset,
        -1
    );
}
