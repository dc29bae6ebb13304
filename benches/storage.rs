//! Storage-layer benchmark (no Raft): durable appends, fetch-style reads and recovery, each
//! printed beside a baseline measured in the same run, on the same filesystem.
//! `benches/README.md` keeps the command and the figures.
//!
//! Sizes come from the environment: `RAFTKA_BENCH_APPEND_MIB` (payload MiB per append run,
//! default 256), `RAFTKA_BENCH_READ_PASSES` (default 4), `RAFTKA_BENCH_RECOVERY_MIB` (default
//! 1024), `RAFTKA_BENCH_REPEAT` (best of N append runs, default 3), `RAFTKA_BENCH_DIR` (where
//! the temp directory goes; default the system temp dir).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use raftka::storage::{AppendEntry, Log, LogConfig, RecordsMeta};
use raftka::types::{KafkaOffset, LogIndex, Term};

const MIB: usize = 1 << 20;
const IN_FLIGHT: usize = 64;
const KIND_RECORDS: u8 = 3;
/// Bytes a storage frame adds to each payload (`storage/format.rs`, `ENTRY_HEADER_BYTES`).
const FRAME_HEADER_BYTES: usize = 46;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Pseudo-random bytes (xorshift), so nothing along the way can shortcut repeated content.
fn payload(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / 1e6 / took.as_secs_f64()
}

/// Baseline: sequential `write`s of the payloads with one `fdatasync` per `sync_bytes` written
/// (1 MiB for the baseline proper).
fn raw_append(path: &Path, data: &Bytes, count: usize, sync_bytes: usize) -> Duration {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(path)
        .expect("create raw file");
    let start = Instant::now();
    let mut unsynced = 0;
    for _ in 0..count {
        file.write_all(data).expect("write");
        unsynced += data.len();
        if unsynced >= sync_bytes {
            file.sync_data().expect("fdatasync");
            unsynced = 0;
        }
    }
    file.sync_data().expect("fdatasync");
    start.elapsed()
}

/// Counts appends not yet acknowledged durable by the flusher, and how the acknowledgements
/// arrive: the flusher runs all callbacks of one sync back to back, so bursts count syncs.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    changed: Condvar,
    acks: Mutex<Vec<Instant>>,
}

impl InFlight {
    fn acquire(&self, limit: usize) {
        let mut n = self.count.lock().expect("lock");
        while *n >= limit {
            n = self.changed.wait(n).expect("wait");
        }
        *n += 1;
    }

    fn release(&self) {
        self.acks.lock().expect("lock").push(Instant::now());
        *self.count.lock().expect("lock") -= 1;
        self.changed.notify_all();
    }

    /// Groups of acknowledgements less than 20 µs apart: about one per sync.
    fn bursts(&self) -> usize {
        let acks = self.acks.lock().expect("lock");
        1 + acks
            .windows(2)
            .filter(|w| w[1] - w[0] > Duration::from_micros(20))
            .count()
    }
}

/// The log: one record entry per payload, `flush` after each, at most 64 unacknowledged.
/// Returns the time and about how many syncs acknowledged the appends.
fn log_append(log: &mut Log, data: &Bytes, count: usize) -> (Duration, usize) {
    let in_flight = Arc::new(InFlight::default());
    let first = log.last_entry().map_or(1, |e| e.index.0 + 1);
    let start = Instant::now();
    for i in 0..count as u64 {
        in_flight.acquire(IN_FLIGHT);
        // As the Raft layer hands batches down: a fresh prefix holding the assigned base offset
        // (which the reads below look at), the rest of the batch shared, never copied.
        let base_offset = log.next_offset();
        let entry = AppendEntry {
            index: LogIndex(first + i),
            term: Term(1),
            kind: KIND_RECORDS,
            records: Some(RecordsMeta {
                base_offset,
                offset_count: 1,
                max_timestamp: i as i64,
            }),
            payload: [
                Bytes::copy_from_slice(&base_offset.0.to_be_bytes()),
                data.slice(8..),
            ],
        };
        log.append([entry]).expect("append");
        let done = Arc::clone(&in_flight);
        log.flush(move |result| {
            result.expect("flush");
            done.release();
        });
    }
    in_flight.acquire(1);
    (start.elapsed(), in_flight.bursts())
}

/// Fetch-style scan of every record entry, 1 MiB per read; with `copy_out` the slices are
/// copied into a response buffer as a Fetch encoder does. Returns the bytes read.
fn scan(log: &Log, copy_out: bool, out: &mut Vec<u8>) -> usize {
    let reader = log.reader();
    let end = reader.next_offset();
    let mut offset = reader.log_start_offset();
    let mut total = 0;
    while offset < end {
        let slices = reader.read_records(offset, MIB, end).expect("read");
        let last = slices.batches.last().expect("records below the end");
        let mut base = [0u8; 8];
        base.copy_from_slice(&last[..8]);
        offset = KafkaOffset(i64::from_be_bytes(base) + 1);
        total += slices.bytes;
        if copy_out {
            out.clear();
            for batch in &slices.batches {
                out.extend_from_slice(batch);
            }
            std::hint::black_box(&out);
        } else {
            std::hint::black_box(&slices);
        }
    }
    total
}

/// Baseline: memcpy of `source` in 1 MiB chunks into a response-sized buffer.
fn memcpy_pass(source: &[u8], out: &mut [u8]) -> usize {
    for chunk in source.chunks(MIB) {
        out[..chunk.len()].copy_from_slice(chunk);
        std::hint::black_box(&out);
    }
    source.len()
}

fn row(what: &str, figure: String, baseline: String, ratio: String, target: &str) {
    println!("| {what:<44} | {figure:>14} | {baseline:>18} | {ratio:>7} | {target:<9} |");
}

fn append_and_read(root: &Path, payload_len: usize, settings: &Settings) {
    let count = settings.append_mib * MIB / payload_len;
    let data = payload(payload_len, payload_len as u64);
    let bytes = count * payload_len;
    let window = IN_FLIGHT * payload_len;
    let (mut best_raw, mut best_window, mut best_log) =
        (Duration::MAX, Duration::MAX, Duration::MAX);
    let mut kept = None;
    let mut syncs = 0;
    for run in 0..settings.repeat {
        let raw_path = root.join(format!("raw-{payload_len}-{run}"));
        best_raw = best_raw.min(raw_append(&raw_path, &data, count, MIB));
        best_window = best_window.min(raw_append(&raw_path, &data, count, window));
        std::fs::remove_file(&raw_path).expect("remove raw file");
        let dir = root.join(format!("log-{payload_len}-{run}"));
        let mut log = Log::open(&dir, LogConfig::default()).expect("open log");
        let (took, bursts) = log_append(&mut log, &data, count);
        if took < best_log {
            (best_log, syncs) = (took, bursts);
        }
        if let Some((old_dir, old_log)) = kept.replace((dir, log)) {
            drop(old_log);
            std::fs::remove_dir_all::<&Path>(&old_dir).expect("remove log dir");
        }
    }
    let (log_mb, raw_mb) = (mb_per_s(bytes, best_log), mb_per_s(bytes, best_raw));
    row(
        &format!(
            "durable append {} KiB, {IN_FLIGHT} in flight",
            payload_len >> 10
        ),
        format!("{log_mb:.0} MB/s"),
        format!("{raw_mb:.0} MB/s raw"),
        format!("{:.0}%", 100.0 * log_mb / raw_mb),
        ">= 70%",
    );
    println!(
        "| {:<44} | {:>14} | {:>18} | {:>7} | {:<9} |",
        "  (appends acknowledged per sync, about)",
        format!("{:.1}", count as f64 / syncs as f64),
        format!("{} per MiB raw", MIB / payload_len),
        "-",
        "info"
    );
    if window < MIB {
        // What any group commit can reach when only 64 appends may wait for one sync.
        let window_mb = mb_per_s(bytes, best_window);
        row(
            &format!("  (raw, fdatasync per {} KiB window)", window >> 10),
            format!("{log_mb:.0} MB/s"),
            format!("{window_mb:.0} MB/s raw"),
            format!("{:.0}%", 100.0 * log_mb / window_mb),
            "info",
        );
    }

    let Some((dir, log)) = kept else { return };
    let mut out = Vec::with_capacity(2 * MIB);
    scan(&log, true, &mut out); // warm the mappings and the page cache
    let source = vec![7u8; bytes];
    let mut dest = vec![0u8; MIB];
    let time = |f: &mut dyn FnMut() -> usize| {
        let start = Instant::now();
        let read: usize = (0..settings.read_passes).map(|_| f()).sum();
        mb_per_s(read, start.elapsed())
    };
    let copied = time(&mut || scan(&log, true, &mut out));
    let sliced = time(&mut || scan(&log, false, &mut out));
    let memcpy = time(&mut || memcpy_pass(&source, &mut dest));
    for (how, figure) in [("copied out", copied), ("zero-copy slices", sliced)] {
        row(
            &format!("fetch read {} KiB batches, {how}", payload_len >> 10),
            format!("{figure:.0} MB/s"),
            format!("{memcpy:.0} MB/s memcpy"),
            format!("{:.0}%", 100.0 * figure / memcpy),
            ">= 50%",
        );
    }
    drop(log);
    std::fs::remove_dir_all(&dir).expect("remove log dir");
}

fn recovery(root: &Path, settings: &Settings) {
    let dir = root.join("recovery");
    let entry_len = 16 << 10;
    let data = payload(entry_len, 99);
    // Stay just under one segment: the case is a full active segment, the worst to recover.
    let count = (settings.recovery_mib * MIB - MIB) / (entry_len + 64);
    {
        let mut log = Log::open(&dir, LogConfig::default()).expect("open log");
        for chunk in (0..count as u64).collect::<Vec<_>>().chunks(256) {
            let entries = chunk.iter().map(|i| AppendEntry {
                index: LogIndex(i + 1),
                term: Term(1),
                kind: KIND_RECORDS,
                records: Some(RecordsMeta {
                    base_offset: KafkaOffset(*i as i64),
                    offset_count: 1,
                    max_timestamp: *i as i64,
                }),
                payload: [data.clone(), Bytes::new()],
            });
            log.append(entries).expect("append");
        }
        log.sync().expect("sync");
    }
    let written = count * (entry_len + FRAME_HEADER_BYTES);
    let mut opens = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let log = Log::open(&dir, LogConfig::default()).expect("reopen");
        opens.push(start.elapsed());
        assert_eq!(
            log.last_entry().map(|e| e.index),
            Some(LogIndex(count as u64))
        );
    }
    opens.sort();
    let segment = std::fs::read_dir(&dir)
        .expect("list")
        .map(|e| e.expect("entry").path())
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("a segment");
    let start = Instant::now();
    let mut file = File::open(&segment).expect("open segment");
    let mut buf = vec![0u8; MIB];
    let mut left = written;
    while left > 0 {
        let n = file.read(&mut buf[..left.min(MIB)]).expect("read");
        assert!(n > 0, "segment shorter than what was written");
        left -= n;
    }
    let full_scan = start.elapsed();
    row(
        &format!("open (recovery), {} MiB in one segment", written >> 20),
        format!("{:.1} ms", opens[2].as_secs_f64() * 1e3),
        format!("{:.0} ms full read", full_scan.as_secs_f64() * 1e3),
        "-".to_string(),
        "<= 100 ms",
    );
    println!(
        "\nrecovery: median of 5 opens {:.1} ms (min {:.1}, max {:.1}); page cache warm",
        opens[2].as_secs_f64() * 1e3,
        opens[0].as_secs_f64() * 1e3,
        opens[4].as_secs_f64() * 1e3,
    );
}

struct Settings {
    append_mib: usize,
    read_passes: usize,
    recovery_mib: usize,
    repeat: usize,
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let settings = Settings {
        append_mib: env_usize("RAFTKA_BENCH_APPEND_MIB", 256).max(1),
        read_passes: env_usize("RAFTKA_BENCH_READ_PASSES", 4).max(1),
        recovery_mib: env_usize("RAFTKA_BENCH_RECOVERY_MIB", 1024).clamp(2, 4095),
        repeat: env_usize("RAFTKA_BENCH_REPEAT", 3).max(1),
    };
    let root = match std::env::var("RAFTKA_BENCH_DIR") {
        Ok(dir) => tempfile::tempdir_in(dir),
        Err(_) => tempfile::tempdir(),
    }
    .expect("temp dir");
    println!("storage benchmark in {}", root.path().display());
    println!(
        "append {} MiB per run (best of {}), {} read passes, {} MiB recovery log\n",
        settings.append_mib, settings.repeat, settings.read_passes, settings.recovery_mib
    );
    println!(
        "| {:<44} | {:>14} | {:>18} | {:>7} | {:<9} |",
        "what", "raftka", "baseline (same run)", "ratio", "target"
    );
    println!(
        "|{:-<46}|{:-<16}|{:-<20}|{:-<9}|{:-<11}|",
        "", "", "", "", ""
    );
    for payload_len in [1 << 10, 16 << 10] {
        append_and_read(root.path(), payload_len, &settings);
    }
    recovery(root.path(), &settings);
}
