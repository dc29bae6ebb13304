//! The binary as a new user starts it: `raftka` with no config file and no settings (only a
//! free port instead of 9092, which another broker may hold), data under `./data` of its
//! working directory, then an ordinary client workload. Settings that tests elsewhere shrink
//! (segment size above all) are at their defaults here.

mod common;

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::WAIT;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Disk a partition may hold before it has data: one preallocation step (4 MiB) of segment,
/// plus its small index, state and vote files.
const EMPTY_PARTITION_DISK_BYTES: u64 = (4 << 20) + (64 << 10);

/// Bytes of disk under `dir`, as `du` counts them.
fn disk_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let entry = entry.expect("dir entry");
        let meta = entry.metadata().expect("metadata");
        total += if meta.is_dir() {
            disk_bytes(&entry.path())
        } else {
            meta.blocks() * 512
        };
    }
    total
}

fn partition_dirs(data: &Path) -> usize {
    std::fs::read_dir(data)
        .expect("read data dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().is_dir()))
        .count()
}

#[test]
fn many_topics_on_the_embedded_default_take_disk_as_their_data_does() {
    common::init_logs();
    let home = tempfile::tempdir().expect("temp dir");
    let (mut broker, addr) = common::process::start_with_defaults(home.path());

    tracing::info!("phase: 40 topics of 1-6 partitions, created the way clients do");
    let bootstrap = addr.to_string();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .expect("admin client");
    let names: Vec<String> = (0..40)
        .map(|i| common::unique_name(&format!("t{i}")))
        .collect();
    let topics: Vec<NewTopic> = names
        .iter()
        .enumerate()
        .map(|(i, name)| NewTopic::new(name, (i % 6 + 1) as i32, TopicReplication::Fixed(1)))
        .collect();
    let partitions: usize = (0..40).map(|i| i % 6 + 1).sum();
    let options = AdminOptions::new().operation_timeout(Some(WAIT));
    let created =
        common::block_on(WAIT * 2, admin.create_topics(&topics, &options)).expect("create topics");
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    tracing::info!("phase: one small message to every partition");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("message.timeout.ms", "30000")
        .create()
        .expect("producer");
    common::block_on(WAIT * 2, async {
        for (i, name) in names.iter().enumerate() {
            for p in 0..(i % 6 + 1) as i32 {
                let record = FutureRecord::to(name)
                    .partition(p)
                    .key("k")
                    .payload("hello");
                producer
                    .send(record, Duration::from_secs(30))
                    .await
                    .expect("delivered");
            }
        }
    });

    let data = home.path().join("data");
    let dirs = partition_dirs(&data);
    assert!(dirs >= partitions, "{dirs} partition directories");
    let disk = disk_bytes(&data);
    tracing::info!(
        partitions = dirs,
        disk_mib = disk >> 20,
        "disk under ./data"
    );
    assert!(
        disk <= dirs as u64 * EMPTY_PARTITION_DISK_BYTES,
        "{dirs} partitions with a message each hold {} MiB of disk",
        disk >> 20
    );
    broker.stop();
}

/// The soft and hard "Max open files" of a running process.
fn open_files_limits(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("read limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open files line");
    let fields: Vec<&str> = line.split_whitespace().collect();
    (fields[3].to_string(), fields[4].to_string())
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    use std::os::unix::process::CommandExt;
    common::init_logs();
    let home = tempfile::tempdir().expect("temp dir");
    let addr = SocketAddr::from(([127, 0, 0, 1], common::free_port()));
    let mut command = common::process::raftka_command();
    command
        .args(["--listeners", &format!("PLAINTEXT://{addr}")])
        .current_dir(home.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
            limit.rlim_cur = limit.rlim_max.min(256);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
            Ok(())
        });
    }
    let mut child = command.spawn().expect("spawn raftka");
    let deadline = std::time::Instant::now() + WAIT;
    while !common::process::answers(addr) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (soft, hard) = open_files_limits(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        soft, hard,
        "the broker keeps a soft open files limit below the hard one"
    );
}
