//! Random operation sequences against an in-memory model of the log: after every step, and
//! after every reopen, the files must say exactly what the model says.

use bytes::Bytes;
use proptest::prelude::*;
use raftka::storage::{AppendEntry, EntryId, Log, LogConfig, RecordsMeta};
use raftka::types::{KafkaOffset, LogIndex, Term};

#[derive(Debug, Clone)]
enum Op {
    /// Append `n` entries; `sizes` drives payload sizes, `blank` marks entries without records.
    Append {
        n: usize,
        size: usize,
        blank_every: usize,
    },
    /// Keep this fraction (per mille) of the present entries.
    Truncate {
        keep_per_mille: u32,
    },
    /// Purge this fraction (per mille) of the present entries (may run past the end).
    Purge {
        per_mille: u32,
    },
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1..40usize, 0..700usize, 1..6usize)
            .prop_map(|(n, size, blank_every)| Op::Append { n, size, blank_every }),
        1 => (0..1000u32).prop_map(|keep_per_mille| Op::Truncate { keep_per_mille }),
        1 => (0..1200u32).prop_map(|per_mille| Op::Purge { per_mille }),
        1 => Just(Op::Reopen),
    ]
}

#[derive(Debug, Clone)]
struct ModelEntry {
    index: LogIndex,
    term: Term,
    base_offset: KafkaOffset,
    count: u32,
    payload: Bytes,
}

#[derive(Debug, Default)]
struct Model {
    entries: Vec<ModelEntry>,
    purged: Option<EntryId>,
    next_offset: KafkaOffset,
    log_start_offset: KafkaOffset,
    term: Term,
}

impl Model {
    fn next_index(&self) -> LogIndex {
        self.entries
            .last()
            .map(|e| e.index.next())
            .or(self.purged.map(|p| p.index.next()))
            .unwrap_or(LogIndex(1))
    }
}

fn check(log: &Log, model: &Model) {
    let got = log.reader().entries(..).unwrap();
    assert_eq!(got.len(), model.entries.len());
    for (g, m) in got.iter().zip(&model.entries) {
        assert_eq!(
            (g.index, g.term, g.base_offset, g.offset_count),
            (m.index, m.term, m.base_offset, m.count)
        );
        assert_eq!(g.payload, m.payload);
    }
    assert_eq!(log.next_offset(), model.next_offset);
    assert_eq!(log.log_start_offset(), model.log_start_offset);
    assert_eq!(log.last_purged(), model.purged);
    // Every record offset is found by a read starting at it.
    let reader = log.reader();
    for m in model.entries.iter().filter(|m| m.count > 0) {
        let got = reader
            .read_records(
                KafkaOffset(m.base_offset.plus(m.count).0 - 1),
                1,
                model.next_offset,
            )
            .unwrap();
        assert_eq!(got.batches.len(), 1);
        assert_eq!(got.batches[0], m.payload);
    }
}

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        ..LogConfig::DEFAULT
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn log_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut log = Log::open(dir.path(), config()).unwrap();
        let mut model = Model::default();
        for op in ops {
            match op {
                Op::Append { n, size, blank_every } => {
                    model.term = Term(model.term.0 + 1);
                    let mut batch = Vec::new();
                    let first = model.next_index();
                    for (i, index) in (first.0..first.0 + n as u64).map(LogIndex).enumerate() {
                        let is_blank = i % blank_every == blank_every - 1;
                        let len = if is_blank { 0 } else { 16 + (size + i * 13) % 700 };
                        let payload = Bytes::from((0..len).map(|b| (b ^ i) as u8).collect::<Vec<_>>());
                        let count = if is_blank { 0 } else { 1 + (i as u32 % 4) };
                        batch.push(AppendEntry {
                            index,
                            term: model.term,
                            kind: if is_blank { 0 } else { 2 },
                            records: (!is_blank).then_some(RecordsMeta { base_offset: model.next_offset, offset_count: count, max_timestamp: index.0 as i64 }),
                            payload: [payload.clone(), Bytes::new()],
                        });
                        model.entries.push(ModelEntry { index, term: model.term, base_offset: model.next_offset, count, payload });
                        model.next_offset = model.next_offset.plus(count);
                    }
                    log.append(batch).unwrap();
                }
                Op::Truncate { keep_per_mille } => {
                    let keep = model.entries.len() * keep_per_mille as usize / 1000;
                    let last_kept = if keep == 0 { model.purged.map(|p| p.index) } else { Some(model.entries[keep - 1].index) };
                    model.entries.truncate(keep);
                    model.next_offset = model.entries.last().map_or(model.log_start_offset, |e| e.base_offset.plus(e.count));
                    log.truncate_after(last_kept).unwrap();
                }
                Op::Purge { per_mille } => {
                    let n = model.entries.len() * per_mille as usize / 1000;
                    let upto = if n == 0 { continue } else if n > model.entries.len() {
                        let last = model.entries.last().unwrap();
                        EntryId { index: LogIndex(last.index.0 + 3), term: last.term }
                    } else {
                        let e = &model.entries[n - 1];
                        EntryId { index: e.index, term: e.term }
                    };
                    let n = n.min(model.entries.len());
                    model.entries.drain(..n);
                    model.purged = Some(upto);
                    model.log_start_offset = model.entries.first().map_or(model.next_offset, |e| e.base_offset);
                    log.purge(upto, None).unwrap();
                }
                Op::Reopen => {
                    log.sync().unwrap();
                    drop(log);
                    log = Log::open(dir.path(), config()).unwrap();
                }
            }
            check(&log, &model);
        }
        log.sync().unwrap();
        drop(log);
        let log = Log::open(dir.path(), config()).unwrap();
        check(&log, &model);
    }
}
