//! `raftka dump-log`: a summary of one partition directory (its Raft log) for operators and
//! tests, one line per entry. Reads through `storage::scan`, which never writes and takes no
//! lock; see there for what a dump of a live broker's directory may miss.
//!
//! Text output, one `key=value` line each, stable for scripts:
//! ```text
//! log dir=<path> segments=2 log_start_offset=0 next_offset=1200 first_index=1 last_index=130 purged_index=none committed_index=128 committed_term=2 torn_tail=none
//! entry index=1 term=1 kind=blank
//! entry index=2 term=1 kind=membership bytes=311
//! entry index=3 term=1 kind=records base_offset=0 count=10 crc=1a2b3c4d crc_ok=true bytes=1234
//! ```
//! `count` is the number of offsets the batch spans, `crc` the RecordBatch's own CRC field (hex),
//! `bytes` the payload length. A torn tail ends the text with a
//! `torn_tail path=<file> position=<byte> reason=<words_joined_by_underscores>` line.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::codec::{self, KIND_BLANK, KIND_LOG_START, KIND_MEMBERSHIP, KIND_RECORDS};
use super::log_store::{COMMITTED_FILE, load_committed};
use crate::record::RecordBatch;
use crate::storage::{self, StateFile, StoredEntry};
use crate::types::{KafkaOffset, LogIndex, Term};

/// Everything `dump-log` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogDump {
    pub dir: PathBuf,
    pub segments: usize,
    pub log_start_offset: KafkaOffset,
    pub next_offset: KafkaOffset,
    pub first_index: Option<LogIndex>,
    pub last_index: Option<LogIndex>,
    pub purged_index: Option<LogIndex>,
    /// The committed hint (`raft_committed`); it may lag the real commit by a second.
    pub committed_index: Option<LogIndex>,
    pub committed_term: Option<Term>,
    pub torn_tail: Option<TornTail>,
    pub entries: Vec<DumpEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TornTail {
    pub path: PathBuf,
    pub position: u64,
    pub reason: String,
}

/// One log entry. The record fields are `Some` for record entries only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DumpEntry {
    pub index: LogIndex,
    pub term: Term,
    pub kind: &'static str,
    pub base_offset: Option<KafkaOffset>,
    pub count: Option<u32>,
    pub crc: Option<u32>,
    pub crc_ok: Option<bool>,
    pub bytes: usize,
}

impl DumpEntry {
    fn new(entry: &StoredEntry) -> DumpEntry {
        let mut out = DumpEntry {
            index: entry.index,
            term: entry.term,
            kind: kind_name(entry.kind),
            base_offset: None,
            count: None,
            crc: None,
            crc_ok: None,
            bytes: entry.payload.len(),
        };
        if entry.kind == KIND_RECORDS {
            out.base_offset = Some(entry.base_offset);
            out.count = Some(entry.offset_count);
            // A payload that is no batch still shows its place in the log, without a CRC.
            if let Ok(batch) = RecordBatch::new(entry.payload.clone()) {
                out.crc = Some(batch.crc());
                out.crc_ok = Some(batch.crc_matches());
            }
        }
        out
    }
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        KIND_BLANK => "blank",
        KIND_MEMBERSHIP => "membership",
        KIND_RECORDS => "records",
        KIND_LOG_START => "log-start",
        _ => "unknown",
    }
}

/// Reads the partition directory `dir`.
pub fn dump_log(dir: &Path) -> Result<LogDump, storage::Error> {
    if !dir.is_dir() {
        return Err(storage::Error::io(
            dir,
            io::Error::new(io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let mut entries = Vec::new();
    let summary = storage::scan(dir, |entry| {
        entries.push(DumpEntry::new(&entry));
        Ok(())
    })?;
    let committed =
        load_committed(&StateFile::new(dir.join(COMMITTED_FILE))).map(|id| codec::entry_id(&id));
    Ok(LogDump {
        dir: dir.to_path_buf(),
        segments: summary.segments,
        log_start_offset: summary.log_start_offset,
        next_offset: summary.next_offset,
        first_index: summary.first.map(|e| e.index),
        last_index: summary.last.map(|e| e.index),
        purged_index: summary.purged.map(|e| e.index),
        committed_index: committed.map(|e| e.index),
        committed_term: committed.map(|e| e.term),
        torn_tail: summary.torn_tail.map(|t| TornTail {
            path: t.path,
            position: t.position,
            reason: t.reason.to_string(),
        }),
        entries,
    })
}

impl LogDump {
    /// The text form described in the module doc.
    pub fn write_text(&self, out: &mut impl Write) -> io::Result<()> {
        fn opt(v: Option<impl std::fmt::Display>) -> String {
            v.map_or_else(|| "none".to_string(), |v| v.to_string())
        }
        writeln!(
            out,
            "log dir={} segments={} log_start_offset={} next_offset={} first_index={} last_index={} purged_index={} committed_index={} committed_term={} torn_tail={}",
            self.dir.display(),
            self.segments,
            self.log_start_offset,
            self.next_offset,
            opt(self.first_index),
            opt(self.last_index),
            opt(self.purged_index),
            opt(self.committed_index),
            opt(self.committed_term),
            if self.torn_tail.is_some() {
                "yes"
            } else {
                "none"
            },
        )?;
        for e in &self.entries {
            write!(
                out,
                "entry index={} term={} kind={}",
                e.index, e.term, e.kind
            )?;
            if let (Some(base), Some(count)) = (e.base_offset, e.count) {
                write!(out, " base_offset={base} count={count}")?;
            }
            if let (Some(crc), Some(ok)) = (e.crc, e.crc_ok) {
                write!(out, " crc={crc:08x} crc_ok={ok}")?;
            }
            writeln!(out, " bytes={}", e.bytes)?;
        }
        if let Some(t) = &self.torn_tail {
            writeln!(
                out,
                "torn_tail path={} position={} reason={}",
                t.path.display(),
                t.position,
                t.reason.replace(' ', "_")
            )?;
        }
        Ok(())
    }

    /// The same as one JSON document.
    pub fn write_json(&self, out: &mut impl Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, self).map_err(io::Error::other)?;
        writeln!(out)
    }
}
