//! `raftka dump-log` on a real partition directory: a single-member group writes real
//! RecordBatches across several small segments; the dump lists every entry with the offsets
//! the writes were answered with and each batch's own CRC, the same while the group runs and
//! after it stopped, as text and as JSON. A torn tail is reported, damage inside an older
//! segment is refused.

mod common;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Output;

use common::process::raftka_command;
use common::raft::{encode_batch, records_of, start_single};
use raftka::raft::Request;
use raftka::storage::LogConfig;

const LOG: LogConfig = LogConfig {
    segment_bytes: 8 << 10,
    index_interval_bytes: 1024,
    ..LogConfig::DEFAULT
};

fn dump(dir: &Path, json: bool) -> Output {
    let mut cmd = raftka_command();
    cmd.arg("dump-log").arg(dir);
    if json {
        cmd.arg("--json");
    }
    cmd.output().expect("run raftka dump-log")
}

fn dump_text(dir: &Path) -> String {
    let out = dump(dir, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The value of `key=` in a line of the dump.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(' ')
        .find_map(|token| token.strip_prefix(key)?.strip_prefix('='))
}

/// `(base_offset, count, crc)` of every record entry of a dump.
fn batches_of(text: &str) -> Vec<(i64, u32, String)> {
    text.lines()
        .filter(|l| l.starts_with("entry ") && field(l, "kind") == Some("records"))
        .map(|l| {
            assert_eq!(field(l, "crc_ok"), Some("true"), "{l}");
            (
                field(l, "base_offset")
                    .and_then(|v| v.parse().ok())
                    .expect(l),
                field(l, "count").and_then(|v| v.parse().ok()).expect(l),
                field(l, "crc").expect(l).to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_lists_every_batch_with_its_offsets_and_crc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let single = start_single(dir.path(), LOG).await;
    let mut expected = Vec::new();
    for i in 0..120 {
        let records = records_of(i);
        let batch = encode_batch(&records);
        let crc = format!("{:08x}", batch.crc());
        let applied = single
            .raft
            .client_write(Request::Records(batch))
            .await
            .expect("client_write");
        let base = applied.data.base_offset.expect("base offset").0;
        expected.push((base, records.len() as u32, crc));
    }
    let next_offset = expected.last().map(|(b, c, _)| b + i64::from(*c)).unwrap();

    // The group is running and holds the directory lock: the dump reads without it.
    let live = dump_text(dir.path());
    single.raft.shutdown().await.expect("shutdown");
    drop(single);
    let stopped = dump_text(dir.path());

    for text in [&live, &stopped] {
        let header = text.lines().next().expect("a header line");
        assert!(header.starts_with("log "), "{header}");
        assert_eq!(field(header, "log_start_offset"), Some("0"), "{header}");
        assert_eq!(
            field(header, "next_offset"),
            Some(next_offset.to_string().as_str()),
            "{header}"
        );
        assert_eq!(field(header, "torn_tail"), Some("none"), "{header}");
        let segments: usize = field(header, "segments").unwrap().parse().unwrap();
        assert!(segments > 2, "8 KiB segments roll: {header}");
        assert_eq!(batches_of(text), expected);
        let kinds: Vec<&str> = text.lines().filter_map(|l| field(l, "kind")).collect();
        assert!(kinds.contains(&"membership"), "{text}");
        let indexes: Vec<u64> = text
            .lines()
            .filter_map(|l| field(l, "index")?.parse().ok())
            .collect();
        assert!(
            indexes.windows(2).all(|w| w[1] == w[0] + 1),
            "contiguous indexes"
        );
    }
    assert_eq!(batches_of(&live), batches_of(&stopped));

    let json = dump(dir.path(), true);
    assert!(json.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("one JSON document");
    assert_eq!(doc["next_offset"], next_offset);
    let entries = doc["entries"].as_array().expect("entries");
    let from_json: Vec<(i64, u32, String)> = entries
        .iter()
        .filter(|e| e["kind"] == "records")
        .map(|e| {
            (
                e["base_offset"].as_i64().unwrap(),
                e["count"].as_u64().unwrap() as u32,
                format!("{:08x}", e["crc"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(from_json, expected);

    // A torn last entry: reported, and the entries before it are still listed.
    let last_segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .max()
        .expect("segments");
    let last = text_last_record(&stopped);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&last_segment)
        .unwrap();
    let end = written_end(&last_segment);
    file.write_all_at(&[0xFF], end - 3).unwrap();
    let torn = dump_text(dir.path());
    let header = torn.lines().next().unwrap();
    assert_eq!(field(header, "torn_tail"), Some("yes"), "{header}");
    assert!(
        torn.lines().last().unwrap().starts_with("torn_tail path="),
        "{torn}"
    );
    let kept = batches_of(&torn);
    assert_eq!(
        kept.len() + 1,
        expected.len(),
        "only the torn entry is gone"
    );
    assert_eq!(kept[..], expected[..expected.len() - 1]);
    assert_ne!(text_last_record(&torn), last);

    // A flipped byte in an older (sealed) segment is damage, not a tail.
    let first_segment = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .min()
        .unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&first_segment)
        .unwrap();
    file.write_all_at(&[0x55], 200).unwrap();
    let refused = dump(dir.path(), false);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("corrupt"), "{stderr}");
}

fn text_last_record(text: &str) -> String {
    text.lines()
        .rfind(|l| l.starts_with("entry "))
        .unwrap()
        .to_string()
}

/// The end of the written data of a preallocated segment: after its last non-zero byte.
fn written_end(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes.iter().rposition(|&b| b != 0).unwrap() as u64 + 1
}

#[test]
fn a_missing_directory_is_an_error() {
    let out = dump(Path::new("/nonexistent/raftka-partition-0"), false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/raftka-partition-0"));
}
