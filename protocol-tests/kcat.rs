//! kcat, the command-line client, unchanged: `-L` lists the broker and topic, `-P -K:` produces
//! keyed messages, `-C -e -o beginning` reads them back, `-o s@<time>` starts at the first record
//! at or after a time (inside a batch), `-G` consumes as a group member that
//! commits and resumes, and a `-G` member killed without leaving loses its partitions once its
//! session times out. kcat must be installed (`./test.sh` installs it): without it these tests
//! fail rather than skip.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tracing::info;

use crate::clients::{create_topic, produce_one_batch};
use crate::common::{WAIT, init_logs, unique_name};
use crate::harness::Target;

/// The kcat binary (older distributions call it kafkacat).
fn kcat() -> &'static str {
    for name in ["kcat", "kafkacat"] {
        let found = Command::new(name)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if found {
            return name;
        }
    }
    panic!(
        "kcat is not installed (./test.sh installs it, or apt-get install kcat): the kcat tests need it"
    );
}

/// Runs kcat with `args` and `stdin`, killing it if it runs longer than `within`.
fn run(args: &[&str], stdin: &[u8], within: Duration) -> Output {
    let mut child = Command::new(kcat())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kcat");
    let mut input = child.stdin.take().expect("kcat stdin");
    input.write_all(stdin).expect("write kcat stdin");
    drop(input);
    // Drain both pipes on threads so kcat never blocks on a full one.
    let mut out = child.stdout.take().expect("kcat stdout");
    let mut err = child.stderr.take().expect("kcat stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kcat") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kcat {args:?} still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

fn check(args: &[&str], output: &Output) {
    assert!(
        output.status.success(),
        "kcat {args:?} exited with {}; stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn kcat_lists_produces_and_consumes() {
    init_logs();
    let target = Target::any();
    let bootstrap = target.addr.to_string();
    let topic = unique_name("kcat");
    create_topic(&target, &topic, 1, &[]);

    info!("kcat -L lists the broker at its address and the topic with one partition");
    let args = ["-b", &bootstrap, "-L", "-t", &topic, "-m", "10"];
    let listed = run(&args, b"", WAIT * 2);
    check(&args, &listed);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("1 brokers:"), "{text}");
    let id = text
        .lines()
        .find(|l| l.contains(&format!(" at {bootstrap}")))
        .and_then(|l| l.trim().strip_prefix("broker ")?.split(' ').next())
        .unwrap_or_else(|| panic!("no broker at {bootstrap} in:\n{text}"));
    assert!(
        text.contains(&format!("topic \"{topic}\" with 1 partitions:")),
        "{text}"
    );
    let partition = format!("partition 0, leader {id}, replicas: {id}, isrs: {id}");
    assert!(text.contains(&partition), "{text}");

    info!("kcat -P -K: produces 100 keyed messages");
    let lines: Vec<String> = (0..100)
        .map(|i| format!("key{i}:value {i} with spaces"))
        .collect();
    let input = lines.join("\n") + "\n";
    let args = ["-b", &bootstrap, "-P", "-t", &topic, "-K:", "-p", "0"];
    let produced = run(&args, input.as_bytes(), WAIT * 2);
    check(&args, &produced);

    info!("kcat -C -e -o beginning reads exactly those back, keys, values and offsets");
    let args = [
        "-b",
        &bootstrap,
        "-C",
        "-t",
        &topic,
        "-e",
        "-o",
        "beginning",
        "-f",
        "%o %k:%s\n",
    ];
    let consumed = run(&args, b"", WAIT * 2);
    check(&args, &consumed);
    let expected: String = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!("{i} {l}\n"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&consumed.stdout), expected);
}

#[test]
fn kcat_starts_at_the_first_record_at_or_after_a_time_inside_a_compressed_batch() {
    init_logs();
    let target = Target::any();
    let bootstrap = target.addr.to_string();
    let topic = unique_name("kcat-time");
    create_topic(&target, &topic, 1, &[]);
    let t0 = 1_650_000_000_000i64;
    let timestamps: Vec<i64> = (0..100).map(|i| t0 + i * 10).collect();
    produce_one_batch(
        &target,
        &topic,
        &timestamps,
        kafka_protocol::records::Compression::Lz4,
    );

    info!("kcat -o s@<t0+500> starts at record 50 of the one batch");
    let start = format!("s@{}", t0 + 500);
    let args = [
        "-b", &bootstrap, "-C", "-t", &topic, "-p", "0", "-o", &start, "-c", "1", "-f", "%o %T\n",
    ];
    let consumed = run(&args, b"", WAIT * 2);
    check(&args, &consumed);
    assert_eq!(
        String::from_utf8_lossy(&consumed.stdout),
        format!("50 {}\n", t0 + 500)
    );
}

#[test]
#[ignore = "needs a broker of its own: sets group.initial.rebalance.delay.ms"]
fn kcat_balanced_consumer_commits_and_resumes() {
    init_logs();
    let target = Target::own(&[("group.initial.rebalance.delay.ms", "0")]);
    let bootstrap = target.addr.to_string();
    let topic = unique_name("kcat-group");
    let group = unique_name("kcat-group");
    create_topic(&target, &topic, 2, &[]);
    let produce = |from: usize, to: usize| {
        let input: String = (from..to).map(|i| format!("m{i}\n")).collect();
        let args = ["-b", &bootstrap, "-P", "-t", &topic];
        let produced = run(&args, input.as_bytes(), WAIT * 2);
        check(&args, &produced);
    };
    let consume = |count: usize| -> Vec<String> {
        let count = count.to_string();
        let args = [
            "-b",
            &bootstrap,
            "-G",
            &group,
            "-X",
            "auto.offset.reset=earliest",
            "-c",
            &count,
            "-f",
            "%s\n",
            &topic,
        ];
        let consumed = run(&args, b"", WAIT * 3);
        check(&args, &consumed);
        let mut got: Vec<String> = String::from_utf8_lossy(&consumed.stdout)
            .lines()
            .map(str::to_string)
            .collect();
        got.sort();
        got
    };
    let sorted = |from: usize, to: usize| {
        let mut want: Vec<String> = (from..to).map(|i| format!("m{i}")).collect();
        want.sort();
        want
    };

    info!("kcat -G reads what is there and commits it as it leaves");
    produce(0, 10);
    assert_eq!(consume(10), sorted(0, 10));
    info!("the next kcat -G in the group starts after the commit");
    produce(10, 15);
    assert_eq!(consume(5), sorted(10, 15));
}

#[test]
#[ignore = "needs a broker of its own: sets group.initial.rebalance.delay.ms"]
fn partitions_of_a_member_killed_without_leaving_move_after_its_session_timeout() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use std::io::{BufRead, BufReader};

    init_logs();
    let target = Target::own(&[("group.initial.rebalance.delay.ms", "0")]);
    let bootstrap = target.addr.to_string();
    let topic = unique_name("kcat-killed");
    let group = unique_name("kcat-killed");
    create_topic(&target, &topic, 2, &[]);
    let input: String = (0..10).map(|i| format!("m{i}\n")).collect();
    let args = ["-b", &bootstrap, "-P", "-t", &topic];
    check(&args, &run(&args, input.as_bytes(), WAIT * 2));

    info!("a kcat -G member takes both partitions, then is killed with SIGKILL");
    let mut member = Command::new(kcat())
        .args([
            "-b",
            &bootstrap,
            "-u",
            "-G",
            &group,
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            "session.timeout.ms=6000",
            "-f",
            "%s\n",
            &topic,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn kcat -G");
    let stdout = member.stdout.take().expect("kcat stdout");
    let (lines_tx, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = lines.recv_timeout(WAIT * 2);
    let _ = member.kill();
    let _ = member.wait();
    assert!(first.is_ok(), "kcat -G never received a message");

    info!("a new member gets both partitions once the dead one's session has expired");
    let consumer: BaseConsumer = crate::clients::config(
        &target,
        &[
            ("group.id", group.as_str()),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "6000"),
        ],
    )
    .create()
    .expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let deadline = Instant::now() + WAIT * 3;
    while consumer.assignment().map_or(0, |a| a.count()) != 2 {
        assert!(
            Instant::now() < deadline,
            "the killed member's partitions never moved"
        );
        let _ = consumer.poll(Duration::from_millis(100));
    }
}
