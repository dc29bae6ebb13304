//! Power cuts at random points, on the simulated disk of `fs_sim.rs`: a seeded run of appends,
//! flushes, cuts, purges and committed hints, a crash somewhere (the power goes before the Nth
//! file call, or a call fails and the log stops, or a `kill -9`), a reboot from what the disk
//! kept, and a reopen that must
//! - succeed (no crash point may make the log refuse to open),
//! - hold every entry whose flush was reported durable, with the same bytes,
//! - hold nothing that was never appended, nor anything a finished cut or purge removed,
//! - keep a committed hint within the log.
//!
//! A failing seed is printed; `RAFTKA_POWER_SEED=<seed>` replays it alone and
//! `RAFTKA_POWER_SEEDS=<n>` runs more of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use bytes::Bytes;

use super::format::EntryHeader;
use super::fs_sim::{Rng, SimDisk};
use super::log::{Log, LogConfig};
use super::state_file::StateFile;
use super::{AppendEntry, EntryId, Error, RecordsMeta, StoredEntry};
use crate::types::{KafkaOffset, LogIndex, Term};

const CONFIG: LogConfig = LogConfig {
    segment_bytes: 4096,
    preallocate_step_bytes: 1024,
    index_interval_bytes: 256,
};
/// Largest file the simulated disk holds (a segment, its index files, state files).
const FILE_BYTES: usize = 8192;
const DEFAULT_SEEDS: u64 = 1000;
const LIVES: usize = 4;
const OPS_PER_LIFE: usize = 40;
const HINT_FILE: &str = "raft_committed";

fn dir() -> PathBuf {
    PathBuf::from("/sim/partition-0")
}

/// An entry as the test appended it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expected {
    term: u64,
    kind: u8,
    base_offset: i64,
    offset_count: u32,
    max_timestamp: i64,
    payload: Bytes,
}

impl Expected {
    fn matches(&self, got: &StoredEntry) -> bool {
        self.term == got.term.0
            && self.kind == got.kind
            && self.base_offset == got.base_offset.0
            && self.offset_count == got.offset_count
            && self.max_timestamp == got.max_timestamp
            && self.payload == got.payload
    }
}

type Entries = BTreeMap<u64, Expected>;

/// What the log may hold after a crash.
#[derive(Debug, Clone)]
struct Model {
    /// What the log holds if every operation reached the disk; the first is the newest. A cut
    /// or purge a crash interrupted leaves the one before it possible too.
    versions: Vec<Entries>,
    /// Entries up to here (and after `may_be_purged`) must be there: their flush was reported,
    /// or a reopen found them.
    durable_through: u64,
    /// Entries up to here must be gone (a purge returned).
    purged_through: Option<u64>,
    /// Entries up to here may be gone (a purge started).
    may_be_purged: Option<u64>,
    /// Entries from here on may be gone (a cut started but did not return).
    cut_from: Option<u64>,
    term: u64,
}

impl Model {
    fn current(&self) -> &Entries {
        &self.versions[0]
    }

    fn last(&self) -> Option<u64> {
        self.current().keys().next_back().copied()
    }
}

/// Bytes 1..=255 only: a torn write shows as a zeroed sector, and payload bytes never are.
fn payload(rng: &mut Rng) -> Vec<u8> {
    let len = rng.below(700) as usize;
    (0..len).map(|_| 1 + rng.below(255) as u8).collect()
}

fn next_entry(rng: &mut Rng, index: u64, term: u64, next_offset: i64) -> (AppendEntry, Expected) {
    let with_records = rng.chance(80);
    let body = payload(rng);
    let records = (with_records && !body.is_empty()).then(|| RecordsMeta {
        base_offset: KafkaOffset(next_offset),
        offset_count: 1 + rng.below(5) as u32,
        max_timestamp: 1_000 + index as i64,
    });
    let kind = u8::from(records.is_some());
    let body = Bytes::from(body);
    let split = rng.below(body.len() as u64 + 1) as usize;
    let entry = AppendEntry {
        index: LogIndex(index),
        term: Term(term),
        kind,
        records,
        payload: [body.slice(..split), body.slice(split..)],
    };
    let expected = Expected {
        term,
        kind,
        base_offset: next_offset,
        offset_count: records.map_or(0, |m| m.offset_count),
        max_timestamp: records.map_or(i64::MIN, |m| m.max_timestamp),
        payload: body,
    };
    (entry, expected)
}

fn hint_file(disk: &SimDisk) -> StateFile {
    StateFile::on(disk.fs(), dir().join(HINT_FILE))
}

fn encode_hint(id: EntryId) -> Vec<u8> {
    let mut out = id.index.0.to_le_bytes().to_vec();
    out.extend_from_slice(&id.term.0.to_le_bytes());
    out
}

fn decode_hint(bytes: &[u8]) -> Option<EntryId> {
    let b: &[u8; 16] = bytes.try_into().ok()?;
    Some(EntryId {
        index: LogIndex(u64::from_le_bytes(b[..8].try_into().ok()?)),
        term: Term(u64::from_le_bytes(b[8..].try_into().ok()?)),
    })
}

/// Waits for a flush; `true` if it reported the appends durable.
fn flushed(log: &Log) -> bool {
    let (tx, rx) = mpsc::channel();
    log.flush(move |r| {
        let _ = tx.send(r.is_ok());
    });
    rx.recv().unwrap_or(false)
}

/// One life of the process: random operations until the budget ends or an operation fails.
fn live(rng: &mut Rng, disk: &SimDisk, log: &mut Log, model: &mut Model) {
    for _ in 0..OPS_PER_LIFE {
        let roll = rng.below(100);
        let ok = if roll < 55 {
            let count = 1 + rng.below(4);
            let first = model
                .last()
                .or(log.last_entry().map(|e| e.index.0))
                .map_or(1, |l| l + 1);
            let mut next_offset = log.next_offset().0;
            let mut batch = Vec::new();
            for index in first..first + count {
                let (entry, expected) = next_entry(rng, index, model.term, next_offset);
                next_offset += i64::from(expected.offset_count);
                model.versions[0].insert(index, expected);
                batch.push(entry);
            }
            log.append(batch).is_ok()
        } else if roll < 80 {
            let last = model.last();
            let ok = flushed(log);
            if ok && let Some(last) = last {
                model.durable_through = model.durable_through.max(last);
            }
            ok
        } else if roll < 88 {
            let Some(last) = model.last() else { continue };
            let first = *model.current().keys().next().expect("not empty");
            let kept = first - 1 + rng.below(last - first + 2);
            let kept = (kept >= first).then_some(kept);
            let cut_from = kept.map_or(first, |k| k + 1);
            let mut after = model.current().clone();
            after.retain(|&i, _| i < cut_from);
            model.versions.insert(0, after);
            model.cut_from = Some(cut_from);
            model.term += 1;
            if log.truncate_after(kept.map(LogIndex)).is_err() {
                false
            } else {
                model.versions.truncate(1);
                model.cut_from = None;
                model.durable_through = model.durable_through.min(cut_from - 1);
                true
            }
        } else if roll < 92 {
            // Raft purges only what it applied, which this node had made durable.
            let first = model.current().keys().next().copied();
            let (Some(first), true) = (first, model.durable_through > 0) else {
                continue;
            };
            if first > model.durable_through {
                continue;
            }
            let upto = first + rng.below(model.durable_through - first + 1);
            let term = model.current()[&upto].term;
            let mut after = model.current().clone();
            after.retain(|&i, _| i > upto);
            model.versions.insert(0, after);
            model.may_be_purged = Some(upto);
            let upto = EntryId::new(LogIndex(upto), Term(term));
            if log.purge(upto, None).is_err() {
                false
            } else {
                model.versions.truncate(1);
                model.purged_through = Some(upto.index.0);
                true
            }
        } else {
            let Some(last) = model.last() else { continue };
            let first = *model.current().keys().next().expect("not empty");
            let index = first + rng.below(last - first + 1);
            let id = EntryId::new(LogIndex(index), Term(model.current()[&index].term));
            hint_file(disk).store_unsynced(&encode_hint(id)).is_ok()
        };
        if trace() {
            eprintln!(
                "op {roll}: ok {ok}, last {:?}, durable {}, crashed {}",
                model.last(),
                model.durable_through,
                disk.crashed()
            );
        }
        if !ok || disk.crashed() {
            return;
        }
    }
}

/// Reopens after a crash and checks the log against the model; the model then becomes what
/// the reopened log holds (all of it durable now).
fn reopen_and_check(disk: &SimDisk, model: &mut Model) -> Result<Log, String> {
    let log = Log::open_on(disk.fs(), &dir(), CONFIG).map_err(|e| format!("open failed: {e}"))?;
    let got = log
        .reader()
        .entries(..)
        .map_err(|e| format!("reading back failed: {e}"))?;
    let (LogIndex(first), LogIndex(end)) = log.reader().index_bounds();
    if got.len() as u64 != end - first || got.iter().zip(first..).any(|(e, i)| e.index.0 != i) {
        return Err(format!("entries are not contiguous from {first} to {end}"));
    }
    let version = model
        .versions
        .iter()
        .find(|v| {
            got.iter()
                .all(|e| v.get(&e.index.0).is_some_and(|x| x.matches(e)))
        })
        .ok_or_else(|| {
            let bad = got.iter().find(|e| {
                !model
                    .current()
                    .get(&e.index.0)
                    .is_some_and(|x| x.matches(e))
            });
            let bad = bad.map(|e| (e.index, e.term, e.payload.len()));
            let versions: Vec<_> = model
                .versions
                .iter()
                .map(|v| (v.keys().next().copied(), v.keys().next_back().copied()))
                .collect();
            format!(
                "an entry that was never appended (or was cut or purged): {bad:?}; the log holds \
                 {first}..{end}, the model {versions:?}, purged through {:?}",
                model.purged_through
            )
        })?
        .clone();
    if let Some(p) = model.purged_through
        && first <= p
        && !got.is_empty()
    {
        return Err(format!(
            "entries up to {p} were purged, the log starts at {first}"
        ));
    }
    let floor = model.may_be_purged.unwrap_or(0);
    let must_until = model
        .durable_through
        .min(model.cut_from.map_or(u64::MAX, |c| c - 1));
    for index in floor + 1..=must_until {
        if model.current().contains_key(&index) && !got.iter().any(|e| e.index.0 == index) {
            return Err(format!(
                "entry {index} was reported durable (through {}) but is gone; the log holds {first}..{end}",
                model.durable_through
            ));
        }
    }
    let expected_next = got.last().map(StoredEntry::end_offset);
    if let Some(next) = expected_next
        && log.next_offset() != next
    {
        return Err(format!(
            "next offset {} after an entry ending at {next}",
            log.next_offset()
        ));
    }
    // The committed hint never points past the log.
    let hint = hint_file(disk)
        .load()
        .ok()
        .flatten()
        .and_then(|b| decode_hint(&b));
    let clamped = log
        .clamp_to_log(hint)
        .map_err(|e| format!("clamping the hint: {e}"))?;
    if let Some(c) = clamped {
        let beyond = log.last_entry().is_none_or(|l| c.index > l.index);
        let other_term = got.iter().any(|e| e.index == c.index && e.term != c.term);
        if beyond || other_term {
            return Err(format!(
                "committed hint {c:?} is not in the log (last {:?})",
                log.last_entry()
            ));
        }
    }

    let mut now: Entries = version;
    now.retain(|i, _| got.iter().any(|e| e.index.0 == *i));
    *model = Model {
        durable_through: got.last().map_or(0, |e| e.index.0),
        purged_through: log.last_purged().map(|p| p.index.0),
        may_be_purged: log.last_purged().map(|p| p.index.0),
        cut_from: None,
        versions: vec![now],
        term: model.term + 1,
    };
    Ok(log)
}

fn run_seed(seed: u64) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let disk = SimDisk::new(seed, FILE_BYTES);
    let mut model = Model {
        versions: vec![Entries::new()],
        durable_through: 0,
        purged_through: None,
        may_be_purged: None,
        cut_from: None,
        term: 1,
    };
    let mut log = Log::open_on(disk.fs(), &dir(), CONFIG).map_err(|e| e.to_string())?;
    for life in 0..LIVES {
        // How this life ends: the power goes at a call, a call fails (the log must stop, then
        // the power goes), or the process is killed after its last operation.
        let fate = rng.below(10);
        let calls = 5 + rng.below(400);
        match fate {
            0..=5 => disk.cut_power_in(calls),
            6 | 7 => disk.fail_call_in(calls),
            _ => {}
        }
        live(&mut rng, &disk, &mut log, &mut model);
        match fate {
            8 => disk.kill_now(),
            _ => disk.cut_power_now(),
        }
        drop(log);
        disk.restart(|_| {});
        log = reopen_and_check(&disk, &mut model).map_err(|e| format!("life {life}: {e}"))?;
    }
    Ok(())
}

fn trace() -> bool {
    std::env::var("RAFTKA_POWER_SEED").is_ok()
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("RAFTKA_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("RAFTKA_POWER_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEEDS);
    (0..count).collect()
}

#[test]
fn power_cuts_at_random_points_lose_nothing_synced_and_trust_nothing_unsynced() {
    let mut failures = Vec::new();
    for seed in seeds() {
        if let Err(e) = run_seed(seed) {
            eprintln!("seed {seed} failed (replay: RAFTKA_POWER_SEED={seed}): {e}");
            failures.push(seed);
        }
    }
    assert!(failures.is_empty(), "failing seeds: {failures:?}");
}

/// Positions of the frames in a segment file's bytes that carry a payload.
fn frames_with_payload(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(h) = bytes.get(pos..).and_then(EntryHeader::decode) {
        let len = h.frame_len() as usize;
        if pos + len > bytes.len() {
            break;
        }
        if h.payload_len > 0 {
            out.push((pos, len));
        }
        pos += len;
    }
    out
}

fn is_segment(path: &Path) -> bool {
    path.extension().is_some_and(|x| x == "log")
}

#[test]
fn a_flipped_bit_in_synced_data_is_corruption_never_a_cut() {
    for seed in 0..100 {
        let mut rng = Rng::new(seed);
        let disk = SimDisk::new(seed, FILE_BYTES);
        let mut log = Log::open_on(disk.fs(), &dir(), CONFIG).unwrap();
        let count = 5 + rng.below(60);
        let mut next_offset = 0;
        for index in 1..=count {
            let (entry, expected) = next_entry(&mut rng, index, 1, next_offset);
            next_offset += i64::from(expected.offset_count);
            log.append([entry]).unwrap();
        }
        assert!(flushed(&log));
        drop(log);
        // A bit flips somewhere in a synced entry, past the fields the CRC does not cover
        // (magic, kind, length): in its CRC, its header or its payload.
        let mut flipped = None;
        disk.restart(|image| {
            let files: Vec<PathBuf> = image.keys().filter(|p| is_segment(p)).cloned().collect();
            let file = &files[rng.below(files.len() as u64) as usize];
            let bytes = image.get_mut(file).expect("listed");
            let frames = frames_with_payload(bytes);
            if frames.is_empty() {
                return;
            }
            let (pos, len) = frames[rng.below(frames.len() as u64) as usize];
            let at = pos + 6 + rng.below((len - 6) as u64) as usize;
            bytes[at] ^= 1 << rng.below(8);
            flipped = Some((file.clone(), at));
        });
        let Some((file, at)) = flipped else { continue };
        let outcome = Log::open_on(disk.fs(), &dir(), CONFIG)
            .and_then(|log| log.reader().entries(..).map(|e| (log, e)));
        match outcome {
            Err(Error::Corrupt { path, .. }) if path == file => {}
            Err(e) => panic!("seed {seed}: flip at {} byte {at}: {e}", file.display()),
            Ok((_, entries)) => panic!(
                "seed {seed}: flip at {} byte {at} went unnoticed; {} of {count} entries served",
                file.display(),
                entries.len()
            ),
        }
    }
}
