//! A Raft instance whose disk fills up stalls and goes on, instead of failing for good: the log
//! store waits for space and appends the rest (openraft would stop the group on a failed
//! append). The disk is "full" through RLIMIT_FSIZE, which makes reserving the next step of a
//! segment fail (EFBIG) the way ENOSPC would; it is process-wide, hence a test binary of its own.

mod common;

use std::time::Duration;

use common::WAIT;
use common::raft::{encode_batch, records_of, start_single};
use openraft::type_config::async_runtime::watch::WatchReceiver;
use raftka::raft::Request;
use raftka::storage::LogConfig;
use raftka::types::KafkaOffset;

/// Small segments reserved in small steps, so a file size limit below the segment size is met
/// within a few writes.
const LOG: LogConfig = LogConfig {
    segment_bytes: 16 * 1024,
    preallocate_step_bytes: 4096,
    index_interval_bytes: 4096,
};

fn limit_file_size(bytes: libc::rlim_t) {
    // SAFETY: setting a signal disposition and a resource limit; no memory is shared.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stalls_the_group_and_writes_go_on_when_space_returns() {
    common::init_logs();
    let dir = tempfile::tempdir().expect("tempdir");
    let single = start_single(dir.path(), LOG).await;
    let write = |i: usize| {
        let raft = single.raft.clone();
        async move {
            raft.client_write(Request::Records(encode_batch(&records_of(i))))
                .await
                .map(|r| r.data)
        }
    };
    for i in 0..5 {
        write(i).await.expect("a write while there is room");
    }

    tracing::info!("phase: no room for the next step of disk: writes wait instead of failing");
    limit_file_size(8 * 1024);
    // A write that has not finished after a few seconds waits for space (one takes
    // milliseconds); it is watched a while longer to be sure it stays waiting.
    let mut stalled = None;
    for i in 5..200 {
        let pending = tokio::spawn(write(i));
        let finished = tokio::time::timeout(Duration::from_secs(3), async {
            while !pending.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        if finished.is_err() {
            stalled = Some(pending);
            break;
        }
        pending
            .await
            .expect("write task")
            .expect("a write before the disk is full");
    }
    let stalled = stalled.expect("no write waited: the file size limit was never met");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!stalled.is_finished(), "a write past the limit completed");
    let metrics = single.raft.metrics().borrow_watched().clone();
    assert!(
        metrics.running_state.is_ok(),
        "the group stopped: {:?}",
        metrics.running_state
    );

    tracing::info!("phase: room again: the waiting write lands, and later ones after it");
    limit_file_size(libc::RLIM_INFINITY);
    let applied = tokio::time::timeout(WAIT, stalled)
        .await
        .expect("the stalled write completes once there is room")
        .expect("write task")
        .expect("the stalled write succeeds");
    let next = write(1000).await.expect("a write after the stall");
    assert_eq!(
        next.base_offset,
        Some(applied.high_watermark),
        "offsets go on without a gap"
    );
    let log = single.reader.log();
    let read = log
        .read_records(KafkaOffset(0), usize::MAX, log.next_offset())
        .expect("read back");
    assert!(
        read.batches.len() >= 7,
        "every write is in the log: {}",
        read.batches.len()
    );
    single.raft.shutdown().await.expect("shutdown");
}
