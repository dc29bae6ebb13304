//! Topic admin with clients bootstrapped at a broker that is not the controller: auto-creation
//! from a Metadata request there (that broker forwards the change to the controller itself),
//! then CreatePartitions and DeleteTopics (librdkafka sends those to the controller Metadata
//! names); every node starts and removes its replicas as the metadata says.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, Producer};

use tracing::info;

use crate::common::{WAIT, block_on, init_logs, unique_name};
use crate::harness::{Cluster, client_config, leaders, metadata_until};

/// The controller as `kcat -L` reports it (rdkafka's metadata type does not expose it).
fn controller(cluster: &Cluster) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        let out = std::process::Command::new("kcat")
            .args(["-L", "-m", "5", "-b", &cluster.bootstrap(&[1])])
            .output()
            .expect("run kcat (the suite needs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        let found = text
            .lines()
            .find(|l| l.contains("(controller)"))
            .and_then(|l| {
                l.trim()
                    .strip_prefix("broker ")?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            });
        if let Some(id) = found {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "no controller in kcat -L: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn admin_through_a_broker_that_is_not_the_controller() {
    init_logs();
    let cluster = Cluster::start(&[2, 3, 1]);
    let controller = controller(&cluster);
    let other = (1..=3).find(|id| *id != controller).unwrap_or(3);
    info!(
        controller,
        other, "admin requests go to a broker that is not the controller"
    );

    info!("auto-create a topic through node {other}: a Metadata request names it");
    let topic = unique_name("auto");
    let producer: BaseProducer = client_config(&cluster.bootstrap(&[other]), &[])
        .create()
        .expect("producer");
    let deadline = Instant::now() + WAIT;
    while producer
        .client()
        .fetch_metadata(Some(&topic), Duration::from_secs(5))
        .map(|m| m.topics().iter().all(|t| t.error().is_some()))
        .unwrap_or(true)
    {
        assert!(Instant::now() < deadline, "{topic} not auto-created");
        std::thread::sleep(Duration::from_millis(100));
    }
    for id in 1..=3 {
        let led = leaders(&cluster.bootstrap(&[id]), &topic, WAIT);
        assert_eq!(led.len(), 1, "node {id}");
    }

    info!("grow it to three partitions through node {other}");
    let admin: AdminClient<DefaultClientContext> = client_config(&cluster.bootstrap(&[other]), &[])
        .create()
        .expect("admin");
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    for result in block_on(
        WAIT,
        admin.create_partitions([&NewPartitions::new(&topic, 3)], &options),
    )
    .expect("CreatePartitions")
    {
        result.unwrap_or_else(|(name, e)| panic!("growing {name}: {e}"));
    }
    for id in 1..=3 {
        assert_eq!(leaders(&cluster.bootstrap(&[id]), &topic, WAIT).len(), 3);
    }

    // A live producer that knows the topic refreshes its metadata with auto-creation allowed
    // (librdkafka's producer default), which would bring the topic straight back, as on Kafka.
    drop(producer);
    info!("delete it through node {other}: gone from every node's metadata and disk");
    for result in block_on(WAIT, admin.delete_topics(&[&topic], &options)).expect("DeleteTopics") {
        result.unwrap_or_else(|(name, e)| panic!("deleting {name}: {e}"));
    }
    for node in &cluster.nodes {
        let deadline = Instant::now() + WAIT;
        loop {
            let left: Vec<String> = std::fs::read_dir(node.data_dir())
                .map(|dirs| {
                    dirs.filter_map(Result::ok)
                        .map(|d| d.file_name().to_string_lossy().into_owned())
                        .filter(|name| name.starts_with(&topic))
                        .collect()
                })
                .unwrap_or_default();
            if left.is_empty() {
                break;
            }
            assert!(Instant::now() < deadline, "node {}: {left:?} left", node.id);
            std::thread::sleep(Duration::from_millis(100));
        }
        metadata_until(
            &cluster.bootstrap(&[node.id]),
            None,
            WAIT,
            "topic gone",
            |m| m.topics().iter().all(|t| t.name() != topic),
        );
    }
}
