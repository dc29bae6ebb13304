//! A full disk shows up as a clear error when disk is reserved, with nothing half written, and
//! the log takes appends again once there is room. The disk is "full" through RLIMIT_FSIZE,
//! which makes a reservation past the limit fail (EFBIG) the way ENOSPC would; it is
//! process-wide, hence this test has a binary of its own.

use bytes::Bytes;
use raftka::storage::{AppendEntry, Error, Log, LogConfig};
use raftka::types::{LogIndex, Term};

fn blank(index: u64, len: usize) -> AppendEntry {
    AppendEntry {
        index: LogIndex(index),
        term: Term(1),
        kind: 0,
        records: None,
        payload: [Bytes::from(vec![7u8; len]), Bytes::new()],
    }
}

#[test]
fn preallocation_failure_is_a_clear_error_leaves_nothing_behind_and_appends_resume() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 1024 * 1024,
        preallocate_step_bytes: 16 * 1024,
        index_interval_bytes: 4096,
    };
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append((1..=10).map(|i| blank(i, 1000))).unwrap();
    log.sync().unwrap();

    // SAFETY: setting a signal disposition and a resource limit; no memory is shared.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let limit = libc::rlimit {
            rlim_cur: 64 * 1024,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &limit), 0);
    }
    // The segment reserves 16 KiB at a time: past 64 KiB (about 60 entries of 1 KiB) the next
    // reservation fails within this batch, and the entries before it are in.
    let err = log
        .append((11..=100u64).map(|i| blank(i, 1000)))
        .expect_err("a reservation past the limit fails");
    // SAFETY: as above.
    unsafe {
        let limit = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
    }
    assert!(matches!(err, Error::NoSpace { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("no space") && msg.contains(".log"), "{msg}");
    let logs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .collect();
    assert_eq!(logs.len(), 1, "a failed reservation leaves no file behind");
    let last = log.last_entry().unwrap().index;
    assert!(
        last > LogIndex(11) && last < LogIndex(100),
        "the entries before the failed reservation are in, the rest not: last {last}"
    );
    let entries = log.reader().entries(..).unwrap();
    assert_eq!(entries.last().unwrap().index, last);

    // With room again, the same log takes the rest: a full disk did not break it.
    log.append((last.0 + 1..=100).map(|i| blank(i, 1000)))
        .expect("appends resume once there is room");
    log.sync().unwrap();
    drop(log);

    // Every entry is intact after reopening.
    let log = Log::open(dir.path(), config).unwrap();
    let entries = log.reader().entries(..).unwrap();
    assert_eq!(entries.len(), 100);
    assert_eq!(entries.last().unwrap().index, LogIndex(100));
    assert!(entries.iter().all(|e| e.payload.len() == 1000));
}
