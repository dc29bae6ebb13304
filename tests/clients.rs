//! Real Kafka clients of other languages against the `raftka` binary started with its own
//! defaults: kafka-python, aiokafka, kafkajs and the Apache Kafka Java client each run their
//! program under `tests/clients/`, which creates a topic of 3 partitions through the client's
//! admin API, sends 5,000 messages and reads them back from the beginning, checking every id
//! exactly once and offsets 0..n-1 in each partition. Each client runs twice: with its idempotent
//! producer (the Java one with the default config, idempotent since Kafka 3.0) and with
//! idempotence off. `./test.sh` installs the clients; a missing one fails, never skips.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::WAIT;
use common::process::start_with_defaults;

/// Bound on one client program (killed after it); each of its three phases is bounded by 60 s
/// inside it, and all three together take seconds.
const PROGRAM_WAIT: Duration = WAIT.saturating_mul(4);

#[derive(Clone, Copy, Debug)]
enum Client {
    KafkaPython,
    Aiokafka,
    Kafkajs,
    Java,
}

#[derive(Clone, Copy, Debug)]
enum Producer {
    Idempotent,
    Plain,
}

impl Producer {
    fn arg(self) -> &'static str {
        match self {
            Producer::Idempotent => "idempotent",
            Producer::Plain => "plain",
        }
    }
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Fails the test unless `what` was installed from `pins` as it is now: `./test.sh` leaves a copy
/// of the pin file (`copy`) once an install finished.
fn installed_from(copy: &Path, pins: &Path, what: &str) {
    let Ok(installed) = std::fs::read(copy) else {
        panic!("{what} is not installed: run ./test.sh, which installs it");
    };
    let wanted = std::fs::read(pins).unwrap_or_else(|e| panic!("read {}: {e}", pins.display()));
    assert!(
        installed == wanted,
        "{what} was installed from another {}: run ./test.sh, which installs it again",
        pins.display()
    );
}

/// Fails the test unless `output` exists and is no older than each of `sources`.
fn built_from(output: &Path, sources: &[PathBuf], what: &str) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(output) else {
        panic!(
            "{what} is not built ({} is missing): run ./test.sh, which builds it",
            output.display()
        );
    };
    for source in sources {
        assert!(
            modified(source).is_none_or(|s| s <= built),
            "{what} is older than {}: run ./test.sh, which builds it again",
            source.display()
        );
    }
}

/// Fails the test unless `program --version` runs.
fn on_path(program: &str, package: &str) {
    let runs = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        runs,
        "{program} is not installed: run ./test.sh, which installs {package}"
    );
}

/// The command that runs `client`'s program, its installation checked first.
fn program(client: Client) -> Command {
    let dir = root().join("tests/clients");
    match client {
        Client::KafkaPython | Client::Aiokafka => {
            let python = root().join("target/clients-venv/bin/python");
            installed_from(
                &root().join("target/clients-venv/requirements.txt"),
                &dir.join("python/requirements.txt"),
                "the Python clients' venv",
            );
            let script = match client {
                Client::KafkaPython => "kafka_python_client.py",
                _ => "aiokafka_client.py",
            };
            let mut command = Command::new(python);
            command
                .arg(dir.join("python").join(script))
                .env("PYTHONDONTWRITEBYTECODE", "1");
            command
        }
        Client::Kafkajs => {
            on_path("node", "nodejs");
            installed_from(
                &dir.join("node/node_modules/.installed-package-lock.json"),
                &dir.join("node/package-lock.json"),
                "kafkajs",
            );
            let mut command = Command::new("node");
            command.arg(dir.join("node/client.js"));
            command
        }
        Client::Java => {
            on_path("java", "a JDK");
            let jar = root().join("target/clients-java/client-check.jar");
            let source = dir.join("java/src/main/java/raftka/clients/ClientCheck.java");
            built_from(
                &jar,
                &[dir.join("java/pom.xml"), source],
                "the Java client program",
            );
            let mut command = Command::new("java");
            command.arg("-jar").arg(jar);
            command
        }
    }
}

/// Runs `command` with `within` as its bound (killed after it): the exit status (`None` when it
/// was killed), stdout and stderr.
fn run(mut command: Command, within: Duration) -> (Option<ExitStatus>, String, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {command:?}: {e}"));
    // Drained on threads so the program never blocks on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let _ = pipe.read_to_end(&mut text);
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the client program") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = out.join().unwrap_or_default();
    let err = err.join().unwrap_or_default();
    (status, out, err)
}

/// The last `n` lines of `text` that `keep` accepts.
fn tail(text: &str, n: usize, keep: impl Fn(&str) -> bool) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| keep(l)).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// One scenario: a broker with its defaults, `client`'s program with `producer`, which must
/// print its report ending in PASS and exit 0.
fn scenario(client: Client, producer: Producer) {
    common::init_logs();
    let mut command = program(client);
    let home = tempfile::tempdir().expect("temp dir");
    let (mut broker, addr) = start_with_defaults(home.path());
    let topic = common::unique_name(&format!("{client:?}-{}", producer.arg()).to_lowercase());

    tracing::info!(
        ?client,
        ?producer,
        "phase: the client creates a topic, produces 5,000 ids and reads them back"
    );
    command.args([producer.arg(), &addr.to_string(), &topic]);
    let started = Instant::now();
    let (status, out, err) = run(command, PROGRAM_WAIT);
    let took = started.elapsed();
    let passed = status.is_some_and(|s| s.success()) && out.contains("\nPASS: ");
    if !passed {
        let broker_log =
            std::fs::read_to_string(home.path().join("broker.log")).unwrap_or_default();
        let ended = status.map_or("was still running, killed".to_string(), |s| {
            format!("exited with {s}")
        });
        panic!(
            "{client:?} with the {} producer {ended} after {took:.1?}\n\
             --- stdout ---\n{out}\n--- stderr (last 60 lines) ---\n{}\n\
             --- broker log (last 40 lines, openraft's left out) ---\n{}",
            producer.arg(),
            tail(&err, 60, |_| true),
            tail(&broker_log, 40, |l| !l.contains(" openraft::"))
        );
    }
    println!("{out}");
    tracing::info!(?client, ?producer, ?took, "passed");
    broker.stop();
}

#[test]
fn kafka_python_idempotent_producer() {
    scenario(Client::KafkaPython, Producer::Idempotent);
}

#[test]
fn kafka_python_plain_producer() {
    scenario(Client::KafkaPython, Producer::Plain);
}

#[test]
fn aiokafka_idempotent_producer() {
    scenario(Client::Aiokafka, Producer::Idempotent);
}

#[test]
fn aiokafka_plain_producer() {
    scenario(Client::Aiokafka, Producer::Plain);
}

#[test]
fn kafkajs_idempotent_producer() {
    scenario(Client::Kafkajs, Producer::Idempotent);
}

#[test]
fn kafkajs_plain_producer() {
    scenario(Client::Kafkajs, Producer::Plain);
}

#[test]
fn java_default_producer_is_idempotent() {
    scenario(Client::Java, Producer::Idempotent);
}

#[test]
fn java_plain_producer() {
    scenario(Client::Java, Producer::Plain);
}
