//! A broker restarted on its directory removes the directories of partitions the metadata no
//! longer has (deleted, or deleted and recreated under a new topic id, while it was down),
//! renames a directory of the earlier layout (`<topic>-<partition>`, no topic id) holding the
//! current incarnation to `<topic>-<partition>.<topic id>` with its data, and keeps everything
//! else. `admin.rs` covers deletion while running.

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tracing::info;
use uuid::Uuid;

use crate::admin_raw::create_topic;
use crate::common::process::Broker;
use crate::common::wire::connect;
use crate::common::{WAIT, init_logs};

/// `<topic>-<partition>.<topic id>`, as the broker names a partition's directory.
fn incarnation(topic: &str, id: Uuid) -> String {
    format!("{topic}-0.{}", id.simple())
}

#[test]
#[ignore = "needs a broker of its own: restarts it on a directory it changed"]
fn restart_removes_directories_of_deleted_partitions() {
    init_logs();
    let mut broker = Broker::start(&[]);
    let dir = broker.data_dir();
    let mut conn = connect(broker.addr);
    let kept = create_topic(&mut conn, "kept-topic");
    let remade = create_topic(&mut conn, "re-made");
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .create()
        .expect("producer");
    for topic in ["re-made", "kept-topic"] {
        producer
            .send(BaseRecord::<(), [u8]>::to(topic).payload(b"old".as_slice()))
            .map_err(|(e, _)| e)
            .expect("enqueue");
    }
    producer.flush(WAIT).expect("flush");
    drop((conn, producer));
    broker.process.kill9();

    info!(
        "while down: directories of a topic the metadata lacks, a recreated topic's old files, \
         and a partition directory of the earlier layout"
    );
    let gone_incarnation = incarnation("gone-topic", Uuid::new_v4());
    for planted in ["gone-topic-0", "gone-topic-1", "notes", &gone_incarnation] {
        std::fs::create_dir(dir.join(planted)).expect("plant");
        std::fs::write(dir.join(planted).join("00000000000000000000.log"), b"x").expect("plant");
    }
    let old_incarnation = incarnation("re-made", Uuid::new_v4());
    std::fs::rename(
        dir.join(incarnation("re-made", remade)),
        dir.join(&old_incarnation),
    )
    .expect("make the partition's files another incarnation's");
    let marker = dir
        .join(incarnation("kept-topic", kept))
        .join("partition.metadata");
    assert!(
        marker.exists(),
        "the topic id is recorded beside the partition"
    );
    std::fs::rename(
        dir.join(incarnation("kept-topic", kept)),
        dir.join("kept-topic-0"),
    )
    .expect("back to the earlier layout");

    broker.restart();
    for gone in [
        "gone-topic-0",
        "gone-topic-1",
        &gone_incarnation,
        &old_incarnation,
        "kept-topic-0",
    ] {
        assert!(!dir.join(gone).exists(), "{gone} survived the restart");
    }
    for present in [
        "notes",
        &incarnation("kept-topic", kept),
        "__cluster_metadata-0",
        &incarnation("re-made", remade),
    ] {
        assert!(dir.join(present).exists(), "{present} missing");
    }
    let client: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.addr.to_string())
        .create()
        .expect("client");
    let watermarks = |topic| {
        client
            .client()
            .fetch_watermarks(topic, 0, WAIT)
            .expect("watermarks")
    };
    assert_eq!(
        watermarks("re-made"),
        (0, 0),
        "old files of another topic id were kept"
    );
    assert_eq!(
        watermarks("kept-topic"),
        (0, 1),
        "the renamed directory keeps its record"
    );
}
