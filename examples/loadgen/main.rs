//! Load generator on a real Kafka client (librdkafka through rdkafka): produce or consume
//! against any bootstrap address, and a raw loopback TCP baseline measured the same way.
//! Prints messages/s, MB/s and, for produce, p50/p99/p999 of the send-to-acknowledgement time.
//!
//! ```text
//! cargo run --release --example loadgen -- produce --topic bench --messages 200000 --size 1024 --acks all
//! cargo run --release --example loadgen -- consume --topic bench --messages 200000
//! cargo run --release --example loadgen -- tcp-baseline --bytes 2147483648
//! ```
//!
//! The cluster subcommands start their own brokers (`raftka serve --config`, from the `raftka`
//! binary next to this example's executable or `--raftka PATH`) and remove them afterwards:
//!
//! ```text
//! cargo build --release --example loadgen --bin raftka
//! target/release/examples/loadgen cluster-throughput   # single node vs 3 nodes, same run
//! target/release/examples/loadgen failover --kills 7   # kill -9 of a leader, repeatedly
//! target/release/examples/loadgen catch-up --mb 300    # a restarted follower catches up
//! target/release/examples/loadgen commit-bench         # sync OffsetCommit vs acks=all produce
//! target/release/examples/loadgen rebalance-bench      # a group forms, gains and loses a member
//! target/release/examples/loadgen idle --partitions 1000  # what idle partitions cost
//! ```

mod cluster;
mod groups;
mod idle;
mod nodes;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

#[derive(Parser)]
#[command(
    about = "Kafka load generator: produce, consume, a loopback TCP baseline, and cluster measurements"
)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Send messages and time each acknowledgement.
    Produce {
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        #[arg(long, default_value = "loadgen")]
        topic: String,
        /// Partitions of the topic, created if it does not exist.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = 1)]
        replication_factor: i32,
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        /// Value size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
        /// acks: 0, 1 or all.
        #[arg(long, default_value = "all")]
        acks: String,
        #[arg(long, default_value_t = 5)]
        linger_ms: u64,
        /// Target messages per second; 0 sends as fast as the client allows.
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// librdkafka compression.codec (none, gzip, snappy, lz4, zstd).
        #[arg(long, default_value = "none")]
        compression: String,
        /// The idempotent producer (`enable.idempotence`): off, on, or both, which alternates
        /// off and on runs (`--rounds` of each) against the same broker and compares them.
        #[arg(long, value_enum, default_value_t = Idempotence::Off)]
        idempotence: Idempotence,
        /// Runs of each kind with `--idempotence both`.
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Any librdkafka producer setting, `KEY=VALUE`; repeatable.
        #[arg(long = "client-set")]
        client_set: Vec<String>,
    },
    /// Read messages from the beginning of every partition.
    Consume {
        #[arg(long, default_value = "127.0.0.1:9092")]
        bootstrap: String,
        #[arg(long, default_value = "loadgen")]
        topic: String,
        #[arg(long, default_value_t = 100_000)]
        messages: u64,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout_secs: u64,
    },
    /// Raw loopback TCP throughput: what the network path itself allows.
    TcpBaseline {
        #[arg(long, default_value_t = 1 << 31)]
        bytes: u64,
    },
    /// Starts a single node, then a 3-node cluster, and runs the same produce load on each.
    ClusterThroughput(cluster::ThroughputArgs),
    /// Starts a 3-node cluster and kills partition leaders under continuous produce.
    Failover(cluster::FailoverArgs),
    /// Starts a 3-node cluster; times a restarted follower catching up.
    CatchUp(cluster::CatchUpArgs),
    /// Starts a 3-node cluster; synchronous offset commits against acks=all produce.
    CommitBench(groups::CommitArgs),
    /// Starts brokers; times a subscribed group forming, gaining and losing a member.
    RebalanceBench(groups::RebalanceArgs),
    /// Starts brokers with many idle partitions: idle CPU, threads, RSS, time to all led.
    Idle(idle::IdleArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Idempotence {
    Off,
    On,
    Both,
}

fn main() -> anyhow::Result<()> {
    // RUST_LOG=info (with e.g. `--client-set debug=metadata,broker`) shows librdkafka's log.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    match Args::parse().mode {
        Mode::Produce {
            bootstrap,
            topic,
            partitions,
            replication_factor,
            messages,
            size,
            acks,
            linger_ms,
            rate,
            compression,
            idempotence,
            rounds,
            client_set,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            runtime.block_on(ensure_topic(
                &bootstrap,
                &topic,
                partitions,
                replication_factor,
            ))?;
            let spec = ProduceSpec {
                messages,
                size,
                acks,
                linger_ms,
                rate,
                compression,
                idempotence: idempotence == Idempotence::On,
                client_settings: client_set
                    .iter()
                    .map(|kv| {
                        kv.split_once('=')
                            .map(|(k, v)| (k.to_string(), v.to_string()))
                            .ok_or_else(|| anyhow::anyhow!("--client-set {kv}: expected KEY=VALUE"))
                    })
                    .collect::<anyhow::Result<_>>()?,
            };
            if idempotence == Idempotence::Both {
                return compare_idempotence(&bootstrap, &topic, spec, rounds);
            }
            produce(&bootstrap, &topic, &spec)?.print(&spec);
            Ok(())
        }
        Mode::Consume {
            bootstrap,
            topic,
            messages,
            timeout_secs,
        } => consume(
            &bootstrap,
            &topic,
            messages,
            Duration::from_secs(timeout_secs),
        ),
        Mode::TcpBaseline { bytes } => tcp_baseline(bytes),
        Mode::ClusterThroughput(args) => cluster::throughput(args),
        Mode::Failover(args) => cluster::failover(args),
        Mode::CatchUp(args) => cluster::catch_up(args),
        Mode::CommitBench(args) => groups::commit_bench(args),
        Mode::RebalanceBench(args) => groups::rebalance_bench(args),
        Mode::Idle(args) => idle::idle(args),
    }
}

async fn ensure_topic(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    rf: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(rf));
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics([&new], &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating topic {name}: {code}"),
        }
    }
    Ok(())
}

pub struct ProduceSpec {
    pub messages: u64,
    pub size: usize,
    pub acks: String,
    pub linger_ms: u64,
    pub rate: u64,
    pub compression: String,
    /// `enable.idempotence`.
    pub idempotence: bool,
    /// Further librdkafka settings.
    pub client_settings: Vec<(String, String)>,
}

/// Alternates runs without and with idempotence against the same broker, so both see the same
/// machine; prints each run, the medians and their ratios.
fn compare_idempotence(
    bootstrap: &str,
    topic: &str,
    spec: ProduceSpec,
    rounds: u32,
) -> anyhow::Result<()> {
    let mut runs: [Vec<ProduceStats>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for idempotence in [false, true] {
            let spec = ProduceSpec {
                idempotence,
                compression: spec.compression.clone(),
                acks: spec.acks.clone(),
                client_settings: spec.client_settings.clone(),
                ..spec
            };
            let stats = produce(bootstrap, topic, &spec)?;
            println!(
                "round {round} idempotence={idempotence:5}: {:>8.0} msg/s  {}",
                stats.msgs_per_s,
                stats.latency()
            );
            runs[usize::from(idempotence)].push(stats);
        }
    }
    let median = |runs: &[ProduceStats], of: fn(&ProduceStats) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(of).collect();
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    let [off, on] = &runs;
    let (off_rate, on_rate) = (median(off, |s| s.msgs_per_s), median(on, |s| s.msgs_per_s));
    let (off_p99, on_p99) = (median(off, |s| s.p99_ms), median(on, |s| s.p99_ms));
    println!(
        "median: off {off_rate:.0} msg/s p99 {off_p99:.2} ms; on {on_rate:.0} msg/s p99 {on_p99:.2} ms"
    );
    println!(
        "idempotence on/off: throughput {:.1}%, p99 {:.1}%",
        100.0 * on_rate / off_rate,
        100.0 * on_p99 / off_p99
    );
    Ok(())
}

/// Notes each acknowledgement's latency on librdkafka's delivery callback, the moment it
/// arrives, without a task or future per message.
struct LatencyContext {
    latency: Mutex<Histogram<u64>>,
    done: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for LatencyContext {}

impl ProducerContext for LatencyContext {
    type DeliveryOpaque = Box<Instant>;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at: Box<Instant>) {
        let micros = sent_at.elapsed().as_micros().max(1) as u64;
        match result {
            Ok(_) => {
                if let Ok(mut h) = self.latency.lock() {
                    h.saturating_record(micros);
                }
            }
            Err((e, _)) => {
                eprintln!("delivery failed: {e}");
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.done.fetch_add(1, Ordering::Release);
    }
}

/// Sends one message and waits for it, then forgets it: the timed run starts with the client
/// connected, its metadata known and (with idempotence) its producer id granted. librdkafka asks
/// for the id only once a broker connection is up, retrying every 500 ms until then, which would
/// otherwise count against the idempotent runs alone.
fn warm_up(
    producer: &ThreadedProducer<LatencyContext>,
    topic: &str,
    value: &[u8],
) -> anyhow::Result<()> {
    let record: BaseRecord<'_, [u8], [u8], Box<Instant>> =
        BaseRecord::with_opaque_to(topic, Box::new(Instant::now())).payload(value);
    producer.send(record).map_err(|(e, _)| e)?;
    producer.flush(Duration::from_secs(60))?;
    let context = producer.context();
    anyhow::ensure!(
        context.failed.swap(0, Ordering::AcqRel) == 0,
        "the warm-up message failed"
    );
    context.done.store(0, Ordering::Release);
    context
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("latency histogram poisoned"))?
        .reset();
    Ok(())
}

fn produce(bootstrap: &str, topic: &str, spec: &ProduceSpec) -> anyhow::Result<ProduceStats> {
    let context = LatencyContext {
        latency: Mutex::new(Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)?),
        done: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    };
    let mut config = ClientConfig::new();
    for (key, value) in &spec.client_settings {
        config.set(key, value);
    }
    let producer: ThreadedProducer<LatencyContext> = config
        .set("bootstrap.servers", bootstrap)
        .set("acks", &spec.acks)
        .set("enable.idempotence", spec.idempotence.to_string())
        .set("linger.ms", spec.linger_ms.to_string())
        .set("compression.codec", &spec.compression)
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "120000")
        .create_with_context(context)?;
    let value: Vec<u8> = (0..spec.size).map(|i| (i % 251) as u8).collect();
    warm_up(&producer, topic, &value)?;
    let start = Instant::now();
    for i in 0..spec.messages {
        if spec.rate > 0 {
            let due = start + Duration::from_secs_f64(i as f64 / spec.rate as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let key = i.to_be_bytes();
        let mut record = BaseRecord::with_opaque_to(topic, Box::new(Instant::now()))
            .key(&key[..])
            .payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // Let acknowledgements drain the client's queue.
                    std::thread::sleep(Duration::from_millis(1));
                    record = back;
                }
                Err((e, _)) => anyhow::bail!("send failed: {e}"),
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let elapsed = start.elapsed().as_secs_f64();
    let context = producer.context();
    anyhow::ensure!(
        context.done.load(Ordering::Acquire) == spec.messages,
        "not every message was acknowledged"
    );
    let failed = context.failed.load(Ordering::Relaxed);
    let sent = spec.messages - failed;
    let latency = context
        .latency
        .lock()
        .map_err(|_| anyhow::anyhow!("latency histogram poisoned"))?;
    let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
    Ok(ProduceStats {
        sent,
        failed,
        msgs_per_s: sent as f64 / elapsed,
        mb_per_s: (sent as f64 * spec.size as f64) / elapsed / 1e6,
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: latency.max() as f64 / 1000.0,
    })
}

/// What one produce run measured.
#[derive(Debug, Clone, Copy)]
pub struct ProduceStats {
    pub sent: u64,
    pub failed: u64,
    pub msgs_per_s: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl ProduceStats {
    fn print(&self, spec: &ProduceSpec) {
        println!(
            "produce: {} messages of {} B, acks={}, linger={} ms, rate={}: {:.0} msg/s, {:.1} MB/s, failed {}",
            self.sent,
            spec.size,
            spec.acks,
            spec.linger_ms,
            if spec.rate == 0 {
                "max".to_string()
            } else {
                spec.rate.to_string()
            },
            self.msgs_per_s,
            self.mb_per_s,
            self.failed,
        );
        println!("latency: {}", self.latency());
    }

    pub fn latency(&self) -> String {
        format!(
            "p50 {:.2} ms, p99 {:.2} ms, p999 {:.2} ms, max {:.2} ms",
            self.p50_ms, self.p99_ms, self.p999_ms, self.max_ms
        )
    }
}

fn consume(bootstrap: &str, topic: &str, messages: u64, timeout: Duration) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "loadgen")
        .set("enable.auto.commit", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions = metadata
        .topics()
        .first()
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    anyhow::ensure!(partitions > 0, "topic {topic} has no partitions");
    let mut assignment = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let start = Instant::now();
    let (mut count, mut bytes) = (0u64, 0u64);
    while count < messages {
        anyhow::ensure!(
            start.elapsed() < timeout,
            "only {count} of {messages} messages within {timeout:?}"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                count += 1;
                bytes += m.payload().map_or(0, |p| p.len() as u64);
            }
            Some(Err(e)) => anyhow::bail!("consume failed: {e}"),
            None => {}
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "consume: {count} messages from {partitions} partitions: {:.0} msg/s, {:.1} MB/s",
        count as f64 / elapsed,
        bytes as f64 / elapsed / 1e6
    );
    Ok(())
}

fn tcp_baseline(bytes: u64) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        loop {
            match socket.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    });
    let mut socket = TcpStream::connect(addr)?;
    let chunk = vec![0x5Au8; 1 << 20];
    let start = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        let n = chunk.len().min((bytes - sent) as usize);
        socket.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    drop(socket);
    let received = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader panicked"))??;
    let elapsed = start.elapsed().as_secs_f64();
    anyhow::ensure!(received == bytes, "sent {bytes}, received {received}");
    println!(
        "tcp baseline: {:.1} MB/s over loopback ({} MiB in 1 MiB writes)",
        bytes as f64 / elapsed / 1e6,
        bytes >> 20
    );
    Ok(())
}
