//! The segment log through its public API, on real files: round trips across rolls, reopen,
//! torn tails, flipped bits, truncation, purge, retention and time lookups.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use raftka::storage::{
    AppendEntry, EntryId, Error, Log, LogConfig, RecordsMeta, RetentionPolicy, StoredEntry,
};
use raftka::types::{KafkaOffset, LogIndex, Term};

const BLANK: u8 = 0;
const RECORDS: u8 = 2;

fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 8 * 1024,
        index_interval_bytes: 256,
        ..LogConfig::DEFAULT
    }
}

/// A record entry whose payload is a 16-byte header (an 8-byte base-offset slot first)
/// followed by recognisable bytes; [`stamped`] gives it its offsets.
fn records(index: u64, term: u64, count: u32, ts: i64, body_len: usize) -> AppendEntry {
    let mut payload = vec![0xEE; 16];
    payload.extend((0..body_len).map(|i| (index as usize * 31 + i) as u8));
    AppendEntry {
        index: LogIndex(index),
        term: Term(term),
        kind: RECORDS,
        records: Some(RecordsMeta {
            base_offset: KafkaOffset(-1),
            offset_count: count,
            max_timestamp: ts,
        }),
        payload: [Bytes::from(payload), Bytes::new()],
    }
}

fn blank(index: u64, term: u64) -> AppendEntry {
    AppendEntry {
        index: LogIndex(index),
        term: Term(term),
        kind: BLANK,
        records: None,
        payload: [Bytes::new(), Bytes::new()],
    }
}

/// What the layer above the log does before an append: each record entry gets the log's next
/// offset as its first offset, also written into its base-offset slot.
fn stamped(log: &Log, entries: impl IntoIterator<Item = AppendEntry>) -> Vec<AppendEntry> {
    let mut next = log.next_offset();
    entries
        .into_iter()
        .map(|mut entry| {
            if let Some(meta) = entry.records.as_mut() {
                meta.base_offset = next;
                let mut bytes = entry.payload[0].to_vec();
                if bytes.len() >= 8 {
                    bytes[..8].copy_from_slice(&next.0.to_be_bytes());
                }
                entry.payload[0] = Bytes::from(bytes);
                next = next.plus(meta.offset_count);
            }
            entry
        })
        .collect()
}

/// Mixed entries `from..to`: every fifth is blank, the rest carry 1-3 records and 40-400 bytes.
fn mixed(from: u64, to: u64, term: u64) -> Vec<AppendEntry> {
    (from..to)
        .map(|i| {
            if i % 5 == 0 {
                blank(i, term)
            } else {
                records(
                    i,
                    term,
                    (i % 3) as u32 + 1,
                    1000 + i as i64,
                    40 + (i as usize * 37) % 360,
                )
            }
        })
        .collect()
}

fn all(log: &Log) -> Vec<StoredEntry> {
    log.reader().entries(..).expect("read all")
}

/// Checks every entry against what was appended, and the offsets assigned in order.
fn check_entries(got: &[StoredEntry], appended: &[AppendEntry], first_offset: KafkaOffset) {
    assert_eq!(got.len(), appended.len());
    let mut next = first_offset;
    for (g, a) in got.iter().zip(appended) {
        assert_eq!((g.index, g.term, g.kind), (a.index, a.term, a.kind));
        assert_eq!(g.base_offset, next, "entry {}", g.index);
        match a.records {
            Some(meta) => {
                assert_eq!(
                    &g.payload[..8],
                    &next.0.to_be_bytes(),
                    "base-offset slot patched"
                );
                assert_eq!(g.payload[8..], a.payload[0][8..]);
                next = next.plus(meta.offset_count);
            }
            None => assert_eq!(g.payload, a.payload[0]),
        }
        assert_eq!(g.end_offset(), next);
    }
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

fn flip_bit(path: &Path, position: u64) {
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    file.read_exact_at(&mut b, position).unwrap();
    b[0] ^= 0x04;
    file.write_all_at(&b, position).unwrap();
}

#[test]
fn round_trip_across_rolls_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let appended = mixed(1, 400, 1);
    {
        let mut log = Log::open(dir.path(), small()).unwrap();
        for chunk in appended.chunks(7) {
            log.append(stamped(&log, chunk.to_vec())).unwrap();
        }
        log.sync().unwrap();
        check_entries(&all(&log), &appended, KafkaOffset(0));
        assert_eq!(
            log.last_entry(),
            Some(EntryId {
                index: LogIndex(399),
                term: Term(1)
            })
        );
    }
    let files = segment_files(dir.path());
    assert!(files.len() > 5, "rolled into {} segments", files.len());
    for sealed in &files[..files.len() - 1] {
        let len = fs::metadata(sealed).unwrap().len();
        assert!(
            len < small().segment_bytes,
            "sealed segment shrunk to its length"
        );
    }

    let log = Log::open(dir.path(), small()).unwrap();
    check_entries(&all(&log), &appended, KafkaOffset(0));
    let reader = log.reader();
    assert_eq!(reader.next_offset(), log.next_offset());
    // Ranges in the middle, across segment boundaries.
    let mid = reader.entries(LogIndex(100)..=LogIndex(250)).unwrap();
    check_entries(&mid, &appended[99..250], all(&log)[99].base_offset);
}

#[test]
fn reads_by_offset_return_whole_batches_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    let appended = mixed(0, 300, 2);
    log.append(stamped(&log, appended.clone())).unwrap();
    let reader = log.reader();
    let end = reader.next_offset();
    let stored = all(&log);
    for offset in (0..end.0).map(KafkaOffset) {
        let got = reader.read_records(offset, 1000, end).unwrap();
        let first = got
            .batches
            .first()
            .expect("a batch for every offset below the end");
        let base = KafkaOffset(i64::from_be_bytes(first[..8].try_into().unwrap()));
        let holder = stored
            .iter()
            .find(|e| e.offset_count > 0 && e.base_offset <= offset && offset < e.end_offset())
            .unwrap();
        assert_eq!(
            base, holder.base_offset,
            "offset {offset} starts at its batch"
        );
        assert!(got.bytes <= 1000 || got.batches.len() == 1);
        assert_eq!(
            got.bytes,
            got.batches.iter().map(|b| b.len()).sum::<usize>()
        );
        // Batches follow each other without gaps.
        let mut expect = base;
        for b in &got.batches {
            assert_eq!(
                KafkaOffset(i64::from_be_bytes(b[..8].try_into().unwrap())),
                expect
            );
            let e = stored
                .iter()
                .find(|e| e.offset_count > 0 && e.base_offset == expect)
                .unwrap();
            expect = e.end_offset();
        }
    }
    // The first batch comes whole even when larger than max_bytes.
    assert_eq!(
        reader
            .read_records(KafkaOffset(1), 1, end)
            .unwrap()
            .batches
            .len(),
        1
    );
    // Nothing at or past the limit, nothing below the start.
    assert!(
        reader
            .read_records(end, 1 << 20, end)
            .unwrap()
            .batches
            .is_empty()
    );
    let limit = stored[50].base_offset;
    let bounded = reader
        .read_records(KafkaOffset(0), usize::MAX, limit)
        .unwrap();
    let last = bounded.batches.last().unwrap();
    let last_base = KafkaOffset(i64::from_be_bytes(last[..8].try_into().unwrap()));
    let last_entry = stored
        .iter()
        .find(|e| e.offset_count > 0 && e.base_offset == last_base)
        .unwrap();
    assert!(last_entry.end_offset() <= limit);
    assert!(
        reader
            .read_records(KafkaOffset(-1), 100, end)
            .unwrap()
            .batches
            .is_empty()
    );
}

#[test]
fn torn_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let appended = mixed(1, 60, 1);
    {
        let mut log = Log::open(dir.path(), small()).unwrap();
        log.append(stamped(&log, appended.clone())).unwrap();
        log.sync().unwrap();
    }
    let last_file = segment_files(dir.path()).pop().unwrap();
    let (before, last_entry_pos) = {
        let log = Log::open(dir.path(), small()).unwrap();
        let entries = all(&log);
        let n = entries.len();
        // Locate the last entry's frame in the file by its payload.
        let data = fs::read(&last_file).unwrap();
        let payload = &entries[n - 1].payload;
        let at = if payload.is_empty() {
            None
        } else {
            data.windows(payload.len()).rposition(|w| w == &payload[..])
        };
        (n, at)
    };
    let pos = last_entry_pos.expect("last entry carries records");
    // Cut the file in the middle of the last entry, as a power cut during its write leaves it.
    // Such an entry was never synced, so no index record on disk points at it (records reach
    // their file after the data they point at is synced): the index files go too.
    fs::OpenOptions::new()
        .write(true)
        .open(&last_file)
        .unwrap()
        .set_len(pos as u64 + 3)
        .unwrap();
    for hint in ["index", "timeindex"] {
        fs::remove_file(last_file.with_extension(hint)).unwrap();
    }
    let mut log = Log::open(dir.path(), small()).unwrap();
    let entries = all(&log);
    assert_eq!(
        entries.len(),
        before - 1,
        "the torn entry is gone, the rest kept"
    );
    check_entries(&entries, &appended[..before - 1], KafkaOffset(0));
    // The log goes on from there, and survives another reopen.
    let next = appended[before - 2].index.0 + 1;
    log.append(stamped(&log, mixed(next, next + 20, 2)))
        .unwrap();
    log.sync().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(log.last_entry().unwrap().index, LogIndex(next + 19));
}

#[test]
fn flipped_bit_in_the_synced_tail_is_an_error_not_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let appended = mixed(1, 30, 1);
    {
        let mut log = Log::open(dir.path(), small()).unwrap();
        log.append(stamped(&log, appended.clone())).unwrap();
        log.sync().unwrap();
    }
    let last_file = segment_files(dir.path()).pop().unwrap();
    let data = fs::read(&last_file).unwrap();
    let payload = &appended[28].payload[0][16..];
    let pos = data
        .windows(payload.len())
        .rposition(|w| w == payload)
        .unwrap() as u64;
    flip_bit(&last_file, pos + 5);
    // Synced data that does not check out is damage, not a torn write: nothing is cut.
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { path, .. } if path == &last_file),
        "{err}"
    );
    assert_eq!(
        fs::read(&last_file).unwrap().len(),
        data.len(),
        "the file is left as it was"
    );
}

#[test]
fn flipped_bit_in_a_sealed_segment_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = Log::open(dir.path(), small()).unwrap();
        log.append(stamped(&log, mixed(1, 200, 1))).unwrap();
        log.sync().unwrap();
    }
    let files = segment_files(dir.path());
    let sealed = &files[1];
    // Early in the segment: before its last index record, so open does not read it...
    flip_bit(sealed, 100);
    let log = Log::open(dir.path(), small()).expect("open validates only tails");
    // ...but reading it does, and names the file and position.
    let err = log.reader().entries(..).unwrap_err();
    match &err {
        Error::Corrupt { path, position, .. } => {
            assert_eq!(path, sealed);
            assert!(*position <= 100);
        }
        other => panic!("expected corruption, got {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&sealed.display().to_string()), "{msg}");
    let offsets = log.reader();
    assert!(
        offsets
            .read_records(KafkaOffset(0), usize::MAX, offsets.next_offset())
            .is_err()
    );
    drop(log);

    // In the validated tail of a sealed segment: open refuses.
    let len = fs::metadata(&files[2]).unwrap().len();
    flip_bit(&files[2], len - 2);
    let err = Log::open(dir.path(), small()).unwrap_err();
    assert!(
        matches!(&err, Error::Corrupt { path, .. } if path == &files[2]),
        "{err}"
    );
}

#[test]
fn truncate_across_a_segment_boundary_then_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    log.append(stamped(&log, mixed(1, 300, 1))).unwrap();
    let files_before = segment_files(dir.path()).len();
    log.truncate_after(Some(LogIndex(40))).unwrap();
    assert_eq!(
        log.last_entry(),
        Some(EntryId {
            index: LogIndex(40),
            term: Term(1)
        })
    );
    assert!(segment_files(dir.path()).len() < files_before);
    let kept = all(&log);
    assert_eq!(kept.len(), 40);
    assert_eq!(log.next_offset(), kept.last().unwrap().end_offset());
    // New entries from a new term take the offsets after the kept ones.
    let fresh = mixed(41, 120, 2);
    log.append(stamped(&log, fresh.clone())).unwrap();
    log.sync().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    let got = all(&log);
    assert_eq!(got.len(), 119);
    let mut expect = mixed(1, 41, 1);
    expect.extend(fresh);
    check_entries(&got, &expect, KafkaOffset(0));
    assert!(
        got[40..].iter().all(|e| e.term == Term(2)),
        "no truncated entry came back"
    );
}

#[test]
fn truncate_everything_and_within_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    log.append(stamped(&log, mixed(5, 12, 1))).unwrap();
    log.truncate_after(Some(LogIndex(8))).unwrap();
    assert_eq!(all(&log).len(), 4);
    log.truncate_after(None).unwrap();
    assert!(all(&log).is_empty());
    assert_eq!(log.last_entry(), None);
    assert_eq!(log.next_offset(), KafkaOffset(0));
    log.append(stamped(&log, mixed(3, 6, 4))).unwrap();
    log.sync().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    check_entries(&all(&log), &mixed(3, 6, 4), KafkaOffset(0));
}

#[test]
fn purge_hides_entries_deletes_segments_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    let appended = mixed(1, 300, 1);
    log.append(stamped(&log, appended.clone())).unwrap();
    let stored = all(&log);
    let files_before = segment_files(dir.path()).len();
    log.purge(
        EntryId {
            index: LogIndex(150),
            term: Term(1),
        },
        None,
    )
    .unwrap();
    assert!(segment_files(dir.path()).len() < files_before);
    let after = all(&log);
    assert_eq!(after.first().unwrap().index, LogIndex(151));
    let start = stored[150].base_offset;
    assert_eq!(log.log_start_offset(), start);
    assert!(
        log.reader()
            .read_records(KafkaOffset(start.0 - 1), 100, log.next_offset())
            .unwrap()
            .batches
            .is_empty()
    );
    log.sync().unwrap();
    drop(log);

    let mut log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(
        log.last_purged(),
        Some(EntryId {
            index: LogIndex(150),
            term: Term(1)
        })
    );
    assert_eq!(log.log_start_offset(), start);
    check_entries(&all(&log), &appended[150..], start);

    // Purging past the end empties the log; it continues after the purge point.
    log.purge(
        EntryId {
            index: LogIndex(500),
            term: Term(3),
        },
        Some(KafkaOffset(9000)),
    )
    .unwrap();
    assert!(all(&log).is_empty());
    assert_eq!(
        log.last_entry(),
        Some(EntryId {
            index: LogIndex(500),
            term: Term(3)
        })
    );
    assert!(matches!(
        log.append(stamped(&log, vec![blank(400, 3)])),
        Err(Error::NonContiguous {
            expected: LogIndex(501),
            got: LogIndex(400)
        })
    ));
    log.append(stamped(&log, mixed(501, 510, 3))).unwrap();
    assert_eq!(all(&log)[0].base_offset, KafkaOffset(9000));
    log.sync().unwrap();
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    check_entries(&all(&log), &mixed(501, 510, 3), KafkaOffset(9000));
}

#[test]
fn retention_by_size_and_time_names_whole_sealed_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    log.append(stamped(&log, mixed(1, 400, 1))).unwrap();
    log.sync().unwrap();
    assert_eq!(
        log.reader()
            .retention_point(&RetentionPolicy::default(), i64::MAX)
            .unwrap(),
        None
    );
    // Timestamps are 1000 + index: a cut-off at 1250 lets go the segments entirely older.
    let by_time = RetentionPolicy {
        retention_ms: Some(10),
        ..RetentionPolicy::default()
    };
    let point = log
        .reader()
        .retention_point(&by_time, 1260)
        .unwrap()
        .expect("old segments");
    assert!(
        point.index < LogIndex(250) && point.index > LogIndex(100),
        "{point:?}"
    );
    let newest_dropped = all(&log)
        .into_iter()
        .filter(|e| e.index <= point.index)
        .map(|e| e.max_timestamp)
        .max();
    assert!(newest_dropped.unwrap() < 1250);
    log.purge(point.id(), None).unwrap();
    assert_eq!(
        log.reader().retention_point(&by_time, 1260).unwrap(),
        None,
        "nothing more is due"
    );

    let by_size = RetentionPolicy {
        retention_bytes: Some(20 * 1024),
        ..RetentionPolicy::default()
    };
    let point = log
        .reader()
        .retention_point(&by_size, 0)
        .unwrap()
        .expect("over the size limit");
    log.purge(point.id(), None).unwrap();
    let total: u64 = segment_files(dir.path())
        .iter()
        .map(|f| fs::metadata(f).unwrap().len())
        .sum();
    let first = all(&log)[0].index;
    assert_eq!(
        first,
        point.index.next(),
        "the purge point is a segment boundary"
    );
    assert!(segment_files(dir.path())[0].ends_with(format!("{first:020}.log")));
    assert!(total >= 20 * 1024, "at least the limit is kept: {total}");
    assert!(
        total < 20 * 1024 + small().segment_bytes * 2,
        "about the limit is kept: {total}"
    );

    // Below an offset: only segments wholly beneath it, never the one holding it.
    let floor = all(&log)[all(&log).len() / 2].base_offset;
    let below = RetentionPolicy {
        below_offset: Some(floor),
        ..RetentionPolicy::default()
    };
    let point = log
        .reader()
        .retention_point(&below, 0)
        .unwrap()
        .expect("segments below the floor");
    log.purge(point.id(), None).unwrap();
    let first = all(&log)[0].base_offset;
    assert!(
        first <= floor,
        "the segment holding {floor} stays: starts at {first}"
    );
    assert_eq!(log.reader().retention_point(&below, 0).unwrap(), None);
}

#[test]
fn entries_found_by_term_across_segments_and_after_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    // Terms 1, 3 and 4, each starting with a blank entry as a new Raft leader's log does.
    log.append(stamped(&log, mixed(1, 100, 1))).unwrap();
    log.append(stamped(&log, mixed(100, 180, 3))).unwrap();
    log.append(stamped(&log, mixed(180, 260, 4))).unwrap();
    let reader = log.reader();
    let stored = all(&log);
    assert!(segment_files(dir.path()).len() > 2, "terms span segments");
    for term in (0..6).map(Term) {
        let want = stored.iter().find(|e| e.term > term).map(|e| e.index);
        let got = reader
            .first_entry_above_term(term)
            .unwrap()
            .map(|e| e.index);
        assert_eq!(got, want, "term {term}");
    }
    let start_of_3 = reader.first_entry_above_term(Term(2)).unwrap().unwrap();
    assert_eq!(
        (start_of_3.index, start_of_3.base_offset),
        (LogIndex(100), stored[98].end_offset())
    );

    let upto = stored[120].index;
    log.purge(
        EntryId {
            index: upto,
            term: Term(3),
        },
        None,
    )
    .unwrap();
    let (first, end) = reader.index_bounds();
    assert!(
        first > LogIndex(100) && first <= upto.next(),
        "first index {first}"
    );
    assert_eq!(end, LogIndex(260));
    assert_eq!(
        reader
            .first_entry_above_term(Term(1))
            .unwrap()
            .unwrap()
            .index,
        first
    );
    assert_eq!(
        reader
            .first_entry_above_term(Term(3))
            .unwrap()
            .unwrap()
            .index,
        LogIndex(180)
    );
    assert!(reader.first_entry_above_term(Term(4)).unwrap().is_none());
}

#[test]
fn offsets_for_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    log.append(stamped(&log, mixed(1, 300, 1))).unwrap();
    let reader = log.reader();
    let stored = all(&log);
    for ts in [0, 1001, 1002, 1150, 1298, 1299] {
        let want = stored
            .iter()
            .find(|e| e.offset_count > 0 && e.max_timestamp >= ts)
            .map(|e| (e.base_offset, e.max_timestamp));
        assert_eq!(reader.offset_for_timestamp(ts).unwrap(), want, "ts {ts}");
    }
    assert_eq!(reader.offset_for_timestamp(1300).unwrap(), None);
    drop(reader);
    drop(log);
    let log = Log::open(dir.path(), small()).unwrap();
    assert_eq!(
        log.reader().offset_for_timestamp(1150).unwrap(),
        stored
            .iter()
            .find(|e| e.max_timestamp >= 1150)
            .map(|e| (e.base_offset, e.max_timestamp))
    );
}

#[test]
fn bad_appends_are_rejected_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    log.append(stamped(&log, mixed(1, 4, 1))).unwrap();
    let gap = vec![blank(4, 1), blank(6, 1)];
    assert!(matches!(
        log.append(stamped(&log, gap)),
        Err(Error::NonContiguous {
            expected: LogIndex(5),
            got: LogIndex(6)
        })
    ));
    assert_eq!(
        log.last_entry().unwrap().index,
        LogIndex(3),
        "nothing of the rejected batch landed"
    );
    let huge = records(4, 1, 1, 0, 9000);
    assert!(matches!(
        log.append(stamped(&log, vec![huge])),
        Err(Error::EntryTooLarge { .. })
    ));
    let mut skipping = stamped(&log, vec![records(4, 1, 1, 0, 0)]);
    if let Some(meta) = skipping[0].records.as_mut() {
        meta.base_offset = meta.base_offset.plus(1);
    }
    assert!(matches!(
        log.append(skipping),
        Err(Error::BadRecordEntry { .. })
    ));
    log.append(stamped(&log, vec![blank(4, 1)])).unwrap();
    assert_eq!(all(&log).len(), 4);
}

#[test]
fn flush_callbacks_report_durability_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), small()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    for i in 1..=500u64 {
        log.append(stamped(&log, vec![records(i, 1, 1, 0, 100)]))
            .unwrap();
        let tx = tx.clone();
        log.flush(move |r| tx.send((i, r.is_ok())).unwrap());
    }
    let got: Vec<_> = (0..500)
        .map(|_| rx.recv_timeout(std::time::Duration::from_secs(30)).unwrap())
        .collect();
    assert!(got.iter().all(|(_, ok)| *ok));
    assert!(
        got.windows(2).all(|w| w[0].0 < w[1].0),
        "callbacks in append order"
    );
}

#[test]
fn a_directory_is_opened_once() {
    let dir = tempfile::tempdir().unwrap();
    let _log = Log::open(dir.path(), small()).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small()),
        Err(Error::Locked { .. })
    ));
}

#[test]
fn damaged_purge_point_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut log = Log::open(dir.path(), small()).unwrap();
        log.append(stamped(&log, mixed(1, 50, 1))).unwrap();
        log.purge(
            EntryId {
                index: LogIndex(10),
                term: Term(1),
            },
            None,
        )
        .unwrap();
    }
    let path = dir.path().join("log_start");
    let mut bytes = fs::read(&path).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(
        Log::open(dir.path(), small()),
        Err(Error::CorruptState { .. })
    ));
}

/// Bytes of disk the segment files (`*.log`) of `dir` hold, as `du` counts them.
fn log_disk_bytes(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    segment_files(dir)
        .iter()
        .map(|p| fs::metadata(p).unwrap())
        .fold((0, 0), |(blocks, len), m| {
            (blocks + m.blocks() * 512, len + m.len())
        })
}

#[test]
fn disk_use_follows_data_with_the_default_segment_size() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    let step = config.preallocate_step_bytes;
    assert!(step <= 8 << 20 && config.segment_bytes >= 1 << 30);
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(stamped(&log, vec![records(1, 1, 1, 0, 100)]))
        .unwrap();
    log.sync().unwrap();
    let (disk, len) = log_disk_bytes(dir.path());
    assert!(
        disk <= step && len <= step,
        "an almost empty log holds {disk} bytes of disk ({len} long), more than one step of {step}"
    );

    // 10 MiB of entries: the file grows a step at a time, never far past the data.
    let entries: Vec<_> = (2..=161).map(|i| records(i, 1, 1, 0, 64 << 10)).collect();
    log.append(stamped(&log, entries)).unwrap();
    log.sync().unwrap();
    let data = 160 * (64 << 10) as u64;
    let (disk, len) = log_disk_bytes(dir.path());
    // The file system may count a few blocks of its own (an extent tree) beside the data.
    let fs_metadata = 64 << 10;
    assert!(
        len >= data && len <= data + 2 * step && disk <= len + fs_metadata,
        "{data} bytes of data in a file of {len} with {disk} on disk"
    );
    drop(log);

    // Reopened, the log takes appends into the same segment and reads back whole.
    let mut log = Log::open(dir.path(), config).unwrap();
    log.append(stamped(&log, vec![records(162, 2, 1, 0, 100)]))
        .unwrap();
    log.sync().unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    assert_eq!(all(&log).len(), 162);
}

#[test]
fn a_segment_preallocated_whole_gives_back_its_unused_disk_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig::default();
    {
        let mut log = Log::open(dir.path(), config).unwrap();
        log.append(stamped(&log, mixed(1, 20, 1))).unwrap();
        log.sync().unwrap();
    }
    // As an older version left it: the file as long as a whole segment.
    let file = segment_files(dir.path()).pop().unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(config.segment_bytes)
        .unwrap();
    let log = Log::open(dir.path(), config).unwrap();
    assert!(fs::metadata(&file).unwrap().len() <= config.preallocate_step_bytes);
    assert_eq!(all(&log).len(), 19);
}

fn process_threads() -> usize {
    fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn flusher_threads_do_not_grow_with_logs() {
    let root = tempfile::tempdir().unwrap();
    let before = process_threads();
    let mut logs = Vec::new();
    for i in 0..300 {
        let mut log = Log::open(root.path().join(format!("p{i}")), small()).unwrap();
        log.append(stamped(&log, mixed(1, 4, 1))).unwrap();
        logs.push(log);
    }
    for log in &logs {
        log.sync().unwrap();
    }
    let after = process_threads();
    // Other tests of this binary run beside this one and start a few threads of their own.
    assert!(
        after < before + 40,
        "{} threads for 300 open logs (before: {before})",
        after
    );
    for log in &logs {
        assert_eq!(all(log).len(), 3);
    }
}

/// What a rewrite keeps of a record entry's payload: its 16-byte header and every third byte.
fn shrunk(payload: &[u8]) -> Bytes {
    let mut out = payload[..16].to_vec();
    out.extend(payload[16..].iter().step_by(3));
    Bytes::from(out)
}

#[test]
fn rewritten_sealed_segments_keep_every_entry_and_survive_reopen_and_lost_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let appended = mixed(1, 400, 1);
    let mut log = Log::open(dir.path(), small()).unwrap();
    for chunk in appended.chunks(7) {
        log.append(stamped(&log, chunk.to_vec())).unwrap();
    }
    let before = all(&log);
    let sealed = log.reader().sealed_segments();
    assert!(sealed.len() >= 4, "{} sealed segments", sealed.len());
    let rewriter = log.rewriter();
    let mut rewritten = Vec::new();
    for seg in sealed.iter().step_by(2) {
        let prepared = rewriter
            .prepare(seg.base_index, |e| {
                Ok((e.offset_count > 0).then(|| shrunk(&e.payload)))
            })
            .unwrap()
            .expect("record entries changed");
        assert!(prepared.bytes_after() < prepared.bytes_before);
        assert!(log.install_rewrite(prepared).unwrap());
        rewritten.push(*seg);
    }
    // Nothing to change: no copy.
    let untouched = rewriter
        .prepare(sealed[1].base_index, |_| Ok(None))
        .unwrap();
    assert!(untouched.is_none());

    let expect = |got: &[StoredEntry]| {
        assert_eq!(got.len(), before.len());
        for (g, b) in got.iter().zip(&before) {
            assert_eq!(
                (
                    g.index,
                    g.term,
                    g.kind,
                    g.base_offset,
                    g.offset_count,
                    g.max_timestamp
                ),
                (
                    b.index,
                    b.term,
                    b.kind,
                    b.base_offset,
                    b.offset_count,
                    b.max_timestamp
                )
            );
            let in_rewritten = rewritten
                .iter()
                .any(|s| s.base_index <= g.index && g.index < s.end_index);
            if in_rewritten && g.offset_count > 0 {
                assert_eq!(g.payload, shrunk(&b.payload), "entry {}", g.index);
            } else {
                assert_eq!(g.payload, b.payload, "entry {}", g.index);
            }
        }
    };
    expect(&all(&log));
    // Reads by index and by offset find every entry through the new indexes.
    let reader = log.reader();
    for b in &before {
        let got = reader.entry_at(b.index).unwrap().expect("present");
        assert_eq!(got.index, b.index);
        if b.offset_count > 0 {
            let slices = reader
                .read_records(b.base_offset, 1, reader.next_offset())
                .unwrap();
            assert_eq!(&slices.batches[0][..8], &b.base_offset.0.to_be_bytes());
        }
    }
    assert_eq!(
        reader.offset_for_timestamp(1200).unwrap().map(|(o, _)| o),
        before
            .iter()
            .find(|e| e.offset_count > 0 && e.max_timestamp >= 1200)
            .map(|e| e.base_offset)
    );
    drop(reader);
    drop(log);

    let log = Log::open(dir.path(), small()).unwrap();
    expect(&all(&log));
    drop(log);
    // A crash between dropping an index and the rename, or a copy never installed: open walks
    // the segment without its index and removes the copy.
    let first = sealed[0];
    let stem = format!("{:020}", first.base_index.0);
    fs::remove_file(dir.path().join(format!("{stem}.index"))).unwrap();
    fs::write(
        dir.path().join(format!("{stem}.log.cleaned")),
        b"half a copy",
    )
    .unwrap();
    let log = Log::open(dir.path(), small()).unwrap();
    expect(&all(&log));
    assert!(!dir.path().join(format!("{stem}.log.cleaned")).exists());
}

#[test]
fn a_rewrite_of_a_segment_purged_meanwhile_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let appended = mixed(1, 200, 1);
    let mut log = Log::open(dir.path(), small()).unwrap();
    log.append(stamped(&log, appended)).unwrap();
    let first = log.reader().sealed_segments()[0];
    let prepared = log
        .rewriter()
        .prepare(first.base_index, |e| {
            Ok((e.offset_count > 0).then(|| shrunk(&e.payload)))
        })
        .unwrap()
        .expect("changed");
    let last = log
        .reader()
        .entry_at(first.end_index.prev().unwrap())
        .unwrap()
        .unwrap();
    log.purge(last.id(), None).unwrap();
    assert!(!log.install_rewrite(prepared).unwrap());
    let leftovers: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cleaned"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
