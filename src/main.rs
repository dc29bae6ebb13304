//! The `raftka` binary: parse arguments and config, set up logging, start the broker, stop it
//! gracefully on SIGTERM or ctrl-c; or `dump-log` a partition directory (`raft/dump.rs`).
//! `broker.rs` does the composing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use raftka::broker::Broker;
use raftka::config::{Config, Overrides};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "raftka",
    version,
    about = "A Kafka-wire-compatible broker on Raft",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `raftka` alone serves, with these options.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve Kafka clients (the default).
    Serve(ServeArgs),
    /// Print a summary of one partition directory's log: a header line, then one line per
    /// entry (log index, term, kind; for record batches base offset, count, CRC, bytes).
    /// Read-only and lock-free: on a live broker the newest entries may be missing.
    DumpLog(DumpLogArgs),
}

#[derive(Args, Debug)]
struct DumpLogArgs {
    /// A partition directory under `log.dirs`, e.g. `data/orders-0`.
    #[arg(value_name = "PARTITION_DIR")]
    dir: PathBuf,
    /// One JSON document instead of `key=value` lines.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug, Default)]
struct ServeArgs {
    /// Config file: TOML, or JSON in the seed layout (by extension). Without it: defaults.
    #[arg(long, short, value_name = "FILE", env = "RAFTKA_CONFIG")]
    config: Option<PathBuf>,
    /// Same as `--override listeners=...`.
    #[arg(long, value_name = "PLAINTEXT://IP:PORT,...")]
    listeners: Option<String>,
    /// Same as `--override advertised.listeners=...`.
    #[arg(long, value_name = "PLAINTEXT://HOST:PORT,...")]
    advertised_listeners: Option<String>,
    /// Same as `--override log.dirs=...`.
    #[arg(long, value_name = "DIR")]
    log_dirs: Option<String>,
    /// Same as `--override node.id=...`.
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// Same as `--override log.level=...` (RUST_LOG still wins).
    #[arg(long, value_name = "FILTER")]
    log_level: Option<String>,
    /// Any setting, as in the config file; wins over the file and RAFTKA_* variables. Repeatable.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

impl ServeArgs {
    fn overrides(&self) -> Result<Overrides, String> {
        let mut out = Vec::new();
        let named = [
            ("listeners", &self.listeners),
            ("advertised.listeners", &self.advertised_listeners),
            ("log.dirs", &self.log_dirs),
            ("node.id", &self.node_id),
            ("log.level", &self.log_level),
        ];
        for (key, value) in named {
            if let Some(v) = value {
                out.push((key.to_string(), v.clone()));
            }
        }
        for pair in &self.overrides {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("--override {pair}: expected KEY=VALUE"))?;
            out.push((key.trim().to_string(), value.to_string()));
        }
        Ok(Overrides(out))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::DumpLog(args)) => return dump_log(&args),
        None => cli.serve,
    };
    let config = match args.overrides().map_err(|e| e.to_string()).and_then(|o| {
        Config::load(args.config.as_deref(), std::env::vars(), &o).map_err(|e| e.to_string())
    }) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("raftka: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    raise_open_files_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("raftka: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("raftka: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Threads for blocking work (log writes, truncation, state files), shared by every partition:
/// the count stays the same with 10 or 10,000 partitions (tokio's default allows 512).
const BLOCKING_THREADS: usize = 64;

/// Every partition keeps four files open (its segment, two indexes, its directory lock): the
/// soft limit on open files (often 1024) goes up to the hard one, so thousands of partitions
/// do not run out of descriptors.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the struct passed; nothing else is shared.
    let raised = unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
            let soft = limit.rlim_cur;
            limit.rlim_cur = limit.rlim_max;
            soft == limit.rlim_max || libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if raised {
        tracing::debug!(open_files = limit.rlim_cur, "open files limit");
    } else {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not raise the open files limit"
        );
    }
}

fn dump_log(args: &DumpLogArgs) -> ExitCode {
    let dump = match raftka::raft::dump::dump_log(&args.dir) {
        Ok(dump) => dump,
        Err(e) => {
            eprintln!("raftka: dump-log {}: {e}", args.dir.display());
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = if args.json {
        dump.write_json(&mut out)
    } else {
        dump.write_text(&mut out)
    };
    match written.and_then(|()| std::io::Write::flush(&mut out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raftka: dump-log: writing the output: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(node_id = config.node_id, data_dir = %config.data_dir.display(), "starting raftka");
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    // A cluster node waits in start-up until a majority forms; a signal meanwhile ends it there.
    let broker = tokio::select! {
        started = Broker::start(config) => started?,
        () = &mut shutdown => {
            tracing::info!("stopped before start-up finished");
            return Ok(());
        }
    };
    broker.run(shutdown).await;
    tracing::info!("stopped");
    Ok(())
}

/// Completes on ctrl-c (SIGINT) or SIGTERM.
async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only ctrl-c stops the broker");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("ctrl-c received"),
        _ = term.recv() => tracing::info!("SIGTERM received"),
    }
}
