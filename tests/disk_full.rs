//! A full disk with the embedded default: `raftka` with no settings but its port, its `./data`
//! on a small file system of its own (a 256 MiB tmpfs, mounted in a private mount namespace
//! by `unshare`, so no privilege is needed beyond user namespaces). Clients create topics and
//! write until the free space reaches the floor kept free (`log.dir.min.free.bytes`, by
//! default 5% of this file system): the broker stays up, refuses new partitions and writes with
//! KAFKA_STORAGE_ERROR, still serves reads, Metadata and consumer groups, and takes writes
//! again once topics are deleted, without a restart.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::WAIT;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

const FILE_SYSTEM_MIB: u64 = 256;
/// Large enough to fill the file system in a few dozen writes, below `message.max.bytes`.
const VALUE_BYTES: usize = 256 << 10;

/// The broker in a mount namespace of its own where `./data` is a fresh tmpfs; killed on drop.
struct BrokerOnSmallDisk {
    child: Child,
    log: PathBuf,
}

impl BrokerOnSmallDisk {
    fn start(home: &Path, addr: SocketAddr) -> BrokerOnSmallDisk {
        let data = home.join("data");
        std::fs::create_dir_all(&data).expect("create ./data");
        let log = home.join("broker.log");
        let stderr = std::fs::File::create(&log).expect("broker log");
        let script = format!(
            "mount -t tmpfs -o size={FILE_SYSTEM_MIB}m tmpfs '{}' && exec \"$0\" \"$@\"",
            data.display()
        );
        let raftka = common::process::raftka_command();
        let child = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
            .arg(raftka.get_program())
            .args(["--listeners", &format!("PLAINTEXT://{addr}")])
            .current_dir(home)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("run unshare (util-linux) to give the broker a file system of its own");
        BrokerOnSmallDisk { child, log }
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Free bytes of the broker's `./data`, seen through its own mount namespace.
    fn free_bytes(&self, home: &Path) -> u64 {
        let data = format!("/proc/{}/root{}/data", self.child.id(), home.display());
        fs4::available_space(&data).expect("statvfs the broker's data dir")
    }
}

impl Drop for BrokerOnSmallDisk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_answering(broker: &mut BrokerOnSmallDisk, addr: SocketAddr) {
    let deadline = Instant::now() + WAIT;
    while !common::process::answers(addr) {
        assert!(broker.alive(), "the broker exited:\n{}", broker.log_text());
        assert!(
            Instant::now() < deadline,
            "no answer within {WAIT:?}:\n{}",
            broker.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn create(
    admin: &AdminClient<DefaultClientContext>,
    name: &str,
    partitions: i32,
) -> Result<(), RDKafkaErrorCode> {
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = common::block_on(WAIT * 2, admin.create_topics([&topic], &options))
        .expect("CreateTopics answered");
    match &results[..] {
        [Ok(_)] => Ok(()),
        [Err((_, code))] => Err(*code),
        other => panic!("one result per topic: {other:?}"),
    }
}

fn delete(admin: &AdminClient<DefaultClientContext>, names: &[String]) {
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let results = common::block_on(WAIT * 2, admin.delete_topics(&refs, &options))
        .expect("DeleteTopics answered");
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
}

/// Sends one record to partition 0 of `topic` and waits for its delivery report. No retries:
/// the test wants to see the broker's answer, not the client's patience.
fn send(
    producer: &ThreadedProducer<ReportContext>,
    topic: &str,
    value: &[u8],
) -> Result<(), KafkaError> {
    let (tx, rx) = std::sync::mpsc::channel();
    producer
        .send(
            BaseRecord::with_opaque_to(topic, Box::new(tx))
                .partition(0)
                .key("k")
                .payload(value),
        )
        .map_err(|(e, _)| e)?;
    rx.recv_timeout(WAIT).expect("a delivery report")
}

/// Hands each delivery report to the channel the record carried.
struct ReportContext;

impl rdkafka::ClientContext for ReportContext {}

impl rdkafka::producer::ProducerContext for ReportContext {
    type DeliveryOpaque = Box<std::sync::mpsc::Sender<Result<(), KafkaError>>>;

    fn delivery(
        &self,
        result: &rdkafka::message::DeliveryResult<'_>,
        report: Self::DeliveryOpaque,
    ) {
        let _ = report.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }
}

fn is_storage_error(err: &KafkaError) -> bool {
    matches!(
        err,
        KafkaError::MessageProduction(RDKafkaErrorCode::KafkaStorageError)
    )
}

/// Reads partition 0 of `topic` from the start in group `group`, commits, and returns the
/// number of records read (all of them: `expected`).
fn consume_and_commit(bootstrap: &str, topic: &str, group: &str, expected: usize) -> usize {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + WAIT * 2;
    let mut read = 0;
    while read < expected && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(_)) => read += 1,
            Some(Err(e)) => tracing::info!(error = %e, "consumer poll"),
            None => {}
        }
    }
    consumer
        .commit_consumer_state(CommitMode::Sync)
        .expect("the group commits its offsets");
    read
}

#[test]
fn a_full_disk_refuses_writes_keeps_serving_and_recovers_when_topics_go() {
    common::init_logs();
    let home = tempfile::tempdir().expect("temp dir");
    let addr = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let mut broker = BrokerOnSmallDisk::start(home.path(), addr);
    wait_answering(&mut broker, addr);
    let bootstrap = addr.to_string();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    let producer: ThreadedProducer<ReportContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("retries", "0")
        .set("message.timeout.ms", "20000")
        .set("linger.ms", "0")
        .create_with_context(ReportContext)
        .expect("producer");

    tracing::info!("phase: a topic with data and a consumer group, while there is room");
    let kept = common::unique_name("kept");
    create(&admin, &kept, 1).expect("create the kept topic");
    let small = vec![b'v'; 100];
    for _ in 0..20 {
        send(&producer, &kept, &small).expect("write while there is room");
    }
    let group = common::unique_name("group");
    assert_eq!(consume_and_commit(&bootstrap, &kept, &group, 20), 20);

    tracing::info!("phase: topics of 4 partitions until CreateTopics is refused");
    let mut fillers = Vec::new();
    let refused = loop {
        assert!(
            fillers.len() < 64,
            "a 256 MiB file system took {} topics",
            fillers.len()
        );
        let name = common::unique_name("fill");
        match create(&admin, &name, 4) {
            Ok(()) => fillers.push(name),
            Err(code) => break (name, code),
        }
    };
    assert_eq!(
        refused.1,
        RDKafkaErrorCode::KafkaStorageError,
        "CreateTopics refused with"
    );
    let metadata = admin
        .inner()
        .fetch_metadata(None, WAIT)
        .expect("Metadata answers on a full disk");
    assert!(
        metadata.topics().iter().all(|t| t.name() != refused.0),
        "nothing of the refused topic was created"
    );
    tracing::info!(
        topics = fillers.len(),
        "CreateTopics refused on a full disk"
    );

    tracing::info!("phase: write to the kept topic until the floor is reached");
    let big = vec![b'x'; VALUE_BYTES];
    let mut written = 0;
    let refusal = loop {
        assert!(
            written < (FILE_SYSTEM_MIB << 20) as usize / VALUE_BYTES,
            "more was written than the file system holds"
        );
        match send(&producer, &kept, &big) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
    };
    assert!(
        is_storage_error(&refusal),
        "produce refused with {refusal:?}"
    );
    let floor = broker.free_bytes(home.path());
    assert!(
        floor > 0,
        "the floor keeps space free for the broker's own logs"
    );
    tracing::info!(
        written,
        free_bytes = floor,
        "produce refused on a full disk"
    );

    tracing::info!("phase: reads, Metadata and the consumer group go on");
    assert!(broker.alive(), "the broker exited:\n{}", broker.log_text());
    let read = consume_and_commit(
        &bootstrap,
        &kept,
        &common::unique_name("reader"),
        20 + written,
    );
    assert_eq!(read, 20 + written, "every acknowledged record reads back");
    assert_eq!(
        consume_and_commit(&bootstrap, &kept, &group, written),
        written,
        "the first group resumes after its committed offset and commits again"
    );
    let err = send(&producer, &kept, &small).expect_err("still refused");
    assert!(is_storage_error(&err), "{err:?}");

    tracing::info!("phase: deleting topics frees the disk; writes resume without a restart");
    delete(&admin, &fillers);
    let deadline = Instant::now() + WAIT;
    loop {
        match send(&producer, &kept, &small) {
            Ok(()) => break,
            Err(e) if is_storage_error(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("writes did not resume: {e:?}\n{}", broker.log_text()),
        }
    }
    create(&admin, &common::unique_name("after"), 4).expect("CreateTopics works again");
    producer.flush(WAIT).expect("flush");

    let log = broker.log_text();
    let lows = log.matches("free disk space below").count();
    let backs = log.matches("free disk space back").count();
    assert!(
        (1..=2).contains(&lows) && backs == lows,
        "one log line per transition: {lows} low, {backs} back\n{log}"
    );
    assert!(broker.alive(), "the broker exited:\n{log}");
}
