//! Shared pieces of the fault tests (`catch_up.rs`, `isolation.rs`, `pause.rs`): replica log
//! dumps through `raftka dump-log`, their comparison up to the high watermark, and a produce
//! loop that tolerates a full queue while a partition has no leader.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;
use rdkafka::producer::{BaseRecord, ThreadedProducer};

use crate::Deliveries;
use crate::common::WAIT;
use crate::common::process::raftka_command;
use crate::harness::{Cluster, consumer};

/// One record batch of a replica's log, as `dump-log` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub index: u64,
    pub term: u64,
    pub base_offset: i64,
    pub count: i64,
    pub crc: String,
}

/// The parts of a `dump-log` the tests compare.
#[derive(Debug, Clone)]
pub struct LogDump {
    pub log_start_offset: i64,
    pub next_offset: i64,
    pub last_term: u64,
    pub batches: Vec<Batch>,
}

impl LogDump {
    /// The batches holding offsets below `high_watermark`; panics unless they cover
    /// `[log start, high_watermark)` without a gap.
    pub fn up_to(&self, high_watermark: i64) -> Vec<Batch> {
        let kept: Vec<Batch> = self
            .batches
            .iter()
            .filter(|b| b.base_offset < high_watermark)
            .cloned()
            .collect();
        let mut next = self.log_start_offset;
        for b in &kept {
            assert_eq!(b.base_offset, next, "gap before {b:?}");
            next += b.count;
        }
        assert_eq!(next, high_watermark, "the batches end at {next}");
        kept
    }
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
}

fn number<T: std::str::FromStr>(line: &str, key: &str) -> T {
    field(line, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// Runs `raftka dump-log` on a partition directory and parses its text.
pub fn dump_log(dir: &Path) -> LogDump {
    let out = raftka_command()
        .arg("dump-log")
        .arg(dir)
        .output()
        .expect("run raftka dump-log");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dump-log {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    let header = lines.next().expect("a header line");
    let mut dump = LogDump {
        log_start_offset: number(header, "log_start_offset"),
        next_offset: number(header, "next_offset"),
        last_term: 0,
        batches: Vec::new(),
    };
    for line in lines.filter(|l| l.starts_with("entry ")) {
        dump.last_term = number(line, "term");
        if field(line, "kind") != Some("records") {
            continue;
        }
        assert_eq!(field(line, "crc_ok"), Some("true"), "{line}");
        dump.batches.push(Batch {
            index: number(line, "index"),
            term: number(line, "term"),
            base_offset: number(line, "base_offset"),
            count: number(line, "count"),
            crc: field(line, "crc").expect("crc").to_string(),
        });
    }
    dump
}

/// The high watermark of a partition, as ListOffsets through `bootstrap` reports it.
pub fn high_watermark(bootstrap: &str, topic: &str, partition: i32) -> i64 {
    let client = consumer(bootstrap);
    let deadline = Instant::now() + WAIT;
    loop {
        match client.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
            Ok((_, high)) => return high,
            Err(e) => assert!(
                Instant::now() < deadline,
                "watermarks of {topic}-{partition}: {e}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops every node with SIGTERM, then checks that the three replicas of each partition hold
/// the same batches (log index, term, offsets, CRC) up to its high watermark `hws[p]`.
pub fn stop_and_compare(cluster: &mut Cluster, topic: &str, hws: &[i64]) {
    for id in 1..=3 {
        cluster.node(id).stop();
    }
    for (partition, &hw) in hws.iter().enumerate() {
        let dumps: Vec<Vec<Batch>> = (1..=3)
            .map(|id| cluster.node(id).dump_log(topic, partition as i32).up_to(hw))
            .collect();
        tracing::info!(
            partition,
            high_watermark = hw,
            batches = dumps[0].len(),
            "replica dumps"
        );
        for (i, dump) in dumps.iter().enumerate().skip(1) {
            assert!(
                *dump == dumps[0],
                "partition {partition}: node {} differs from node 1 up to {hw}",
                i + 1
            );
        }
    }
}

/// Sends messages `ids` with acks=all, to partition `id % partitions`; waits for queue room.
pub fn send_all(
    producer: &ThreadedProducer<Deliveries>,
    topic: &str,
    ids: std::ops::Range<usize>,
    partitions: usize,
    pause_every: Option<(usize, Duration)>,
) {
    for id in ids {
        let body = crate::payload(id);
        let deadline = Instant::now() + WAIT;
        loop {
            let record: BaseRecord<'_, (), String, Box<usize>> =
                BaseRecord::with_opaque_to(topic, Box::new(id))
                    .payload(&body)
                    .partition((id % partitions) as i32);
            match producer.send(record) {
                Ok(()) => break,
                Err(_) => {
                    assert!(Instant::now() < deadline, "producer queue stayed full");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
        if let Some((every, pause)) = pause_every
            && id % every == 0
        {
            std::thread::sleep(pause);
        }
    }
}

/// A follower of partition 0 given each partition's leader `led`, preferably one that leads
/// nothing (so no failover muddles what it misses), and the two other nodes.
pub fn pick_follower(led: &[i32]) -> (u64, Vec<u64>) {
    let follower = (1..=3u64)
        .filter(|id| *id as i32 != led[0])
        .min_by_key(|id| led.iter().filter(|l| **l == *id as i32).count())
        .expect("a follower");
    let others = (1..=3).filter(|id| *id != follower).collect();
    (follower, others)
}
