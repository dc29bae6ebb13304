//! `idle`: what partitions cost when nothing is written to them. Starts its own brokers (one
//! node, or three with `--nodes 3`), measures them with no topic (the same-run baseline),
//! creates N partitions, measures them idle (CPU from `/proc/<pid>/stat` over a window,
//! threads, RSS); with three nodes, `kill -9`s node 1 and times, per partition it led, until
//! a survivor's Metadata names a new leader; then `kill -9`s every node, starts them again and
//! times until every partition is led again.

use std::time::{Duration, Instant};

use clap::Args;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::cluster::{loadavg, percentile};
use crate::ensure_topic;
use crate::nodes::{NodeOpts, Nodes, ProcStats, metadata_client};

#[derive(Args, Debug)]
pub struct IdleArgs {
    #[command(flatten)]
    nodes: NodeOpts,
    /// 1 (a single node, replication factor 1) or 3 (replication factor 3).
    #[arg(long, default_value_t = 1)]
    node_count: u64,
    /// Idle partitions in all.
    #[arg(long, default_value_t = 1000)]
    partitions: i32,
    /// Partitions per topic (topics `idle-0`, `idle-1`, ...).
    #[arg(long, default_value_t = 1000)]
    per_topic: i32,
    /// Length of each CPU sampling window.
    #[arg(long, default_value_t = 10)]
    idle_secs: u64,
    /// Pause after the partitions are led, before sampling (elections, ISR records settle).
    #[arg(long, default_value_t = 5)]
    settle_secs: u64,
    /// Longest wait for every partition to be led.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Skip the restart (kill -9 of every node, then time to all led again).
    #[arg(long)]
    no_restart: bool,
}

/// Per node: CPU share of one core over the window, threads and RSS at its end.
fn sample(nodes: &Nodes, window: Duration) -> anyhow::Result<Vec<(f64, ProcStats)>> {
    let ids: Vec<u64> = nodes.nodes.iter().map(|n| n.id).collect();
    let before: Vec<ProcStats> = ids
        .iter()
        .map(|id| nodes.proc_stats(*id))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow::anyhow!("a node is not running"))?;
    let at = Instant::now();
    std::thread::sleep(window);
    let secs = at.elapsed().as_secs_f64();
    ids.iter()
        .zip(before)
        .map(|(id, b)| {
            let a = nodes
                .proc_stats(*id)
                .ok_or_else(|| anyhow::anyhow!("node {id} stopped"))?;
            Ok(((a.cpu_seconds - b.cpu_seconds) / secs, a))
        })
        .collect()
}

fn print_sample(what: &str, figures: &[(f64, ProcStats)]) {
    for (i, (cpu, stats)) in figures.iter().enumerate() {
        println!(
            "  {what:28} node {}: CPU {:>6.2}% of a core, {:>5} threads, RSS {:>7.1} MiB",
            i + 1,
            cpu * 100.0,
            stats.threads,
            stats.rss_mib
        );
    }
}

/// How many of the `idle-*` partitions `client`'s broker reports with a leader.
fn led(client: &BaseConsumer) -> usize {
    let Ok(m) = client.fetch_metadata(None, Duration::from_secs(10)) else {
        return 0;
    };
    m.topics()
        .iter()
        .filter(|t| t.name().starts_with("idle-"))
        .flat_map(|t| t.partitions())
        .filter(|p| p.leader() >= 1)
        .count()
}

/// Until every node reports all `want` partitions led; the elapsed time since `from`.
fn wait_all_led(
    nodes: &Nodes,
    want: usize,
    from: Instant,
    within: Duration,
) -> anyhow::Result<Duration> {
    let clients: Vec<BaseConsumer> = nodes
        .nodes
        .iter()
        .map(|n| metadata_client(&n.kafka.to_string()))
        .collect::<anyhow::Result<_>>()?;
    let mut last = 0;
    for client in &clients {
        loop {
            let n = led(client);
            if n >= want {
                break;
            }
            if n != last {
                last = n;
            }
            anyhow::ensure!(
                from.elapsed() < within,
                "only {last} of {want} partitions led after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(from.elapsed())
}

/// `kill -9` of node 1: for each partition it led, the time until a survivor's Metadata names
/// another leader; then node 1 starts again.
fn failover(nodes: &mut Nodes, want: usize, within: Duration) -> anyhow::Result<()> {
    let client = metadata_client(&nodes.bootstrap_except(Some(1)))?;
    let m = client.fetch_metadata(None, Duration::from_secs(10))?;
    let mut waiting: std::collections::HashSet<(String, i32)> = m
        .topics()
        .iter()
        .filter(|t| t.name().starts_with("idle-"))
        .flat_map(|t| {
            t.partitions()
                .iter()
                .filter(|p| p.leader() == 1)
                .map(|p| (t.name().to_string(), p.id()))
                .collect::<Vec<_>>()
        })
        .collect();
    let led = waiting.len();
    let killed = nodes.kill9(1)?;
    let mut times = Vec::new();
    while !waiting.is_empty() && killed.elapsed() < within {
        if let Ok(m) = client.fetch_metadata(None, Duration::from_secs(5)) {
            let at = killed.elapsed().as_secs_f64() * 1000.0;
            for t in m.topics() {
                for p in t.partitions() {
                    if p.leader() >= 1
                        && p.leader() != 1
                        && waiting.remove(&(t.name().to_string(), p.id()))
                    {
                        times.push(at);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    times.sort_by(f64::total_cmp);
    println!(
        "  kill -9 of node 1 (led {led} of {want}): new leader in Metadata for {} of them; p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms ({})",
        times.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        times.last().copied().unwrap_or(f64::NAN),
        loadavg()
    );
    nodes.spawn(1)?;
    nodes.wait_ready(1)?;
    anyhow::ensure!(
        waiting.is_empty(),
        "{} partitions without a new leader",
        waiting.len()
    );
    Ok(())
}

pub fn idle(args: IdleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.node_count == 1 || args.node_count == 3,
        "--node-count is 1 or 3"
    );
    let rf = args.node_count as i32;
    let window = Duration::from_secs(args.idle_secs);
    let within = Duration::from_secs(args.timeout_secs);
    println!(
        "idle: {} partitions, {} node(s), replication factor {rf}; {}; {}",
        args.partitions,
        args.node_count,
        args.nodes.describe(),
        loadavg()
    );
    let mut nodes = if args.node_count == 1 {
        Nodes::single(&args.nodes, "idle")?
    } else {
        Nodes::cluster(&args.nodes, "idle")?
    };
    std::thread::sleep(Duration::from_secs(args.settle_secs));
    print_sample("no topic (baseline)", &sample(&nodes, window)?);

    let created = Instant::now();
    let runtime = tokio::runtime::Runtime::new()?;
    let mut left = args.partitions;
    let mut topic = 0;
    while left > 0 {
        let count = left.min(args.per_topic);
        runtime.block_on(ensure_topic(
            &nodes.bootstrap(),
            &format!("idle-{topic}"),
            count,
            rf,
        ))?;
        left -= count;
        topic += 1;
    }
    let want = args.partitions as usize;
    let took = wait_all_led(&nodes, want, created, within)?;
    println!(
        "  create -> all {want} led: {:.1} s ({})",
        took.as_secs_f64(),
        loadavg()
    );
    std::thread::sleep(Duration::from_secs(args.settle_secs));
    print_sample(&format!("{want} idle partitions"), &sample(&nodes, window)?);

    if args.node_count == 3 {
        failover(&mut nodes, want, within)?;
    }

    if !args.no_restart {
        let ids: Vec<u64> = nodes.nodes.iter().map(|n| n.id).collect();
        for id in &ids {
            nodes.kill9(*id)?;
        }
        let started = Instant::now();
        for id in &ids {
            nodes.spawn(*id)?;
        }
        for id in &ids {
            nodes.wait_ready(*id)?;
        }
        let answering = started.elapsed();
        let took = wait_all_led(&nodes, want, started, within)?;
        println!(
            "  restart (kill -9 of every node) -> answering {:.1} s, all {want} led {:.1} s ({})",
            answering.as_secs_f64(),
            took.as_secs_f64(),
            loadavg()
        );
        std::thread::sleep(Duration::from_secs(args.settle_secs));
        print_sample("idle after the restart", &sample(&nodes, window)?);
    }
    Ok(())
}
