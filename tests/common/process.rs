//! The `raftka` binary as a child process: started with no `RAFTKA_*` variable leaking in, its
//! log in a file, waited for (bounded) until it answers, killed when dropped. [`Broker`] is one
//! node on a free port in a temp dir; the cluster harness configures its three nodes itself and
//! runs each as a [`Raftka`]; [`start_with_defaults`] runs it as a new user would.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{WAIT, free_port};

/// The `raftka` binary of this build, with no `RAFTKA_*` variable of the test's environment.
pub fn raftka_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftka"));
    for (name, _) in std::env::vars() {
        if name.starts_with("RAFTKA_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// An ApiVersions v0 round trip on `addr`: something that speaks Kafka listens there.
pub fn answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // size 10 | api_key 18 | version 0 | correlation_id 1 | client_id "" (i16 length 0)
    let request: [u8; 14] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0, 0];
    if s.write_all(&request).is_err() {
        return false;
    }
    let mut size = [0u8; 4];
    s.read_exact(&mut size).is_ok()
}

/// One `raftka` process, started (and started again) with the same arguments; stderr is
/// appended to `log`. Killed and reaped on drop (SIGKILL ends a stopped process too).
pub struct Raftka {
    args: Vec<OsString>,
    log: PathBuf,
    /// The working directory (where a broker without `log.dirs` keeps `./data`).
    cwd: Option<PathBuf>,
    child: Option<Child>,
}

impl Drop for Raftka {
    fn drop(&mut self) {
        self.kill9();
    }
}

impl Raftka {
    /// Nothing runs until [`Raftka::start`].
    pub fn new(args: Vec<OsString>, log: PathBuf) -> Raftka {
        Raftka {
            args,
            log,
            cwd: None,
            child: None,
        }
    }

    /// Runs the process in `dir`.
    pub fn in_dir(mut self, dir: PathBuf) -> Raftka {
        self.cwd = Some(dir);
        self
    }

    /// Starts the process; returns at once.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "raftka is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the broker log");
        let mut command = raftka_command();
        if let Some(dir) = &self.cwd {
            command.current_dir(dir);
        }
        let child = command
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn raftka");
        self.child = Some(child);
    }

    /// Waits until `addr` answers ApiVersions; the error names what happened and ends with the
    /// log's tail.
    pub fn wait_answering(&mut self, addr: SocketAddr) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            let child = self.child.as_mut().ok_or("raftka is not running")?;
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Err(format!("raftka exited with {status}:\n{}", self.log_tail()));
            }
            if answers(addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err(format!(
            "no answer on {addr} within {WAIT:?}:\n{}",
            self.log_tail()
        ))
    }

    /// `kill -9`, and reap it.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends `signal` to the running process.
    pub fn signal(&self, signal: libc::c_int) {
        let pid = self.pid().expect("raftka is running");
        let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
        // SAFETY: a plain syscall on the pid of a child not reaped yet.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits (bounded) for the process to exit, and reaps it; `None` if it still runs.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.as_mut()?.try_wait().ok().flatten() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits (bounded) for the exit; panics with the log's tail unless it is clean.
    pub fn stop(&mut self) {
        if self.child.is_none() {
            return;
        }
        self.signal(libc::SIGTERM);
        match self.wait_exit(WAIT) {
            Some(status) => assert!(
                status.success(),
                "raftka exited with {status}:\n{}",
                self.log_tail()
            ),
            None => {
                self.kill9();
                panic!(
                    "raftka did not stop within {WAIT:?} of SIGTERM:\n{}",
                    self.log_tail()
                );
            }
        }
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The binary as a new user starts it, with no settings but a free port of 127.0.0.1 (instead
/// of 9092, which another broker may hold): data under `./data` of `home`, its log in
/// `home/broker.log`. Waits until it answers; tries another port if something took the first.
pub fn start_with_defaults(home: &Path) -> (Raftka, SocketAddr) {
    let mut last_error = String::new();
    for _ in 0..5 {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let args = vec!["--listeners".into(), format!("PLAINTEXT://{addr}").into()];
        let mut process = Raftka::new(args, home.join("broker.log")).in_dir(home.to_path_buf());
        process.start();
        match process.wait_answering(addr) {
            Ok(()) => return (process, addr),
            Err(e) => last_error = e,
        }
    }
    panic!("broker did not start with its defaults: {last_error}");
}

/// Segment size of test brokers: above `message.max.bytes` + 64 KiB, far below the default, so
/// tests see segments roll. `tests/defaults.rs` runs the binary with its own defaults.
const TEST_SEGMENT_BYTES: &str = "8388608";

/// One broker of our own: `raftka serve` on a free port of 127.0.0.1, its data and log in a
/// temp dir removed after it.
pub struct Broker {
    pub addr: SocketAddr,
    pub process: Raftka,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker with `overrides` (`key=value` settings) and waits until it answers;
    /// tries another port if something else took the first one.
    pub fn start(overrides: &[(&str, &str)]) -> Broker {
        let mut last_error = String::new();
        for _ in 0..5 {
            let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let dir = tempfile::tempdir().expect("temp dir");
            let mut args: Vec<OsString> = vec![
                "serve".into(),
                "--listeners".into(),
                format!("PLAINTEXT://{addr}").into(),
                "--log-dirs".into(),
                dir.path().join("data").into(),
            ];
            if !overrides.iter().any(|(key, _)| *key == "log.segment.bytes") {
                args.push("--override".into());
                args.push(format!("log.segment.bytes={TEST_SEGMENT_BYTES}").into());
            }
            for (key, value) in overrides {
                args.push("--override".into());
                args.push(format!("{key}={value}").into());
            }
            let mut process = Raftka::new(args, dir.path().join("broker.log"));
            process.start();
            match process.wait_answering(addr) {
                Ok(()) => return Broker { addr, process, dir },
                Err(e) => last_error = e,
            }
        }
        panic!("broker did not start: {last_error}");
    }

    /// The broker's `log.dirs`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the broker again on its data directory and port (after [`Raftka::kill9`] or
    /// [`Raftka::stop`] of [`Broker::process`]), and waits until it answers.
    pub fn restart(&mut self) {
        self.process.start();
        if let Err(e) = self.process.wait_answering(self.addr) {
            panic!("broker did not restart on {}: {e}", self.addr);
        }
    }

    /// `kill -9`, then [`Broker::restart`].
    pub fn kill9_and_restart(&mut self) {
        self.process.kill9();
        tracing::info!(addr = %self.addr, "broker killed");
        self.restart();
    }
}
