//! A broker restarted on its directory removes the directories of partitions the metadata no
//! longer has (deleted, or deleted and recreated under a new topic id, while it was down) and
//! keeps everything else. `admin.rs` covers deletion while running.

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tracing::info;
use uuid::Uuid;

use crate::admin_raw::create_topic;
use crate::common::process::Broker;
use crate::common::wire::connect;
use crate::common::{WAIT, init_logs};

#[test]
#[ignore = "needs a broker of its own: restarts it on a directory it changed"]
fn restart_removes_directories_of_deleted_partitions() {
    init_logs();
    let mut broker = Broker::start(&[]);
    let dir = broker.data_dir();
    let mut conn = connect(broker.addr);
    create_topic(&mut conn, "kept-topic");
    create_topic(&mut conn, "re-made");
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .create()
        .expect("producer");
    producer
        .send(BaseRecord::<(), [u8]>::to("re-made").payload(b"old".as_slice()))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    producer.flush(WAIT).expect("flush");
    drop((conn, producer));
    broker.process.kill9();

    info!(
        "while down: directories of a topic the metadata lacks, and a recreated topic's old files"
    );
    for planted in ["gone-topic-0", "gone-topic-1", "notes"] {
        std::fs::create_dir(dir.join(planted)).expect("plant");
        std::fs::write(dir.join(planted).join("00000000000000000000.log"), b"x").expect("plant");
    }
    let marker = dir.join("re-made-0").join("partition.metadata");
    assert!(
        marker.exists(),
        "the topic id is recorded beside the partition"
    );
    std::fs::write(
        &marker,
        format!("version: 0\ntopic_id: {}\n", Uuid::new_v4()),
    )
    .expect("tamper");

    broker.restart();
    for gone in ["gone-topic-0", "gone-topic-1"] {
        assert!(!dir.join(gone).exists(), "{gone} survived the restart");
    }
    for kept in ["notes", "kept-topic-0", "__cluster_metadata-0", "re-made-0"] {
        assert!(dir.join(kept).exists(), "{kept} removed");
    }
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
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
