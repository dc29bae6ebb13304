//! A single-member partition group writes 10,000 real RecordBatches across many small segments,
//! shuts down, and comes back on the same directory: every batch is readable at the offsets it
//! was answered with and decodes to the same records; the high watermark and snapshot return.
//! Snapshots stand only where one was asked for (a retention boundary); a restart resumes
//! applying at the applied checkpoint, or at the snapshot when the checkpoint is damaged.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::WAIT;
use common::raft::{Single, encode_batch, records_of, start_single};
use futures::{StreamExt, TryStreamExt};
use kafka_protocol::records::{Record, RecordBatchDecoder};
use openraft::storage::RaftStateMachine;
use openraft::type_config::async_runtime::watch::WatchReceiver;
use raftka::raft::{APPLIED_FILE, LogId, Request, SNAPSHOT_FILE, StateMachine, VOTE_FILE};
use raftka::storage::LogConfig;
use raftka::types::{KafkaOffset, LogIndex};

const LOG: LogConfig = LogConfig {
    segment_bytes: 64 << 10,
    index_interval_bytes: 4096,
    ..LogConfig::DEFAULT
};

fn batches() -> usize {
    std::env::var("RAFTKA_RESTART_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// What a record must read back as: its offset, key and value.
fn summary(records: &[Record]) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
    records
        .iter()
        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
        .collect()
}

async fn wait_high_watermark(single: &Single, want: i64) {
    let want = KafkaOffset(want);
    let mut hw = single.high_watermark.clone();
    let reached = tokio::time::timeout(WAIT, hw.wait_for(|v| *v >= want)).await;
    let now = *single.high_watermark.borrow();
    assert!(
        matches!(reached, Ok(Ok(_))),
        "high watermark {now}, want {want}"
    );
    assert_eq!(now, want, "high watermark overshot");
}

/// Where the state machine of the partition in `dir` resumes applying, before Raft starts.
async fn applied_after_open(dir: &std::path::Path) -> Option<LogId> {
    let mut partition = raftka::raft::open(dir, LOG).expect("open partition");
    let (applied, _) = partition
        .state_machine
        .applied_state()
        .await
        .expect("applied state");
    applied
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_batches_survive_a_restart() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let dir = tempfile::tempdir().expect("tempdir");
    let count = batches();

    tracing::info!(
        count,
        "writing batches with 64 in flight, as a busy producer would"
    );
    let single = start_single(dir.path(), LOG).await;
    let raft = single.raft.clone();
    let answers: Vec<(usize, i64)> = futures::stream::iter(0..count)
        .map(|i| {
            let raft = raft.clone();
            async move {
                let batch = encode_batch(&records_of(i));
                let resp = raft.client_write(Request::Records(batch)).await?;
                let base = resp
                    .data
                    .base_offset
                    .expect("a record entry has a base offset")
                    .0;
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>((i, base))
            }
        })
        .buffer_unordered(64)
        .try_collect()
        .await
        .expect("client writes");

    tracing::info!("the answered offsets tile [0, end) with no gap or overlap");
    let mut base_of = vec![0i64; count];
    let mut spans: Vec<(i64, i64)> = Vec::with_capacity(count);
    for (i, base) in &answers {
        base_of[*i] = *base;
        spans.push((*base, records_of(*i).len() as i64));
    }
    spans.sort_unstable();
    let mut end = 0;
    for (base, len) in spans {
        assert_eq!(base, end, "offsets not contiguous");
        end = base + len;
    }
    wait_high_watermark(&single, end).await;
    let segments = std::fs::read_dir(dir.path())
        .expect("list dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".log"))
        })
        .count();
    assert!(segments > 10, "only {segments} segments: no rolls tested");

    tracing::info!(
        "without a boundary, a triggered build is refused: snapshots stand only at purge points"
    );
    raft.trigger().snapshot().await.expect("trigger snapshot");
    let refused = raft
        .wait(Some(Duration::from_secs(2)))
        .metrics(|m| m.snapshot.is_some(), "snapshot built")
        .await;
    assert!(refused.is_err(), "a snapshot was built without a boundary");

    tracing::info!(
        "take a snapshot at an entry in the middle of the log, then shut the group down"
    );
    let middle = single
        .reader
        .log()
        .entry_at(LogIndex(count as u64 / 2))
        .expect("read")
        .expect("an entry in the middle");
    let boundary = LogId::new_term_index(middle.term.0, middle.index.0);
    let prepared = raft
        .with_state_machine(move |sm: &mut StateMachine| {
            Box::pin(std::future::ready(sm.prepare_snapshot(boundary)))
        })
        .await
        .expect("state machine")
        .expect("prepare snapshot");
    assert!(prepared, "nothing to build at {boundary}");
    raft.trigger().snapshot().await.expect("trigger snapshot");
    let before = raft
        .wait(Some(WAIT))
        .metrics(|m| m.snapshot.is_some(), "snapshot built")
        .await
        .expect("snapshot");
    assert_eq!(
        before.snapshot,
        Some(boundary),
        "snapshot not at the boundary"
    );
    assert!(before.last_applied > before.snapshot);

    tracing::info!(
        "an apply more than a second after the previous one stores the applied checkpoint"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let last = raft
        .client_write(Request::Records(encode_batch(&records_of(0))))
        .await
        .expect("write")
        .log_id;
    let end = end + records_of(0).len() as i64;
    wait_high_watermark(&single, end).await;
    raft.shutdown().await.expect("shutdown");
    drop((raft, single));
    assert!(dir.path().join(VOTE_FILE).exists());
    assert!(dir.path().join(SNAPSHOT_FILE).exists());

    tracing::info!("reopened, the state machine resumes at the checkpoint, not at the snapshot");
    assert_eq!(applied_after_open(dir.path()).await, Some(last));
    tracing::info!("a damaged checkpoint is ignored: it resumes at the snapshot");
    let checkpoint = dir.path().join(APPLIED_FILE);
    let stored = std::fs::read(&checkpoint).expect("read checkpoint");
    std::fs::write(&checkpoint, b"damaged").expect("damage checkpoint");
    assert_eq!(applied_after_open(dir.path()).await, Some(boundary));
    std::fs::write(&checkpoint, stored).expect("restore checkpoint");

    tracing::info!("reopen on the same directory with a new Raft");
    let single = start_single(dir.path(), LOG).await;
    wait_high_watermark(&single, end).await;
    let after = single.raft.metrics().borrow_watched().clone();
    assert_eq!(
        after.snapshot, before.snapshot,
        "snapshot {:?} lost, now {:?}",
        before.snapshot, after.snapshot
    );

    tracing::info!("every batch reads back at its offset, decoding to the same records");
    let log = single.reader.log();
    for (i, base) in base_of.iter().enumerate() {
        let slices = log
            .read_records(KafkaOffset(*base), 1, KafkaOffset(end))
            .expect("read_records");
        let first = slices
            .batches
            .first()
            .expect("a batch at an answered offset");
        let decoded = RecordBatchDecoder::decode(&mut first.clone()).expect("decode");
        let mut want = records_of(i);
        for r in &mut want {
            r.offset += base;
        }
        assert_eq!(summary(&decoded.records), summary(&want), "batch {i}");
    }

    tracing::info!("a fetch-style scan in 1 MiB reads returns exactly the offsets [0, end)");
    let mut next = 0;
    while next < end {
        let slices = log
            .read_records(KafkaOffset(next), 1 << 20, KafkaOffset(end))
            .expect("scan");
        assert!(slices.bytes <= 1 << 20 || slices.batches.len() == 1);
        for batch in &slices.batches {
            let decoded = RecordBatchDecoder::decode(&mut batch.clone()).expect("decode");
            for r in &decoded.records {
                assert_eq!(r.offset, next, "scan skipped or repeated an offset");
                next += 1;
            }
        }
    }
    assert_eq!(next, end);

    tracing::info!("writes after the restart continue the offsets");
    let resp = single
        .raft
        .client_write(Request::Records(encode_batch(&records_of(1))))
        .await
        .expect("write after restart");
    assert_eq!(resp.data.base_offset, Some(KafkaOffset(end)));
    assert_eq!(resp.data.high_watermark, KafkaOffset(end + 2));
    tokio::time::timeout(WAIT, single.raft.shutdown())
        .await
        .expect("bounded shutdown")
        .expect("shutdown");
}
