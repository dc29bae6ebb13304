//! A partition whose vote file is damaged or unreadable refuses to open, with an error that
//! names the file: a node that forgot its vote could vote twice in one term.

mod common;

use std::path::Path;

use common::raft::start_single;
use raftka::raft::{self, Error, VOTE_FILE};
use raftka::storage::{LogConfig, StateFile};

const LOG: LogConfig = LogConfig {
    segment_bytes: 64 << 10,
    index_interval_bytes: 4096,
    ..LogConfig::DEFAULT
};

fn assert_refused(dir: &Path, case: &str) {
    let err = match raft::open(dir, LOG) {
        Ok(_) => panic!("{case}: opened with a bad vote file"),
        Err(e) => e,
    };
    assert!(matches!(err, Error::BadVote { .. }), "{case}: {err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(VOTE_FILE),
        "{case}: error does not name the file: {msg}"
    );
    assert!(msg.contains("never forget its vote"), "{case}: {msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_vote_file_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let vote_path = dir.path().join(VOTE_FILE);

    tracing::info!("a group that voted for itself leaves a good vote file");
    let single = start_single(dir.path(), LOG).await;
    single.raft.shutdown().await.expect("shutdown");
    drop(single);
    let good = std::fs::read(&vote_path).expect("vote file written");
    drop(raft::open(dir.path(), LOG).expect("a good vote file opens"));

    tracing::info!("a flipped bit anywhere in the file");
    for at in [0, good.len() / 2, good.len() - 1] {
        let mut bad = good.clone();
        bad[at] ^= 0x10;
        std::fs::write(&vote_path, &bad).expect("write");
        assert_refused(dir.path(), &format!("bit flipped at byte {at}"));
    }

    tracing::info!("a file cut short, and an empty one");
    std::fs::write(&vote_path, &good[..good.len() - 3]).expect("write");
    assert_refused(dir.path(), "truncated");
    std::fs::write(&vote_path, b"").expect("write");
    assert_refused(dir.path(), "empty");

    tracing::info!("a well-framed file whose content is not a vote");
    StateFile::new(vote_path.clone())
        .store(b"{\"term\": 3}")
        .expect("store");
    assert_refused(dir.path(), "not a vote");

    tracing::info!("a vote path that cannot be read at all");
    std::fs::remove_file(&vote_path).expect("remove");
    std::fs::create_dir(&vote_path).expect("mkdir");
    assert_refused(dir.path(), "unreadable");

    tracing::info!("the good file restores the partition");
    std::fs::remove_dir(&vote_path).expect("rmdir");
    std::fs::write(&vote_path, &good).expect("write");
    let single = start_single(dir.path(), LOG).await;
    single.raft.shutdown().await.expect("shutdown");
}
