//! DeleteRecords: the log start offset moves through Raft to the offset asked for (or the high
//! watermark), nothing below it is served (a consumer reset to the earliest offset starts
//! there), it holds across a `kill -9`, and whole segments below it leave the disk at the next
//! retention pass. Offsets past the high watermark and internal topics are refused.

use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::Message;
use rdkafka::consumer::Consumer;
use rdkafka::topic_partition_list::Offset;
use tracing::info;

use crate::clients::{assign, consume, consumer, create_topic, produce_one_record};
use crate::common::raw::delete_records;
use crate::common::wire::connect;
use crate::common::{WAIT, init_logs, partition_dir, unique_name};
use crate::harness::Target;

const OFFSET_OUT_OF_RANGE: i16 = 1;
const INVALID_TOPIC_EXCEPTION: i16 = 17;

fn watermarks(target: &Target, topic: &str) -> (i64, i64) {
    consumer(target, &[])
        .fetch_watermarks(topic, 0, WAIT)
        .expect("watermarks")
}

/// The offset of the first record a consumer reset to the earliest offset reads.
fn first_readable(target: &Target, topic: &str) -> i64 {
    let reader = consumer(target, &[("auto.offset.reset", "earliest")]);
    // Below the log start offset: out of range, so the consumer resets to the earliest.
    assign(&reader, topic, &[(0, Offset::Offset(3))]);
    consume(&reader, 1, WAIT)[0].offset()
}

fn segment_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .expect("partition dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .count()
}

#[test]
#[ignore = "needs a broker of its own: small segments, a quick retention pass, kill -9"]
fn delete_records_moves_the_log_start_and_frees_whole_segments() {
    init_logs();
    // The smallest segments allowed for 4 KiB batches: about 20 records of 3 KiB each. The
    // records carry timestamps of 2023: time-based retention stays out of it.
    let mut target = Target::own(&[
        ("log.retention.ms", "-1"),
        ("message.max.bytes", "4096"),
        ("log.segment.bytes", "69632"),
        ("log.retention.check.interval.ms", "200"),
    ]);
    let topic = unique_name("delete-records");
    create_topic(&target, &topic, 1, &[]);
    for i in 0..100 {
        assert_eq!(
            produce_one_record(&target, &topic, 0, format!("{i:03000}").as_bytes()),
            i
        );
    }
    let dir = partition_dir(&target.data_dir().expect("own broker"), &topic, 0)
        .expect("one partition directory");
    let segments_before = segment_files(&dir);
    assert!(segments_before >= 3, "{segments_before} segments");

    let mut conn = connect(target.addr);
    info!("below offset 55");
    assert_eq!(delete_records(&mut conn, &topic, 55), (0, 55));
    assert_eq!(watermarks(&target, &topic), (55, 100));
    assert_eq!(first_readable(&target, &topic), 55);

    info!("a lower offset leaves it; past the high watermark is out of range");
    assert_eq!(delete_records(&mut conn, &topic, 20), (0, 55));
    assert_eq!(
        delete_records(&mut conn, &topic, 101),
        (OFFSET_OUT_OF_RANGE, -1)
    );

    info!("whole segments below it leave the disk");
    let deadline = Instant::now() + WAIT;
    while segment_files(&dir) >= segments_before {
        assert!(Instant::now() < deadline, "no segment was deleted");
        std::thread::sleep(Duration::from_millis(100));
    }

    info!("it holds across a kill -9");
    target.kill9_and_restart();
    assert_eq!(watermarks(&target, &topic), (55, 100));
    assert_eq!(first_readable(&target, &topic), 55);

    info!("-1 means the high watermark");
    let mut conn = connect(target.addr);
    assert_eq!(delete_records(&mut conn, &topic, -1), (0, 100));
    assert_eq!(watermarks(&target, &topic), (100, 100));
    assert_eq!(produce_one_record(&target, &topic, 0, b"after"), 100);
    assert_eq!(first_readable(&target, &topic), 100);
}

#[test]
fn internal_topics_refuse_delete_records() {
    init_logs();
    let target = Target::any();
    let mut conn = connect(target.addr);
    for topic in ["__consumer_offsets", "__cluster_metadata"] {
        assert_eq!(
            delete_records(&mut conn, topic, 0),
            (INVALID_TOPIC_EXCEPTION, -1),
            "{topic}"
        );
    }
}
