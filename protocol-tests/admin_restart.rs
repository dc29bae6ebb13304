//! A broker restarted on its directory removes the directories of partitions the metadata no
//! longer has (deleted, or deleted and recreated under a new topic id, while it was down) and
//! keeps everything else. `admin.rs` covers deletion while running.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tracing::info;
use uuid::Uuid;

use crate::admin_raw::create_topic;
use crate::harness::{WAIT, api_versions_frame, connect, init_logs};
use crate::wire::read_frame;

/// A broker process on a directory the test chooses, killed on drop.
struct Process(Child, SocketAddr);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_on(dir: &Path) -> Process {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_raftka"));
    cmd.arg("serve")
        .arg("--listeners")
        .arg(format!("PLAINTEXT://{addr}"))
        .arg("--log-dirs")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("RAFTKA_")) {
        cmd.env_remove(name);
    }
    let process = Process(cmd.spawn().expect("spawn raftka"), addr);
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            if s.write_all(&api_versions_frame(0, 1)).is_ok() && read_frame(&mut s).is_ok() {
                return process;
            }
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("broker on {} did not answer within {WAIT:?}", dir.display());
}

#[test]
fn restart_removes_directories_of_deleted_partitions() {
    init_logs();
    if std::env::var_os("RAFTKA_BOOTSTRAP").is_some() {
        info!("RAFTKA_BOOTSTRAP set: this test restarts its own broker; skipped");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = start_on(dir.path());
    let mut conn = connect(broker.1);
    create_topic(&mut conn, "kept-topic");
    create_topic(&mut conn, "re-made");
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.1.to_string())
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::<(), [u8]>::to("re-made").payload(b"old".as_slice()))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    producer.flush(WAIT).expect("flush");
    drop((conn, broker));

    info!(
        "while down: directories of a topic the metadata lacks, and a recreated topic's old files"
    );
    for planted in ["gone-topic-0", "gone-topic-1", "notes"] {
        std::fs::create_dir(dir.path().join(planted)).expect("plant");
        std::fs::write(
            dir.path().join(planted).join("00000000000000000000.log"),
            b"x",
        )
        .expect("plant");
    }
    let marker = dir.path().join("re-made-0").join("partition.metadata");
    assert!(
        marker.exists(),
        "the topic id is recorded beside the partition"
    );
    std::fs::write(
        &marker,
        format!("version: 0\ntopic_id: {}\n", Uuid::new_v4()),
    )
    .expect("tamper");

    let broker = start_on(dir.path());
    for gone in ["gone-topic-0", "gone-topic-1"] {
        assert!(
            !dir.path().join(gone).exists(),
            "{gone} survived the restart"
        );
    }
    for kept in ["notes", "kept-topic-0", "__cluster_metadata-0", "re-made-0"] {
        assert!(dir.path().join(kept).exists(), "{kept} removed");
    }
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.1.to_string())
        .create()
        .expect("client");
    let (low, high) = producer
        .client()
        .fetch_watermarks("re-made", 0, WAIT)
        .expect("watermarks");
    assert_eq!(
        (low, high),
        (0, 0),
        "old files of another topic id were kept"
    );
}
