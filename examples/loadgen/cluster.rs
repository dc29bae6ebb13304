//! The cluster measurements: each subcommand starts its own brokers ([`crate::nodes`]) and
//! removes them at the end.
//!
//! - `cluster-throughput`: the same produce load against a single node (the baseline) and a
//!   three-node cluster (replication factor 3), in the same run; max rate, then a fixed rate
//!   for latency.
//! - `failover`: continuous acks=all produce to every partition while the leader of one
//!   partition is killed (`kill -9`), repeatedly; the time from the kill to the first
//!   acknowledgement of a message created after the kill, on that partition.
//! - `catch-up`: a follower is killed, the others take N MB, the follower restarts; the time
//!   until its replica of every partition reaches the high watermark of before the restart.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use crate::nodes::{NodeOpts, Nodes, metadata_client, wait_partitions};
use crate::{ProduceSpec, ProduceStats, ensure_topic, produce};

/// openraft's log line when a replica wins an election.
const BECOMES_LEADER: &str = "becomes leader";

pub fn create_topic(nodes: &Nodes, topic: &str, partitions: i32, rf: i32) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(ensure_topic(&nodes.bootstrap(), topic, partitions, rf))?;
    // Every partition led, and (for the cluster) every replica in sync.
    let client = metadata_client(&nodes.bootstrap())?;
    wait_partitions(
        &client,
        topic,
        Duration::from_secs(60),
        "leaders and full ISR",
        |parts| {
            parts.len() == partitions as usize
                && parts
                    .iter()
                    .all(|(l, _, isr)| *l >= 1 && isr.len() == rf as usize)
        },
    )?;
    Ok(())
}

fn elections_since(nodes: &Nodes, marks: &[u64]) -> usize {
    nodes
        .nodes
        .iter()
        .zip(marks)
        .map(|(n, m)| nodes.log_lines_since(n.id, *m, BECOMES_LEADER).len())
        .sum()
}

fn marks(nodes: &Nodes) -> Vec<u64> {
    nodes.nodes.iter().map(|n| nodes.log_mark(n.id)).collect()
}

/// `/proc/loadavg`, to label figures taken while something else ran on the machine.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first: Vec<&str> = text.split_whitespace().take(3).collect();
    format!("load average {}", first.join(" "))
}

pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // Nearest rank.
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median, the largest and every sample (rounded) of sorted millisecond samples.
pub fn spread(sorted: &[f64]) -> (f64, f64, Vec<u64>) {
    (
        percentile(sorted, 0.5),
        sorted.last().copied().unwrap_or(f64::NAN),
        sorted.iter().map(|x| x.round() as u64).collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// cluster-throughput

#[derive(Args, Debug)]
pub struct ThroughputArgs {
    #[command(flatten)]
    nodes: NodeOpts,
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Messages of the max-rate run.
    #[arg(long, default_value_t = 300_000)]
    messages: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    #[arg(long, default_value_t = 5)]
    linger_ms: u64,
    /// Rate of the latency runs, msg/s; 0 = half the cluster's max-rate figure of the round.
    #[arg(long, default_value_t = 0)]
    latency_rate: u64,
    /// Length of each latency run.
    #[arg(long, default_value_t = 10)]
    latency_secs: u64,
    /// Repeat the whole comparison (single node and cluster) this many times.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
}

struct Side {
    max: ProduceStats,
    fixed: ProduceStats,
    rate: u64,
    elections: usize,
}

fn run_side(
    args: &ThroughputArgs,
    cluster: bool,
    round: u32,
    rate: Option<u64>,
) -> anyhow::Result<Side> {
    let label = if cluster { "cluster" } else { "single" };
    let nodes = if cluster {
        Nodes::cluster(&args.nodes, &format!("throughput{round}-{label}"))?
    } else {
        Nodes::single(&args.nodes, &format!("throughput{round}-{label}"))?
    };
    let rf = if cluster { 3 } else { 1 };
    let topic = format!("bench-{label}-{round}");
    create_topic(&nodes, &topic, args.partitions, rf)?;
    let marks = marks(&nodes);
    let spec = ProduceSpec {
        messages: args.messages,
        size: args.size,
        acks: "all".into(),
        linger_ms: args.linger_ms,
        rate: 0,
        compression: "none".into(),
        idempotence: false,
        client_settings: Vec::new(),
    };
    let (cpu0, wall0) = (nodes.cpu_seconds(), Instant::now());
    let max = produce(&nodes.bootstrap(), &topic, &spec)?;
    let (cpu, wall) = (nodes.cpu_seconds() - cpu0, wall0.elapsed().as_secs_f64());
    println!(
        "  {label:7} max rate:   {:>7.0} msg/s {:>6.1} MB/s  latency {} (queueing: all enqueued at once); brokers used {cpu:.1} CPU s in {wall:.1} s ({:.2} cores)",
        max.msgs_per_s,
        max.mb_per_s,
        max.latency(),
        cpu / wall
    );
    let rate = rate
        .or((args.latency_rate > 0).then_some(args.latency_rate))
        .unwrap_or((max.msgs_per_s / 2.0) as u64)
        .max(1);
    let fixed_spec = ProduceSpec {
        messages: rate * args.latency_secs,
        rate,
        ..spec
    };
    let fixed = produce(&nodes.bootstrap(), &topic, &fixed_spec)?;
    println!(
        "  {label:7} at {rate} msg/s: {:>7.0} msg/s {:>6.1} MB/s  latency {}",
        fixed.msgs_per_s,
        fixed.mb_per_s,
        fixed.latency()
    );
    let elections = elections_since(&nodes, &marks);
    if cluster {
        // openraft reports replication RPCs the transport gave up on (no answer within 3/4 of
        // the heartbeat interval); each one restarts that follower's replication stream.
        let timeouts: usize = nodes
            .nodes
            .iter()
            .zip(&marks)
            .map(|(n, m)| {
                nodes
                    .log_lines_since(n.id, *m, "ReplicationCore recv RPCError: timeout")
                    .len()
            })
            .sum();
        println!(
            "  cluster leader elections during the load (\"{BECOMES_LEADER}\" in node logs): {elections}; replication RPC timeouts: {timeouts}"
        );
    }
    Ok(Side {
        max,
        fixed,
        rate,
        elections,
    })
}

pub fn throughput(args: ThroughputArgs) -> anyhow::Result<()> {
    println!(
        "cluster-throughput: {} partitions, {} B messages, acks=all, linger {} ms, {} messages at max rate; cluster: 3 nodes, RF 3, {}",
        args.partitions,
        args.size,
        args.linger_ms,
        args.messages,
        args.nodes.describe()
    );
    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        println!("round {round}: {}", loadavg());
        let cluster = run_side(&args, true, round, None)?;
        let single = run_side(&args, false, round, Some(cluster.rate))?;
        println!(
            "  ratio cluster/single: {:.0}% of msg/s at max rate",
            100.0 * cluster.max.msgs_per_s / single.max.msgs_per_s
        );
        rows.push((cluster, single));
    }
    println!("summary (msg/s at max rate; latency at the fixed rate):");
    for (i, (c, s)) in rows.iter().enumerate() {
        println!(
            "  round {}: cluster {:.0} msg/s ({:.1} MB/s), single {:.0} msg/s ({:.1} MB/s), ratio {:.0}%; at {} msg/s cluster p50/p99/p999 {:.2}/{:.2}/{:.2} ms, single {:.2}/{:.2}/{:.2} ms; elections under load {}",
            i + 1,
            c.max.msgs_per_s,
            c.max.mb_per_s,
            s.max.msgs_per_s,
            s.max.mb_per_s,
            100.0 * c.max.msgs_per_s / s.max.msgs_per_s,
            c.rate,
            c.fixed.p50_ms,
            c.fixed.p99_ms,
            c.fixed.p999_ms,
            s.fixed.p50_ms,
            s.fixed.p99_ms,
            s.fixed.p999_ms,
            c.elections,
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// failover

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Seconds since the epoch of a node log line's leading `2026-11-25T09:32:48.964215Z`.
fn log_time(line: &str) -> Option<f64> {
    let stamp = line.split(' ').next()?.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (h, min, sec) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + min * 60) as f64 + sec)
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ClientProfile {
    /// librdkafka defaults, only `acks=all` set.
    Default,
    /// Short metadata-refresh, retry and reconnect back-offs (see `client_settings`).
    Tuned,
}

fn client_settings(profile: ClientProfile) -> Vec<(&'static str, &'static str)> {
    let mut settings = vec![("acks", "all")];
    if let ClientProfile::Tuned = profile {
        settings.extend([
            ("topic.metadata.refresh.fast.interval.ms", "50"),
            ("retry.backoff.ms", "50"),
            ("retry.backoff.max.ms", "200"),
            ("reconnect.backoff.ms", "50"),
            ("reconnect.backoff.max.ms", "500"),
            ("message.timeout.ms", "60000"),
            ("linger.ms", "5"),
        ]);
    }
    settings
}

#[derive(Args, Debug)]
pub struct FailoverArgs {
    #[command(flatten)]
    nodes: NodeOpts,
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Leader kills (samples).
    #[arg(long, default_value_t = 7)]
    kills: u32,
    /// Produce rate over all partitions, msg/s, during the whole run.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Producer settings.
    #[arg(long, value_enum, default_value_t = ClientProfile::Tuned)]
    client: ClientProfile,
    /// Extra producer settings on top of the profile, `KEY=VALUE` (repeatable).
    #[arg(long = "client-set")]
    client_set: Vec<String>,
    /// `replica.lag.time.max.ms` of the nodes: how soon Metadata's ISR shows a dead follower
    /// gone, and so whether a restarted node is back in sync.
    #[arg(long, default_value_t = 2000)]
    replica_lag_ms: u64,
    /// Give up on one sample after this long.
    #[arg(long, default_value_t = 30)]
    sample_timeout_secs: u64,
}

/// One acknowledgement: when its message was handed to the client, and when the ack came.
type Ack = (Instant, Instant);

struct FailoverContext {
    acks: Mutex<Vec<Vec<Ack>>>,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for FailoverContext {}

impl ProducerContext for FailoverContext {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, created: Box<Instant>) {
        let now = Instant::now();
        match result {
            Ok(m) => {
                let mut acks = self.acks.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(list) = acks.get_mut(m.partition() as usize) {
                    list.push((*created, now));
                }
            }
            Err((e, m)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                *self
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) =
                    Some(format!("partition {}: {e}", m.partition()));
            }
        }
    }
}

impl FailoverContext {
    /// The first ack on `partition` that arrived after `at`: (any message, a message created
    /// after `at`), each as the time since `at`.
    fn first_after(&self, partition: i32, at: Instant) -> (Option<Duration>, Option<Duration>) {
        let acks = self.acks.lock().unwrap_or_else(PoisonError::into_inner);
        let list = &acks[partition as usize];
        let any = list
            .iter()
            .filter(|(_, acked)| *acked > at)
            .map(|(_, acked)| *acked - at)
            .min();
        let strict = list
            .iter()
            .filter(|(created, _)| *created > at)
            .map(|(_, acked)| *acked - at)
            .min();
        (any, strict)
    }

    fn clear(&self) {
        let mut acks = self.acks.lock().unwrap_or_else(PoisonError::into_inner);
        for list in acks.iter_mut() {
            list.clear();
        }
    }
}

struct Sample {
    partition: i32,
    first_election: Option<Duration>,
    leader: i32,
    new_leader: i32,
    metadata: Option<Duration>,
    any: Option<Duration>,
    strict: Option<Duration>,
    others_max: Option<Duration>,
    elections: usize,
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{} ms", d.as_millis()))
}

pub fn failover(args: FailoverArgs) -> anyhow::Result<()> {
    let mut opts = args.nodes.clone();
    opts.settings.push(format!(
        "\"replica.lag.time.max.ms\" = {}",
        args.replica_lag_ms
    ));
    println!(
        "failover: 3 nodes, RF 3, {} partitions, {} B messages, acks=all at {} msg/s over all partitions, {} kills; {}",
        args.partitions,
        args.size,
        args.rate,
        args.kills,
        opts.describe()
    );
    let mut settings: Vec<(String, String)> = client_settings(args.client)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for kv in &args.client_set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--client-set {kv}: expected KEY=VALUE"))?;
        settings.retain(|(key, _)| key != k);
        settings.push((k.to_string(), v.to_string()));
    }
    println!("client ({:?}): {settings:?}", args.client);
    let mut nodes = Nodes::cluster(&opts, "failover")?;
    let topic = "failover";
    create_topic(&nodes, topic, args.partitions, 3)?;

    let context = FailoverContext {
        acks: Mutex::new(vec![Vec::new(); args.partitions as usize]),
        failed: AtomicU64::new(0),
        last_error: Mutex::new(None),
    };
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", nodes.bootstrap());
    for (k, v) in &settings {
        config.set(k, v);
    }
    let producer: Arc<ThreadedProducer<FailoverContext>> =
        Arc::new(config.create_with_context(context)?);
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let producer = Arc::clone(&producer);
        let stop = Arc::clone(&stop);
        let (rate, size, partitions) = (args.rate.max(1), args.size, args.partitions);
        std::thread::spawn(move || -> anyhow::Result<()> {
            let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let start = Instant::now();
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                let partition = (i % partitions as u64) as i32;
                let mut record: BaseRecord<'_, (), [u8], Box<Instant>> =
                    BaseRecord::with_opaque_to("failover", Box::new(Instant::now()))
                        .payload(&value[..])
                        .partition(partition);
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            std::thread::sleep(Duration::from_millis(1));
                            record = back;
                        }
                        Err((e, _)) => anyhow::bail!("send failed: {e}"),
                    }
                }
                i += 1;
            }
            Ok(())
        })
    };
    std::thread::sleep(Duration::from_secs(3));

    let timeout = Duration::from_secs(args.sample_timeout_secs);
    let mut samples = Vec::new();
    for k in 0..args.kills {
        let partition = (k as i32 * 5) % args.partitions;
        let client = metadata_client(&nodes.bootstrap())?;
        let parts = wait_partitions(&client, topic, Duration::from_secs(30), "leaders", |p| {
            p.iter().all(|(l, _, _)| *l >= 1)
        })?;
        drop(client);
        let leader = parts[partition as usize].0;
        let led: Vec<i32> = (0..args.partitions)
            .filter(|p| parts[*p as usize].0 == leader)
            .collect();
        let marks = marks(&nodes);
        let failed_before = producer.context().failed.load(Ordering::Relaxed);
        producer.context().clear();

        let load = loadavg();
        let killed_at = nodes.kill9(leader as u64)?;
        let killed_wall = unix_now();
        let survivors = metadata_client(&nodes.bootstrap())?;
        let mut metadata_at = None;
        let mut new_leader = -1;
        let (mut any, mut strict);
        loop {
            if metadata_at.is_none()
                && let Ok(m) = survivors.fetch_metadata(Some(topic), Duration::from_millis(500))
            {
                let parts = crate::nodes::partitions(&m, topic);
                if let Some((l, _, _)) = parts.get(partition as usize)
                    && *l >= 1
                    && *l != leader
                {
                    metadata_at = Some(killed_at.elapsed());
                    new_leader = *l;
                }
            }
            (any, strict) = producer.context().first_after(partition, killed_at);
            if strict.is_some() && metadata_at.is_some() {
                break;
            }
            anyhow::ensure!(
                killed_at.elapsed() < timeout,
                "partition {partition}: no acknowledgement within {timeout:?} of the kill (last error: {:?})",
                producer
                    .context()
                    .last_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // The other partitions the killed node led: until each has its first new ack.
        let mut others_max = None;
        for p in led.iter().filter(|p| **p != partition) {
            loop {
                if let (_, Some(d)) = producer.context().first_after(*p, killed_at) {
                    others_max = others_max.max(Some(d));
                    break;
                }
                anyhow::ensure!(
                    killed_at.elapsed() < timeout,
                    "partition {p}: no acknowledgement within {timeout:?} of the kill"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        drop(survivors);
        let failed = producer.context().failed.load(Ordering::Relaxed) - failed_before;

        // Restart; wait until every replica is in sync and leadership is back on the
        // preferred replicas, so the next sample starts from the same state.
        nodes.spawn(leader as u64)?;
        let restarted = Instant::now();
        nodes.wait_ready(leader as u64)?;
        let ready = restarted.elapsed();
        let client = metadata_client(&nodes.bootstrap())?;
        let settled = wait_partitions(
            &client,
            topic,
            Duration::from_secs(60),
            "full ISR and preferred leaders",
            |p| {
                p.iter()
                    .all(|(l, r, isr)| isr.len() == 3 && r.first() == Some(l))
            },
        );
        let in_sync = restarted.elapsed();
        let elections = elections_since(&nodes, &marks);
        // The first election a survivor started after the kill, from its log.
        let first_election = nodes
            .nodes
            .iter()
            .zip(&marks)
            .filter(|(n, _)| n.id != leader as u64)
            .flat_map(|(n, m)| nodes.log_lines_since(n.id, *m, "election timeout expired"))
            .filter_map(|line| log_time(&line))
            .filter(|t| *t >= killed_wall)
            .min_by(f64::total_cmp)
            .map(|t| Duration::from_secs_f64(t - killed_wall));
        let sample = Sample {
            partition,
            first_election,
            leader,
            new_leader,
            metadata: metadata_at,
            any,
            strict,
            others_max,
            elections,
        };
        println!(
            "kill {} (unix {killed_wall:.3}): partition {} leader {} -> {}: first election started after {} (node logs), new leader in Metadata after {}, first ack after {} (any message), {} (message created after the kill); other partitions it led (max): {}; failed deliveries {failed}; elections {}; restarted node answering after {} ms, in sync and preferred leaders back after {} ms{}; {load}",
            k + 1,
            sample.partition,
            sample.leader,
            sample.new_leader,
            ms(sample.first_election),
            ms(sample.metadata),
            ms(sample.any),
            ms(sample.strict),
            ms(sample.others_max),
            sample.elections,
            ready.as_millis(),
            in_sync.as_millis(),
            if settled.is_err() {
                " (NOT settled)"
            } else {
                ""
            },
        );
        samples.push(sample);
        std::thread::sleep(Duration::from_secs(1));
    }
    stop.store(true, Ordering::Relaxed);
    sender
        .join()
        .map_err(|_| anyhow::anyhow!("sender panicked"))??;
    producer.flush(Duration::from_secs(60))?;

    let sorted = |f: &dyn Fn(&Sample) -> Option<Duration>| {
        let mut v: Vec<f64> = samples
            .iter()
            .filter_map(f)
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    for (what, v) in [
        (
            "kill -> first ack of a message created after the kill",
            sorted(&|s| s.strict),
        ),
        (
            "kill -> first election started",
            sorted(&|s| s.first_election),
        ),
        ("kill -> new leader in Metadata", sorted(&|s| s.metadata)),
        ("kill -> first ack of any message", sorted(&|s| s.any)),
        (
            "kill -> first new ack on every partition the node led",
            sorted(&|s| s.strict.max(s.others_max)),
        ),
    ] {
        let (p50, max, all) = spread(&v);
        println!("{what}: p50 {p50:.0} ms, max {max:.0} ms, samples {all:?}");
    }
    println!(
        "failed deliveries over the run: {}",
        producer.context().failed.load(Ordering::Relaxed)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// catch-up

#[derive(Args, Debug)]
pub struct CatchUpArgs {
    #[command(flatten)]
    nodes: NodeOpts,
    #[arg(long, default_value_t = 12)]
    partitions: i32,
    /// Data produced while the follower is down, MB of message values.
    #[arg(long, default_value_t = 300)]
    mb: u64,
    #[arg(long, default_value_t = 1024)]
    size: usize,
    /// Repeat (kill, produce, restart, catch up) this many times.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
}

pub fn catch_up(args: CatchUpArgs) -> anyhow::Result<()> {
    let mut opts = args.nodes.clone();
    opts.settings
        .push("\"replica.lag.time.max.ms\" = 2000".to_string());
    println!(
        "catch-up: 3 nodes, RF 3, {} partitions, {} MB of {} B messages while a follower is down; {}",
        args.partitions,
        args.mb,
        args.size,
        opts.describe()
    );
    let mut nodes = Nodes::cluster(&opts, "catch-up")?;
    let topic = "catch-up";
    create_topic(&nodes, topic, args.partitions, 3)?;
    for round in 1..=args.rounds {
        // Every replica in sync and the preferred replicas leading (a node restarted in the
        // previous round takes its partitions back), so no hand-over overlaps the round.
        let client = metadata_client(&nodes.bootstrap())?;
        let parts = wait_partitions(
            &client,
            topic,
            Duration::from_secs(60),
            "full ISR and preferred leaders",
            |p| {
                p.iter()
                    .all(|(l, r, isr)| isr.len() == 3 && r.first() == Some(l))
            },
        )?;
        drop(client);
        // The node that leads the fewest partitions (ties: the highest id).
        let follower = (1..=3u64)
            .rev()
            .min_by_key(|id| parts.iter().filter(|(l, _, _)| *l as u64 == *id).count())
            .unwrap_or(3);
        nodes.kill9(follower)?;
        let survivors = nodes.bootstrap();
        let client = metadata_client(&survivors)?;
        wait_partitions(
            &client,
            topic,
            Duration::from_secs(60),
            "leaders on the two others",
            |p| p.iter().all(|(l, _, _)| *l >= 1 && *l as u64 != follower),
        )?;
        let messages = args.mb * 1_000_000 / args.size as u64;
        let spec = ProduceSpec {
            messages,
            size: args.size,
            acks: "all".into(),
            linger_ms: 5,
            rate: 0,
            compression: "none".into(),
            idempotence: false,
            client_settings: Vec::new(),
        };
        let two = produce(&survivors, topic, &spec)?;
        println!(
            "round {round}: node {follower} down; the two others took {messages} messages: {:.0} msg/s, {:.1} MB/s",
            two.msgs_per_s, two.mb_per_s
        );
        let mut hws = Vec::new();
        let mut missing = 0i64;
        for p in 0..args.partitions {
            let deadline = Instant::now() + Duration::from_secs(30);
            let hw = loop {
                match client.fetch_watermarks(topic, p, Duration::from_secs(5)) {
                    Ok((_, hw)) => break hw,
                    // A stale leader in the client's cache: it refreshes and tries again.
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("watermarks of partition {p}: {e}; retrying");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            let have = nodes.next_offset(follower, topic, p)?;
            missing += (hw - have).max(0);
            hws.push(hw);
        }
        drop(client);
        let missing_mb = missing as f64 * args.size as f64 / 1e6;

        let restarted = Instant::now();
        nodes.spawn(follower)?;
        nodes.wait_ready(follower)?;
        let ready = restarted.elapsed();
        let mut pending: Vec<i32> = (0..args.partitions).collect();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for p in pending {
                if nodes.next_offset(follower, topic, p)? < hws[p as usize] {
                    still.push(p);
                }
            }
            pending = still;
            anyhow::ensure!(
                restarted.elapsed() < Duration::from_secs(300),
                "node {follower} did not catch up within 300 s"
            );
            if !pending.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let done = restarted.elapsed();
        let since_ready = done - ready;
        println!(
            "round {round} ({}): node {follower} missed {missing} messages ({missing_mb:.1} MB of values); restart -> answering {} ms, -> every replica at the high watermark {} ms: {:.1} MB/s from the restart, {:.1} MB/s from answering",
            loadavg(),
            ready.as_millis(),
            done.as_millis(),
            missing_mb / done.as_secs_f64(),
            missing_mb / since_ready.as_secs_f64().max(1e-3),
        );
        // Back in the ISR everywhere before the next round.
        let client = metadata_client(&nodes.bootstrap())?;
        wait_partitions(&client, topic, Duration::from_secs(60), "full ISR", |p| {
            p.iter().all(|(_, _, isr)| isr.len() == 3)
        })?;
        println!(
            "round {round}: full ISR in Metadata {} ms after the restart",
            restarted.elapsed().as_millis()
        );
    }
    Ok(())
}
