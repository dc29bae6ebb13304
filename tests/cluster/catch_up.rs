//! A follower killed with `kill -9` misses a stream of acks=all writes, restarts, and catches
//! up: afterwards the three replicas of every partition hold identical batches (log index,
//! term, offsets, CRC) up to the high watermark, as `raftka dump-log` lists them.

use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use tracing::info;

use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::{high_watermark, pick_follower, send_all, stop_and_compare};
use crate::harness::{Cluster, leaders};
use crate::{Deliveries, create_topic, producer};

#[test]
fn restarted_follower_catches_up_to_identical_batches() {
    init_logs();
    let mut cluster = Cluster::start(&[1, 2, 3]);
    let topic = unique_name("catch-up");
    let partitions = 3;
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic, partitions);
    let led = leaders(&cluster.bootstrap(&[1]), &topic, WAIT);
    let (follower, others) = pick_follower(&led);
    info!(?led, follower, "kill -9 of a follower of partition 0");
    cluster.node(follower).kill9();

    info!("produce with acks=all while it is down: the two others form the quorum");
    let deliveries = Deliveries::default();
    let producer = producer(&cluster.bootstrap(&others), &deliveries);
    let count = 9_000;
    send_all(
        &producer,
        &topic,
        0..count,
        partitions as usize,
        Some((50, Duration::from_millis(2))),
    );
    producer.flush(Duration::from_secs(90)).expect("flush");
    drop(producer);
    assert!(deliveries.failed().is_empty(), "{:?}", deliveries.failed());
    assert_eq!(deliveries.acked().len(), count);
    let hws: Vec<i64> = (0..partitions)
        .map(|p| high_watermark(&cluster.bootstrap(&others), &topic, p))
        .collect();
    info!(?hws, "high watermarks while the follower is down");
    assert!(hws.iter().sum::<i64>() >= count as i64);
    let behind = cluster.node(follower).dump_log(&topic, 0).next_offset;
    assert!(behind < hws[0], "the follower missed the writes");

    info!("restart it; wait until its replica of every partition reaches the high watermark");
    let restarted = Instant::now();
    cluster.node(follower).spawn();
    cluster.node(follower).wait_ready();
    let deadline = Instant::now() + WAIT;
    loop {
        let caught_up = (0..partitions)
            .all(|p| cluster.node(follower).dump_log(&topic, p).next_offset >= hws[p as usize]);
        if caught_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node {follower} did not catch up within {WAIT:?}:\n{}",
            cluster.node(follower).log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    info!(
        catch_up_ms = restarted.elapsed().as_millis() as u64,
        "restart to caught up (start-up included)"
    );

    info!("stop all three gracefully; their dumps agree batch by batch");
    stop_and_compare(&mut cluster, &topic, &hws);
}
