//! Admin APIs through librdkafka's AdminClient: create and delete topics (files removed, a
//! recreated topic empty), create partitions, describe and alter configs (a Describe -> Alter
//! round trip, limits applied by the running partition). `admin_raw.rs` covers what rdkafka
//! does not expose (IncrementalAlterConfigs, DescribeCluster, topic ids, restarts).

use std::collections::HashMap;
use std::time::Duration;

use futures::executor::block_on;
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigResource, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tracing::info;

use crate::common::{WAIT, init_logs, unique_name};
use crate::harness::Target;

pub type Admin = AdminClient<DefaultClientContext>;

pub fn admin(target: &Target) -> Admin {
    ClientConfig::new()
        .set("bootstrap.servers", target.addr.to_string())
        .create()
        .expect("admin client")
}

pub fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(WAIT))
        .operation_timeout(Some(WAIT))
}

fn producer(target: &Target) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", target.addr.to_string())
        .set("message.timeout.ms", "10000")
        .set("linger.ms", "0")
        .create()
        .expect("producer")
}

/// Creates `name` with `partitions` partitions and `configs`; panics unless created.
pub fn create(admin: &Admin, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    for (k, v) in configs {
        topic = topic.set(k, v);
    }
    let results = block_on(admin.create_topics([&topic], &options())).expect("CreateTopics");
    assert_eq!(results, vec![Ok(name.to_string())]);
}

/// Produces one record to `topic`/`partition`; the broker's error code if refused.
fn produce(
    p: &FutureProducer,
    topic: &str,
    partition: i32,
    value: &[u8],
) -> Result<(), RDKafkaErrorCode> {
    let record = FutureRecord::<(), [u8]>::to(topic)
        .partition(partition)
        .payload(value);
    match block_on(p.send(record, Duration::from_secs(10))) {
        Ok(_) => Ok(()),
        Err((KafkaError::MessageProduction(code), _)) => Err(code),
        Err((e, _)) => panic!("produce to {topic}/{partition}: {e}"),
    }
}

fn topic_names(admin: &Admin) -> Vec<String> {
    let md = admin
        .inner()
        .fetch_metadata(None, WAIT)
        .expect("metadata of all topics");
    md.topics().iter().map(|t| t.name().to_string()).collect()
}

fn describe_topic(admin: &Admin, name: &str) -> ConfigResource {
    let results = block_on(admin.describe_configs([&ResourceSpecifier::Topic(name)], &options()))
        .expect("DescribeConfigs");
    results
        .into_iter()
        .next()
        .expect("one result")
        .expect("described")
}

#[test]
fn create_and_delete_topics() {
    init_logs();
    let target = Target::any();
    let admin = admin(&target);
    let name = unique_name("admin-delete");
    info!(topic = %name, "a new topic with settings is created once");
    create(&admin, &name, 3, &[("retention.ms", "60000")]);
    let again = NewTopic::new(&name, 1, TopicReplication::Fixed(1));
    let results = block_on(admin.create_topics([&again], &options())).expect("CreateTopics");
    assert_eq!(
        results,
        vec![Err((name.clone(), RDKafkaErrorCode::TopicAlreadyExists))]
    );

    info!("validate_only checks a topic without creating it");
    let checked = unique_name("admin-validate");
    let new = NewTopic::new(&checked, 2, TopicReplication::Fixed(1));
    let results = block_on(admin.create_topics([&new], &options().validate_only(true)))
        .expect("CreateTopics validate_only");
    assert_eq!(results, vec![Ok(checked.clone())]);
    assert!(
        !topic_names(&admin).contains(&checked),
        "validate_only created {checked}"
    );
    let bad = NewTopic::new(&checked, 1, TopicReplication::Fixed(1)).set("retention.ms", "soon");
    let results = block_on(admin.create_topics([&bad], &options().validate_only(true)))
        .expect("CreateTopics");
    assert_eq!(
        results,
        vec![Err((checked.clone(), RDKafkaErrorCode::InvalidConfig))]
    );

    info!("records go in, then the topic is deleted: its directories go before the answer");
    let p = producer(&target);
    for partition in 0..3 {
        produce(&p, &name, partition, b"doomed").expect("produce");
    }
    let dirs: Vec<_> = target
        .data_dir()
        .map(|d| {
            (0..3)
                .map(|i| crate::common::partition_dir(&d, &name, i))
                .collect()
        })
        .unwrap_or_default();
    assert!(
        dirs.iter().all(|d| d.as_ref().is_some_and(|d| d.is_dir())),
        "partition directories {dirs:?}"
    );
    let dirs: Vec<_> = dirs.into_iter().flatten().collect();
    let results = block_on(admin.delete_topics(&[&name], &options())).expect("DeleteTopics");
    assert_eq!(results, vec![Ok(name.clone())]);
    for dir in &dirs {
        assert!(
            !dir.exists(),
            "{} still there after DeleteTopics",
            dir.display()
        );
    }
    assert!(!topic_names(&admin).contains(&name));
    let results = block_on(admin.delete_topics(&[&name], &options())).expect("DeleteTopics");
    assert_eq!(
        results,
        vec![Err((
            name.clone(),
            RDKafkaErrorCode::UnknownTopicOrPartition
        ))]
    );

    info!("a topic created again under the same name starts empty, with default settings");
    create(&admin, &name, 1, &[]);
    let (low, high) = p
        .client()
        .fetch_watermarks(&name, 0, WAIT)
        .expect("watermarks");
    assert_eq!((low, high), (0, 0), "the recreated topic holds old records");
    let retention = describe_topic(&admin, &name);
    let retention = retention.get("retention.ms").expect("retention.ms");
    assert_eq!(
        retention.source,
        ConfigSource::Default,
        "old override survived: {retention:?}"
    );
    let results = block_on(admin.delete_topics(&[&name], &options())).expect("DeleteTopics");
    assert_eq!(results, vec![Ok(name.clone())]);
}

#[test]
fn create_partitions_then_produce() {
    init_logs();
    let target = Target::any();
    let admin = admin(&target);
    let name = unique_name("admin-grow");
    create(&admin, &name, 1, &[]);
    info!("growing to 3 partitions; the new ones take records at once");
    let grow = NewPartitions::new(&name, 3);
    let results = block_on(admin.create_partitions([&grow], &options())).expect("CreatePartitions");
    assert_eq!(results, vec![Ok(name.clone())]);
    let p = producer(&target);
    produce(&p, &name, 2, b"into a new partition").expect("produce to partition 2");

    info!("the count must grow; validate_only changes nothing");
    let shrink = NewPartitions::new(&name, 2);
    let results =
        block_on(admin.create_partitions([&shrink], &options())).expect("CreatePartitions");
    assert_eq!(
        results,
        vec![Err((name.clone(), RDKafkaErrorCode::InvalidPartitions))]
    );
    let checked = NewPartitions::new(&name, 8);
    let results = block_on(admin.create_partitions([&checked], &options().validate_only(true)))
        .expect("CreatePartitions validate_only");
    assert_eq!(results, vec![Ok(name.clone())]);
    let md = admin
        .inner()
        .fetch_metadata(Some(&name), WAIT)
        .expect("metadata");
    assert_eq!(md.topics()[0].partitions().len(), 3);

    info!("replicas chosen by the client: the broker itself, or an unknown broker refused");
    let me = md.orig_broker_id();
    let assignment: &[&[i32]] = &[&[me]];
    let manual = NewPartitions::new(&name, 4).assign(assignment);
    let results =
        block_on(admin.create_partitions([&manual], &options())).expect("CreatePartitions");
    assert_eq!(results, vec![Ok(name.clone())]);
    // A new producer: the first one's metadata still says 3 partitions.
    produce(&producer(&target), &name, 3, b"manual").expect("produce to partition 3");
    let elsewhere: &[&[i32]] = &[&[me + 1000]];
    let manual = NewPartitions::new(&name, 5).assign(elsewhere);
    let results =
        block_on(admin.create_partitions([&manual], &options())).expect("CreatePartitions");
    assert_eq!(
        results,
        vec![Err((
            name.clone(),
            RDKafkaErrorCode::InvalidReplicaAssignment
        ))]
    );
    let missing = unique_name("admin-missing");
    let results = block_on(admin.create_partitions([&NewPartitions::new(&missing, 2)], &options()))
        .expect("CreatePartitions");
    assert_eq!(
        results,
        vec![Err((missing, RDKafkaErrorCode::UnknownTopicOrPartition))]
    );
}

#[test]
fn describe_and_alter_configs() {
    init_logs();
    let target = Target::any();
    let admin = admin(&target);
    let name = unique_name("admin-configs");
    create(&admin, &name, 1, &[("segment.bytes", "2097152")]);

    info!("a topic describes every supported setting with its source");
    let described = describe_topic(&admin, &name);
    let entries = described.entry_map();
    for key in [
        "cleanup.policy",
        "retention.ms",
        "retention.bytes",
        "segment.bytes",
        "max.message.bytes",
    ] {
        let e = entries
            .get(key)
            .unwrap_or_else(|| panic!("{key} described: {described:?}"));
        assert!(e.value.is_some() && !e.is_read_only, "{e:?}");
    }
    assert_eq!(entries["segment.bytes"].value.as_deref(), Some("2097152"));
    assert_eq!(entries["segment.bytes"].source, ConfigSource::DynamicTopic);
    assert!(!entries["segment.bytes"].is_default);
    assert!(entries["retention.bytes"].is_default);

    info!("AlterConfigs replaces the overrides: segment.bytes reverts, retention.ms is set");
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&name)).set("retention.ms", "123456");
    let results = block_on(admin.alter_configs([&alter], &options())).expect("AlterConfigs");
    assert!(results[0].is_ok(), "{results:?}");
    let after = describe_topic(&admin, &name);
    let after = after.entry_map();
    assert_eq!(after["retention.ms"].value.as_deref(), Some("123456"));
    assert_eq!(after["retention.ms"].source, ConfigSource::DynamicTopic);
    assert_ne!(after["segment.bytes"].source, ConfigSource::DynamicTopic);

    info!("Describe -> Alter round trip: feeding every described value back is accepted");
    let current = describe_topic(&admin, &name);
    let mut round_trip = AlterConfig::new(ResourceSpecifier::Topic(&name));
    for e in &current.entries {
        if let Some(v) = &e.value {
            round_trip = round_trip.set(&e.name, v);
        }
    }
    let results = block_on(admin.alter_configs([&round_trip], &options())).expect("AlterConfigs");
    assert!(results[0].is_ok(), "{results:?}");
    let again: HashMap<String, Option<String>> = describe_topic(&admin, &name)
        .entries
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    for e in &current.entries {
        assert_eq!(
            again[&e.name], e.value,
            "{} changed in the round trip",
            e.name
        );
    }

    info!(
        "a bad value changes nothing (rdkafka 0.39 drops per-resource errors: admin_raw.rs checks codes)"
    );
    let bad = AlterConfig::new(ResourceSpecifier::Topic(&name)).set("retention.ms", "soon");
    drop(block_on(admin.alter_configs([&bad], &options())).expect("AlterConfigs"));
    let unchanged = describe_topic(&admin, &name);
    assert_eq!(
        unchanged
            .get("retention.ms")
            .and_then(|e| e.value.as_deref()),
        again["retention.ms"].as_deref()
    );
    let me = admin
        .inner()
        .fetch_metadata(None, WAIT)
        .expect("metadata")
        .orig_broker_id();

    info!("the broker describes its settings under Kafka's names");
    let results = block_on(admin.describe_configs([&ResourceSpecifier::Broker(me)], &options()))
        .expect("DescribeConfigs broker");
    let broker = results.into_iter().next().expect("one").expect("described");
    let entries = broker.entry_map();
    for key in [
        "listeners",
        "advertised.listeners",
        "log.dirs",
        "log.segment.bytes",
        "log.retention.ms",
        "log.retention.bytes",
        "auto.create.topics.enable",
        "num.partitions",
        "default.replication.factor",
        "message.max.bytes",
        "socket.request.max.bytes",
        "connections.max.idle.ms",
    ] {
        let e = entries
            .get(key)
            .unwrap_or_else(|| panic!("{key}: {broker:?}"));
        assert!(
            matches!(e.source, ConfigSource::StaticBroker | ConfigSource::Default),
            "{e:?}"
        );
    }
    if target.data_dir().is_some() {
        let listeners = entries["listeners"].value.as_deref().unwrap_or_default();
        assert!(
            listeners.contains(&target.addr.port().to_string()),
            "{listeners}"
        );
        assert_eq!(entries["listeners"].source, ConfigSource::StaticBroker);
    }
}

#[test]
fn max_message_bytes_applies_to_the_running_partition() {
    init_logs();
    let target = Target::any();
    let admin = admin(&target);
    let name = unique_name("admin-limit");
    create(&admin, &name, 1, &[]);
    let p = producer(&target);
    let big = vec![7u8; 5000];
    produce(&p, &name, 0, &big).expect("5000 bytes under the default limit");
    info!("lowering max.message.bytes refuses the same record at once");
    let alter = AlterConfig::new(ResourceSpecifier::Topic(&name)).set("max.message.bytes", "2000");
    let results = block_on(admin.alter_configs([&alter], &options())).expect("AlterConfigs");
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(
        produce(&p, &name, 0, &big),
        Err(RDKafkaErrorCode::MessageSizeTooLarge)
    );
    produce(&p, &name, 0, b"small").expect("a small record still goes in");
    info!("reverting to the default lets it in again");
    let revert = AlterConfig::new(ResourceSpecifier::Topic(&name));
    let results = block_on(admin.alter_configs([&revert], &options())).expect("AlterConfigs");
    assert!(results[0].is_ok(), "{results:?}");
    produce(&p, &name, 0, &big).expect("5000 bytes after the revert");
}
