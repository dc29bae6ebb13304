//! A follower frozen with SIGSTOP for 15 s while acks=all produce goes on, then continued: the
//! leader and the other follower keep acknowledging (a quorum without it), every acknowledged
//! message is read back exactly once and in order per partition, and the frozen replica
//! converges to the same batches as the others.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rdkafka::producer::Producer;
use tracing::info;

use crate::common::{WAIT, init_logs, unique_name};
use crate::faults::{high_watermark, pick_follower, send_all, stop_and_compare};
use crate::harness::{Cluster, leaders};
use crate::{Deliveries, create_topic, producer_with, read_partitions};

const PAUSE: Duration = Duration::from_secs(15);

/// Resumes the node when dropped, so a failing test never leaves a stopped process behind
/// (the node's own `Drop` kills it afterwards either way).
struct Paused<'a>(&'a crate::harness::Node);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        self.0.resume();
    }
}

#[test]
fn follower_stopped_for_15s_gives_no_stale_acknowledgements() {
    init_logs();
    let mut cluster = Cluster::start(&[1, 2, 3]);
    let topic = unique_name("paused");
    let partitions = 2;
    create_topic(&cluster.bootstrap(&[1, 2, 3]), &topic, partitions);
    let led = leaders(&cluster.bootstrap(&[1]), &topic, WAIT);
    let (follower, others) = pick_follower(&led);

    // One request in flight per connection: retries cannot reorder a partition.
    let deliveries = Deliveries::default();
    let producer = producer_with(
        &cluster.bootstrap(&others),
        &deliveries,
        &[("max.in.flight.requests.per.connection", "1")],
    );
    let before = 1_000;
    send_all(&producer, &topic, 0..before, partitions as usize, None);
    producer.flush(WAIT).expect("flush");

    info!(
        ?led,
        follower, "SIGSTOP of a follower; produce on for {PAUSE:?}"
    );
    let paused_at = Instant::now();
    let paused = Paused(cluster.node(follower));
    paused.0.pause();
    let mut next = before;
    while paused_at.elapsed() < PAUSE {
        send_all(
            &producer,
            &topic,
            next..next + 20,
            partitions as usize,
            None,
        );
        next += 20;
        std::thread::sleep(Duration::from_millis(100));
    }
    let acked_while_paused = deliveries
        .acked_at
        .lock()
        .map(|a| a.iter().filter(|(_, at)| *at > paused_at).count())
        .unwrap_or_default();
    info!(
        acked_while_paused,
        sent = next - before,
        "SIGCONT after {PAUSE:?}"
    );
    drop(paused);
    assert!(
        acked_while_paused > 0,
        "the leader and the other follower are a quorum: produce goes on"
    );

    send_all(
        &producer,
        &topic,
        next..next + 1_000,
        partitions as usize,
        None,
    );
    next += 1_000;
    producer.flush(Duration::from_secs(90)).expect("flush");
    drop(producer);
    assert!(deliveries.failed().is_empty(), "{:?}", deliveries.failed());
    let acked: HashSet<usize> = deliveries.acked().into_iter().collect();
    assert_eq!(acked.len(), next, "every message acknowledged");

    info!(
        "every acknowledged message is read once, in order per partition, through the resumed node"
    );
    let per_partition = read_partitions(
        &cluster.bootstrap(&[follower]),
        &topic,
        partitions,
        &acked,
        Duration::from_secs(60),
    );
    for (partition, ids) in &per_partition {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "partition {partition}: out of order or read twice"
        );
        assert!(
            ids.iter()
                .all(|id| id % partitions as usize == *partition as usize)
        );
    }
    let read: HashSet<usize> = per_partition.values().flatten().copied().collect();
    assert_eq!(read, acked, "read back exactly the acknowledged messages");

    let hws: Vec<i64> = (0..partitions)
        .map(|p| high_watermark(&cluster.bootstrap(&others), &topic, p))
        .collect();
    let deadline = Instant::now() + WAIT;
    while !(0..partitions)
        .all(|p| cluster.node(follower).dump_log(&topic, p).next_offset >= hws[p as usize])
    {
        assert!(
            Instant::now() < deadline,
            "node {follower} did not converge"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    info!(?hws, "the resumed replica reached the high watermarks");
    stop_and_compare(&mut cluster, &topic, &hws);
}
