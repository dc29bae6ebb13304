//! Consumer-group measurements through real librdkafka consumers; each subcommand starts its
//! own brokers ([`crate::nodes`]) and removes them at the end.
//!
//! - `commit-bench`: synchronous OffsetCommit, one at a time per committer, with 1 and with N
//!   concurrent committers; beside it, acks=all produce of one small message at a time with 1 and
//!   N producers, on the same cluster: both are one Raft write of a small batch.
//! - `rebalance-bench`: how long a subscribed group takes to settle when it forms, when a member
//!   joins and when one leaves; beside it, a one-member group joining.
//!
//! Every client call runs on a thread the main thread waits for with a deadline, so a call that
//! never returns fails the run instead of hanging it (the process exit then ends such threads,
//! after the brokers were killed).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use rdkafka::ClientConfig;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::cluster::{create_topic, loadavg, spread};
use crate::nodes::{NodeOpts, Nodes, metadata_client, wait_partitions};

/// The broker's internal topic of committed offsets; a group's coordinator leads one of its
/// partitions.
const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Joins every thread, or fails once `within` has passed.
fn join_within<T>(
    threads: Vec<JoinHandle<anyhow::Result<T>>>,
    within: Duration,
    what: &str,
) -> anyhow::Result<Vec<T>> {
    let deadline = Instant::now() + within;
    loop {
        let running = threads.iter().filter(|t| !t.is_finished()).count();
        if running == 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what}: {running} of {} client threads still running after {within:?}",
            threads.len()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    threads
        .into_iter()
        .map(|t| {
            t.join()
                .map_err(|_| anyhow::anyhow!("{what}: a client thread panicked"))?
        })
        .collect()
}

fn micros_histogram() -> anyhow::Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 600_000_000, 3)?)
}

fn record_since(histogram: &mut Histogram<u64>, since: Instant) {
    histogram.saturating_record(since.elapsed().as_micros().max(1) as u64);
}

/// Waits for the offsets topic to be led everywhere with every replica in sync, so that its
/// creation does not overlap a measurement; returns the leader of each of its partitions.
fn offsets_leaders(nodes: &Nodes, replicas: usize) -> anyhow::Result<Vec<i32>> {
    let client = metadata_client(&nodes.bootstrap())?;
    let parts = wait_partitions(
        &client,
        OFFSETS_TOPIC,
        Duration::from_secs(60),
        "offsets topic led with every replica in sync",
        |p| p.iter().all(|(l, _, isr)| *l >= 1 && isr.len() == replicas),
    )?;
    Ok(parts.into_iter().map(|(leader, _, _)| leader).collect())
}

// ---------------------------------------------------------------------------------------------
// commit-bench

#[derive(Args, Debug)]
pub struct CommitArgs {
    #[command(flatten)]
    nodes: NodeOpts,
    /// Partitions of the benchmark topic (3 replicas); committer i commits partition i mod
    /// this, and producer i sends to it.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Measured operations per client (commits or produce requests), after the warm-up.
    #[arg(long, default_value_t = 2000)]
    ops: u64,
    /// Unmeasured operations per client first (connections, coordinator lookup).
    #[arg(long, default_value_t = 50)]
    warmup: u64,
    /// Concurrent clients of the second measurement (committers, and producers for the
    /// baseline).
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// All committers in one group, each committing its own partition: every commit goes
    /// through one offsets partition, so the baseline's producers all send to partition 0
    /// (default: one group per committer, spread over the offsets partitions like the
    /// producers over the topic's partitions).
    #[arg(long)]
    shared_group: bool,
    /// Value size of the baseline's messages, bytes.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Repeat the four measurements this many times.
    #[arg(long, default_value_t = 1)]
    rounds: u32,
    /// Give up on one measurement after this long.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
}

/// What one measurement of `clients` concurrent clients gave.
struct OpStats {
    ops: u64,
    seconds: f64,
    latency: Histogram<u64>,
}

impl OpStats {
    fn per_second(&self) -> f64 {
        self.ops as f64 / self.seconds
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency.value_at_quantile(quantile) as f64 / 1000.0
    }

    fn row(&self, what: &str) -> String {
        format!(
            "  {what:<44} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            self.per_second(),
            self.ms(0.5),
            self.ms(0.99),
            self.ms(0.999),
            self.latency.max() as f64 / 1000.0
        )
    }
}

/// One client's measured stretch: latencies, and when it started and ended.
struct Timed {
    latency: Histogram<u64>,
    start: Instant,
    end: Instant,
}

/// Runs `clients` threads of `client(index, barrier)`, which prepare and warm up, meet at the
/// barrier, then measure; throughput is over the time from the first start to the last end.
fn measure<F>(clients: usize, within: Duration, what: &str, client: F) -> anyhow::Result<OpStats>
where
    F: Fn(usize, &Barrier) -> anyhow::Result<Timed> + Send + Sync + 'static,
{
    let client = Arc::new(client);
    let barrier = Arc::new(Barrier::new(clients));
    let threads = (0..clients)
        .map(|i| {
            let (client, barrier) = (Arc::clone(&client), Arc::clone(&barrier));
            std::thread::spawn(move || client(i, &barrier))
        })
        .collect();
    let timed = join_within(threads, within, what)?;
    let mut latency = micros_histogram()?;
    for t in &timed {
        latency.add(&t.latency)?;
    }
    let start = timed.iter().map(|t| t.start).min();
    let end = timed.iter().map(|t| t.end).max();
    let seconds = match (start, end) {
        (Some(s), Some(e)) => (e - s).as_secs_f64(),
        _ => anyhow::bail!("{what}: no client ran"),
    };
    Ok(OpStats {
        ops: latency.len(),
        seconds,
        latency,
    })
}

/// Commits `offset` for one partition and waits for the answer.
fn commit_offset(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
    offset: i64,
) -> anyhow::Result<()> {
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(topic, partition, Offset::Offset(offset))?;
    consumer
        .commit(&list, CommitMode::Sync)
        .map_err(|e| anyhow::anyhow!("commit of {topic}-{partition} at offset {offset}: {e}"))
}

fn committer_client(bootstrap: &str, group: &str) -> anyhow::Result<BaseConsumer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()?)
}

/// Commits offsets 1, 2, 3, ... of `partition` as `group`, one synchronous commit at a time,
/// without joining the group (no assignment, so no fetches run beside the commits); at the end
/// reads the committed offset back through OffsetFetch.
fn commit_loop(
    bootstrap: &str,
    group: &str,
    topic: &str,
    partition: i32,
    warmup: u64,
    ops: u64,
    barrier: &Barrier,
) -> anyhow::Result<Timed> {
    let prepared = committer_client(bootstrap, group).and_then(|consumer| {
        for offset in 1..=warmup as i64 {
            commit_offset(&consumer, topic, partition, offset)?;
        }
        Ok(consumer)
    });
    barrier.wait();
    let consumer = prepared?;
    let mut latency = micros_histogram()?;
    let start = Instant::now();
    let last = (warmup + ops) as i64;
    for offset in warmup as i64 + 1..=last {
        let sent = Instant::now();
        commit_offset(&consumer, topic, partition, offset)?;
        record_since(&mut latency, sent);
    }
    let end = Instant::now();
    let mut list = TopicPartitionList::new();
    list.add_partition(topic, partition);
    let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
    let read_back = committed
        .find_partition(topic, partition)
        .map(|e| e.offset());
    anyhow::ensure!(
        read_back == Some(Offset::Offset(last)),
        "group {group}: committed {last} on {topic}-{partition}, OffsetFetch answers {read_back:?}"
    );
    Ok(Timed {
        latency,
        start,
        end,
    })
}

/// Hands each delivery report to the thread that sent the message.
struct AckChannel {
    acks: mpsc::Sender<Result<(), String>>,
}

impl ClientContext for AckChannel {}

impl ProducerContext for AckChannel {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let _ = self
            .acks
            .send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.to_string()));
    }
}

/// Longest wait for one acknowledgement of the baseline.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

fn produce_one(
    producer: &ThreadedProducer<AckChannel>,
    acks: &mpsc::Receiver<Result<(), String>>,
    topic: &str,
    partition: i32,
    value: &[u8],
) -> anyhow::Result<()> {
    let record = BaseRecord::<(), [u8], ()>::to(topic)
        .payload(value)
        .partition(partition);
    producer
        .send(record)
        .map_err(|(e, _)| anyhow::anyhow!("send to {topic}-{partition}: {e}"))?;
    match acks.recv_timeout(ACK_TIMEOUT) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => anyhow::bail!("delivery to {topic}-{partition} failed: {e}"),
        Err(_) => {
            anyhow::bail!("no acknowledgement from {topic}-{partition} within {ACK_TIMEOUT:?}")
        }
    }
}

/// acks=all produce of one message at a time to `partition`: the next is sent once the
/// previous one is acknowledged.
fn produce_loop(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    size: usize,
    warmup: u64,
    ops: u64,
    barrier: &Barrier,
) -> anyhow::Result<Timed> {
    let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let (sender, acks) = mpsc::channel();
    let prepared = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("linger.ms", "0")
        .set("message.timeout.ms", "30000")
        .create_with_context(AckChannel { acks: sender })
        .map_err(anyhow::Error::from)
        .and_then(|producer: ThreadedProducer<AckChannel>| {
            for _ in 0..warmup {
                produce_one(&producer, &acks, topic, partition, &value)?;
            }
            Ok(producer)
        });
    barrier.wait();
    let producer = prepared?;
    let mut latency = micros_histogram()?;
    let start = Instant::now();
    for _ in 0..ops {
        let sent = Instant::now();
        produce_one(&producer, &acks, topic, partition, &value)?;
        record_since(&mut latency, sent);
    }
    Ok(Timed {
        latency,
        start,
        end: Instant::now(),
    })
}

pub fn commit_bench(args: CommitArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.clients >= 1 && args.partitions >= 1,
        "--clients and --partitions must be at least 1"
    );
    let grouping = if args.shared_group {
        "one group, each committer its own partition; every producer to partition 0"
    } else {
        "one group per committer; one partition per producer"
    };
    println!(
        "commit-bench: 3 nodes, topic of {} partitions with 3 replicas; {} measured operations per client after {} warm-up; 1 and {} clients ({grouping}); synchronous commits of one partition's offset, not joined (no assignment); baseline: acks=all, linger.ms=0, one {} B message at a time per producer; {}",
        args.partitions,
        args.ops,
        args.warmup,
        args.clients,
        args.size,
        args.nodes.describe()
    );
    let nodes = Nodes::cluster(&args.nodes, "commit-bench")?;
    let topic = "commit-bench";
    create_topic(&nodes, topic, args.partitions, 3)?;
    let bootstrap = nodes.bootstrap();

    // The first FindCoordinator creates the offsets topic; let that finish before measuring.
    let first_commit = {
        let bootstrap = bootstrap.clone();
        std::thread::spawn(move || {
            let consumer = committer_client(&bootstrap, "commit-bench-setup")?;
            commit_offset(&consumer, topic, 0, 1)
        })
    };
    join_within(vec![first_commit], Duration::from_secs(60), "first commit")?;
    let offsets = offsets_leaders(&nodes, 3)?;
    let group_of = |client: usize| {
        if args.shared_group {
            "commit-bench-shared".to_string()
        } else {
            format!("commit-bench-{client}")
        }
    };
    let (warmup, ops, size, partitions) = (args.warmup, args.ops, args.size, args.partitions);
    let shared = args.shared_group;
    let producer_partition = move |client: usize| {
        if shared {
            0
        } else {
            client as i32 % partitions
        }
    };
    let topic_leaders = {
        let client = metadata_client(&bootstrap)?;
        wait_partitions(&client, topic, Duration::from_secs(30), "leaders", |p| {
            p.iter().all(|(l, _, _)| *l >= 1)
        })?
    };
    for client in 0..args.clients {
        let group = group_of(client);
        let offsets_partition = raftka::group::offsets_partition(&group, offsets.len() as u32);
        let partition = producer_partition(client);
        println!(
            "  client {client}: group {group} -> {OFFSETS_TOPIC}-{offsets_partition} led by node {}; producer -> {topic}-{partition} led by node {}",
            offsets[offsets_partition as usize], topic_leaders[partition as usize].0,
        );
    }

    let within = Duration::from_secs(args.timeout_secs);
    let mut rows = Vec::new();
    for round in 1..=args.rounds {
        println!("round {round}: {}", loadavg());
        for clients in [1, args.clients] {
            let produced = {
                let bootstrap = bootstrap.clone();
                measure(clients, within, "produce baseline", move |i, barrier| {
                    produce_loop(
                        &bootstrap,
                        topic,
                        producer_partition(i),
                        size,
                        warmup,
                        ops,
                        barrier,
                    )
                })?
            };
            println!(
                "{}",
                produced.row(&format!("produce, {clients} producer(s)"))
            );
            let committed = {
                let bootstrap = bootstrap.clone();
                let groups: Vec<String> = (0..clients).map(group_of).collect();
                measure(clients, within, "offset commits", move |i, barrier| {
                    commit_loop(
                        &bootstrap,
                        &groups[i],
                        topic,
                        i as i32 % partitions,
                        warmup,
                        ops,
                        barrier,
                    )
                })?
            };
            println!(
                "{}",
                committed.row(&format!("OffsetCommit, {clients} committer(s)"))
            );
            rows.push((round, clients, produced, committed));
        }
    }

    println!("summary ({}; {grouping}; latency in ms):", nodes.label);
    println!(
        "  {:<44} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "what", "per s", "p50", "p99", "p999", "max"
    );
    for (round, clients, produced, committed) in &rows {
        println!(
            "{}",
            produced.row(&format!(
                "round {round}: acks=all produce, {clients} sequential"
            ))
        );
        println!(
            "{}",
            committed.row(&format!("round {round}: sync OffsetCommit, {clients}"))
        );
        println!(
            "  {:<44} {:>8.0}% {:>7.0}%",
            format!("round {round}: commit/produce ({clients})"),
            100.0 * committed.per_second() / produced.per_second(),
            100.0 * committed.ms(0.5) / produced.ms(0.5),
        );
    }
    println!("  (ratio columns: commits/s over msgs/s, and p50 over p50)");
    println!("after the run: {}", loadavg());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// rebalance-bench

#[derive(Args, Debug)]
pub struct RebalanceArgs {
    #[command(flatten)]
    nodes: NodeOpts,
    /// One node instead of a three-node cluster.
    #[arg(long)]
    single_node: bool,
    #[arg(long, default_value_t = 20)]
    partitions: i32,
    /// Members started at once; then one more joins, then one leaves.
    #[arg(long, default_value_t = 10)]
    members: usize,
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// librdkafka `heartbeat.interval.ms`: how soon a member learns a rebalance started.
    #[arg(long, default_value_t = 100)]
    heartbeat_ms: u64,
    /// librdkafka `session.timeout.ms` (the broker's minimum is 6000).
    #[arg(long, default_value_t = 6000)]
    session_timeout_ms: u64,
    /// librdkafka `partition.assignment.strategy`.
    #[arg(long, default_value = "range,roundrobin")]
    assignor: String,
    /// `group.initial.rebalance.delay.ms` of the brokers.
    #[arg(long, default_value_t = 0)]
    initial_rebalance_delay_ms: u64,
    /// Extra consumer settings, `KEY=VALUE` (repeatable; replaces a setting above).
    #[arg(long = "client-set")]
    client_set: Vec<String>,
    /// Give up on one phase after this long.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

/// What every member of a group holds, as its last rebalance callback left it (`None`: no
/// callback yet), and when that callback ran.
struct Holdings {
    held: Vec<Option<Vec<i32>>>,
    changed_at: Vec<Instant>,
}

/// Shared by the members of one group and the thread that watches them.
struct Board {
    holdings: Mutex<Holdings>,
    changed: Condvar,
    errors: Mutex<Vec<String>>,
}

impl Board {
    fn new(members: usize) -> Arc<Board> {
        Arc::new(Board {
            holdings: Mutex::new(Holdings {
                held: vec![None; members],
                changed_at: vec![Instant::now(); members],
            }),
            changed: Condvar::new(),
            errors: Mutex::new(Vec::new()),
        })
    }

    fn set(&self, member: usize, partitions: Vec<i32>) {
        let mut h = self.holdings.lock().unwrap_or_else(PoisonError::into_inner);
        h.held[member] = Some(partitions);
        h.changed_at[member] = Instant::now();
        self.changed.notify_all();
    }

    fn error(&self, message: String) {
        self.errors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(message);
    }

    fn take_errors(&self) -> Vec<String> {
        std::mem::take(&mut *self.errors.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Until every one of `members` holds a non-empty assignment and together they hold each
    /// of `0..partitions` exactly once; returns when the last of their holdings changed.
    fn wait_covered(
        &self,
        members: Range<usize>,
        partitions: i32,
        within: Duration,
        what: &str,
    ) -> anyhow::Result<Instant> {
        let deadline = Instant::now() + within;
        let mut h = self.holdings.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if covered(&h.held[members.clone()], partitions) {
                return Ok(h.changed_at[members.clone()]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or_else(Instant::now));
            }
            let now = Instant::now();
            if now >= deadline {
                let held: Vec<String> = members
                    .clone()
                    .map(|m| format!("member {m}: {:?}", h.held[m]))
                    .collect();
                anyhow::bail!(
                    "{what}: not settled within {within:?}; holdings: {}; client errors: {:?}",
                    held.join("; "),
                    self.take_errors()
                );
            }
            h = self
                .changed
                .wait_timeout(h, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

fn covered(held: &[Option<Vec<i32>>], partitions: i32) -> bool {
    let mut all = Vec::new();
    for h in held {
        match h {
            Some(p) if !p.is_empty() => all.extend_from_slice(p),
            _ => return false,
        }
    }
    all.sort_unstable();
    all.iter().copied().eq(0..partitions)
}

/// Publishes a member's assignment the moment a rebalance callback changed it.
struct MemberContext {
    board: Arc<Board>,
    member: usize,
}

impl ClientContext for MemberContext {}

impl ConsumerContext for MemberContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Error(e) = rebalance {
            self.board
                .error(format!("member {}: rebalance error {e}", self.member));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, _: &Rebalance<'_>) {
        match consumer.assignment() {
            Ok(list) => self.board.set(
                self.member,
                list.elements().iter().map(|e| e.partition()).collect(),
            ),
            Err(e) => self
                .board
                .error(format!("member {}: assignment(): {e}", self.member)),
        }
    }
}

/// A subscribed consumer polled on its own thread until `stop`; the thread returns the moment
/// it began to close (leave) the group and how long closing took.
struct Member {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<(Instant, Duration)>>,
}

impl Member {
    fn start(config: &ClientConfig, topic: &str, board: &Arc<Board>, member: usize) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let mut config = config.clone();
        config.set("client.id", format!("member-{member}"));
        let (topic, board, stopped) = (topic.to_string(), Arc::clone(board), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let context = MemberContext {
                board: Arc::clone(&board),
                member,
            };
            let consumer: BaseConsumer<MemberContext> = config.create_with_context(context)?;
            consumer.subscribe(&[&topic])?;
            while !stopped.load(Ordering::Relaxed) {
                if let Some(Err(e)) = consumer.poll(Duration::from_millis(50)) {
                    board.error(format!("member {member}: {e}"));
                }
            }
            let closing = Instant::now();
            // Drop closes the consumer: revokes its partitions and sends LeaveGroup. It polls
            // in 100 ms steps until librdkafka reports it closed, so the call often lasts
            // ~100 ms; the group's members are told to rejoin as soon as LeaveGroup arrives.
            drop(consumer);
            Ok((closing, closing.elapsed()))
        });
        Member { stop, thread }
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn close_all(members: Vec<Member>, within: Duration, what: &str) -> anyhow::Result<()> {
    for m in &members {
        m.stop();
    }
    join_within(
        members.into_iter().map(|m| m.thread).collect(),
        within,
        what,
    )?;
    Ok(())
}

fn print_errors(board: &Board, what: &str) {
    for e in board.take_errors() {
        println!("  client error ({what}): {e}");
    }
}

/// A one-member group from start to holding every partition, then closed.
fn solo_join(
    config: &ClientConfig,
    topic: &str,
    partitions: i32,
    within: Duration,
) -> anyhow::Result<Duration> {
    let board = Board::new(1);
    let started = Instant::now();
    let member = Member::start(config, topic, &board, 0);
    let settled = board.wait_covered(0..1, partitions, within, "one member joins")?;
    print_errors(&board, "one member");
    close_all(vec![member], within, "closing the one member")?;
    Ok(settled - started)
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct RoundTimes {
    solo: Duration,
    formed: Duration,
    joined: Duration,
    left: Duration,
    leave_call: Duration,
}

fn rebalance_round(
    args: &RebalanceArgs,
    config: &ClientConfig,
    topic: &str,
    round: u32,
) -> anyhow::Result<RoundTimes> {
    let within = Duration::from_secs(args.timeout_secs);
    let (n, partitions) = (args.members, args.partitions);
    let solo = {
        let mut config = config.clone();
        config.set("group.id", format!("rebalance-solo-{round}"));
        solo_join(&config, topic, partitions, within)?
    };

    let mut config = config.clone();
    config.set("group.id", format!("rebalance-{round}"));
    let board = Board::new(n + 1);
    let started = Instant::now();
    let mut members: Vec<Member> = (0..n)
        .map(|m| Member::start(&config, topic, &board, m))
        .collect();
    let formed = board.wait_covered(0..n, partitions, within, "members started at once")?;
    let formed = formed - started;
    print_errors(&board, "forming");

    let started = Instant::now();
    members.push(Member::start(&config, topic, &board, n));
    let joined = board.wait_covered(0..n + 1, partitions, within, "one more member joins")?;
    let joined = joined - started;
    print_errors(&board, "join");

    let leaving = members.remove(0);
    leaving.stop();
    let left = board.wait_covered(1..n + 1, partitions, within, "one member leaves")?;
    let (closing, leave_call) = join_within(vec![leaving.thread], within, "the leaving member")?[0];
    anyhow::ensure!(
        left > closing,
        "the remaining members covered every partition before member 0 left"
    );
    let left = left - closing;
    print_errors(&board, "leave");

    close_all(members, within, "closing the group")?;
    println!(
        "round {round}: one member {:.0} ms; {n} at once {:.0} ms; one more joins {:.0} ms; one leaves {:.0} ms (its close call {:.0} ms); {}",
        millis(solo),
        millis(formed),
        millis(joined),
        millis(left),
        millis(leave_call),
        loadavg()
    );
    Ok(RoundTimes {
        solo,
        formed,
        joined,
        left,
        leave_call,
    })
}

pub fn rebalance_bench(args: RebalanceArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.members >= 1 && args.partitions as usize > args.members,
        "--partitions must exceed --members, so every member of the larger group can hold one"
    );
    let mut opts = args.nodes.clone();
    opts.settings.push(format!(
        "\"group.initial.rebalance.delay.ms\" = {}",
        args.initial_rebalance_delay_ms
    ));
    let (count, replicas) = if args.single_node { (1, 1) } else { (3, 3) };
    let mut settings = vec![
        (
            "heartbeat.interval.ms".to_string(),
            args.heartbeat_ms.to_string(),
        ),
        (
            "session.timeout.ms".to_string(),
            args.session_timeout_ms.to_string(),
        ),
        (
            "partition.assignment.strategy".to_string(),
            args.assignor.clone(),
        ),
        ("enable.auto.commit".to_string(), "false".to_string()),
    ];
    for kv in &args.client_set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--client-set {kv}: expected KEY=VALUE"))?;
        settings.retain(|(key, _)| key != k);
        settings.push((k.to_string(), v.to_string()));
    }
    println!(
        "rebalance-bench: {count} node(s), topic of {} partitions with {replicas} replica(s), {} members then one more then one fewer, {} rounds; {}",
        args.partitions,
        args.members,
        args.rounds,
        opts.describe()
    );
    println!(
        "consumers (librdkafka, subscribe, each polled on its own thread every <= 50 ms): {settings:?}"
    );
    println!(
        "  librdkafka bounds these figures: a member learns of a rebalance from its next heartbeat (at least {} ms after the previous one, sent when the client's main thread wakes), sends JoinGroup at most once a second, and needs JoinGroup and SyncGroup round trips",
        args.heartbeat_ms
    );
    let nodes = if args.single_node {
        Nodes::single(&opts, "rebalance-bench")?
    } else {
        Nodes::cluster(&opts, "rebalance-bench")?
    };
    let topic = "rebalance-bench";
    create_topic(&nodes, topic, args.partitions, replicas)?;
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", nodes.bootstrap());
    for (k, v) in &settings {
        config.set(k, v);
    }

    // The first group creates the offsets topic; not a sample.
    let first = {
        let mut config = config.clone();
        config.set("group.id", "rebalance-first");
        solo_join(
            &config,
            topic,
            args.partitions,
            Duration::from_secs(args.timeout_secs),
        )?
    };
    offsets_leaders(&nodes, replicas as usize)?;
    println!(
        "first group (creates {OFFSETS_TOPIC}, not counted): one member {:.0} ms",
        millis(first)
    );

    let mut rounds = Vec::new();
    for round in 1..=args.rounds {
        rounds.push(rebalance_round(&args, &config, topic, round)?);
    }

    let n = args.members;
    println!("summary ({count} node(s), {} rounds, ms):", args.rounds);
    println!("  {:<52} {:>7} {:>7}  samples", "phase", "p50", "max");
    let samples = |phase: fn(&RoundTimes) -> Duration| -> Vec<f64> {
        let mut ms: Vec<f64> = rounds.iter().map(|r| millis(phase(r))).collect();
        ms.sort_by(f64::total_cmp);
        ms
    };
    let phases = [
        (
            "baseline: 1 member starts -> holds all".to_string(),
            samples(|r| r.solo),
        ),
        (
            format!("(a) {n} members start at once -> settled"),
            samples(|r| r.formed),
        ),
        (
            format!("(b) member {} joins -> {} settled", n + 1, n + 1),
            samples(|r| r.joined),
        ),
        (
            format!("(c) a member closes -> {n} settled"),
            samples(|r| r.left),
        ),
        (
            "    (its close call itself)".to_string(),
            samples(|r| r.leave_call),
        ),
    ];
    for (what, ms) in phases {
        let (p50, max, all) = spread(&ms);
        println!("  {what:<52} {p50:>7.0} {max:>7.0}  {all:?}");
    }
    println!(
        "  settled: every member holds a non-empty assignment, each partition held exactly once"
    );
    Ok(())
}
