//! The broker's internal topics (`__consumer_offsets`, `__cluster_metadata`) are its own:
//! clients cannot delete, create, grow or reconfigure them (INVALID_TOPIC_EXCEPTION naming the
//! topic), auto-creation does not make them, and consumer groups keep working afterwards.

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tracing::info;

use crate::admin_raw::{alter, incremental};
use crate::clients::{config, consumer, create_topic, produce_one_record};
use crate::common::wire::connect;
use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::Target;

const OFFSETS: &str = "__consumer_offsets";
const INVALID_TOPIC_EXCEPTION: i16 = 17;

/// Commits offset `offset` of `topic`/0 for `group` (which needs `__consumer_offsets`).
fn commit(target: &Target, group: &str, topic: &str, offset: i64) {
    let committer = consumer(target, &[("group.id", group)]);
    let mut offsets = TopicPartitionList::new();
    offsets
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("offset");
    committer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit");
    let committed = committer
        .committed_offsets(offsets, WAIT)
        .expect("committed offsets");
    assert_eq!(
        committed.find_partition(topic, 0).map(|p| p.offset()),
        Some(Offset::Offset(offset))
    );
}

#[test]
fn internal_topics_cannot_be_deleted_created_grown_or_reconfigured() {
    init_logs();
    let target = Target::any();
    let topic = unique_name("internal-guard");
    create_topic(&target, &topic, 1, &[]);
    produce_one_record(&target, &topic, 0, b"x");
    let group = unique_name("internal-guard");
    commit(&target, &group, &topic, 1);

    let admin: AdminClient<DefaultClientContext> = config(&target, &[]).create().expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let refused = |outcome: Result<String, (String, RDKafkaErrorCode)>, what: &str| {
        assert_eq!(
            outcome,
            Err((OFFSETS.to_string(), RDKafkaErrorCode::InvalidTopic)),
            "{what}"
        );
    };
    for name in [OFFSETS, "__cluster_metadata"] {
        info!(name, "CreateTopics of an internal topic");
        let new = NewTopic::new(name, 1, TopicReplication::Fixed(1));
        let results = block_on(WAIT, admin.create_topics([&new], &options)).expect("request");
        assert_eq!(
            results[0],
            Err((name.to_string(), RDKafkaErrorCode::InvalidTopic)),
            "create {name}"
        );
    }
    info!("DeleteTopics, CreatePartitions, AlterConfigs of __consumer_offsets");
    let deleted = block_on(WAIT, admin.delete_topics(&[OFFSETS], &options)).expect("request");
    refused(deleted[0].clone(), "delete");
    let grown = block_on(
        WAIT,
        admin.create_partitions([&NewPartitions::new(OFFSETS, 100)], &options),
    )
    .expect("request");
    refused(grown[0].clone(), "create partitions");
    let mut conn = connect(target.addr);
    for (key, value) in [
        ("cleanup.policy", "delete"),
        ("max.message.bytes", "0"),
        ("retention.ms", "1"),
    ] {
        let (code, message) = incremental(&mut conn, OFFSETS, &[(key, 0, Some(value))]);
        assert_eq!(code, INVALID_TOPIC_EXCEPTION, "altering {key}: {message:?}");
        assert!(message.is_some_and(|m| m.contains(OFFSETS)));
        let (code, message) = alter(&mut conn, 2, 2, OFFSETS, &[(key, value)], false);
        assert_eq!(
            code, INVALID_TOPIC_EXCEPTION,
            "replacing {key}: {message:?}"
        );
    }

    info!("groups still commit and read their offsets");
    commit(&target, &group, &topic, 0);
    target.assert_serving();
}
