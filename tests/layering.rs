//! Keeps the dependency rule true, module by module: `kafka → {group, metadata} → internal_log →
//! partition → raft → storage`, with `record` (Kafka's batch format) below partition and beside
//! storage.
//! A failure names the file and line of each import that runs the wrong way.

use std::path::{Path, PathBuf};

/// Which of the crate's modules each module must not name (`crate::<module>`).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "storage",
        &[
            "raft",
            "partition",
            "kafka",
            "group",
            "metadata",
            "record",
            "broker",
        ],
    ),
    (
        "record",
        &[
            "storage",
            "raft",
            "partition",
            "kafka",
            "group",
            "metadata",
            "broker",
            "config",
        ],
    ),
    (
        "producer",
        &[
            "storage",
            "raft",
            "partition",
            "kafka",
            "group",
            "metadata",
            "internal_log",
            "broker",
            "config",
        ],
    ),
    (
        "raft",
        &["kafka", "partition", "group", "metadata", "broker"],
    ),
    (
        "partition",
        &["kafka", "group", "metadata", "internal_log", "broker"],
    ),
    ("internal_log", &["kafka", "group", "metadata", "broker"]),
    ("metadata", &["kafka", "group", "broker"]),
    ("group", &["kafka", "broker"]),
    ("kafka", &["storage", "raft", "broker"]),
];

/// External crates only one module may use: the wire protocol (and the batch format's codecs)
/// and the consensus library.
const CRATE_OWNERS: &[(&str, &[&str])] = &[
    ("kafka_protocol", &["kafka", "record"]),
    ("openraft", &["raft"]),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/raft/transport/conn.rs` → `raft`).
fn module_of(relative: &Path) -> String {
    let first = relative
        .components()
        .next()
        .expect("a path under src/")
        .as_os_str()
        .to_string_lossy()
        .to_string();
    first.trim_end_matches(".rs").to_string()
}

/// The crate modules a line names: `crate::x::...` and each item of `crate::{x, y::z}` (nested
/// braces are followed; a `use` list spread over several lines is joined by the caller).
fn crate_modules_named(text: &str) -> Vec<String> {
    let mut named = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item_start = true;
            for (i, c) in list.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            rest = &list[i..];
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') && depth == 1 => {
                        let word: String = list[i..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        named.push(word);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            named.push(word);
        }
    }
    named
}

/// Each statement-ish chunk of a file with the line it starts on: lines are joined until a `;`
/// or `{`-free line ends a `use` list, so multi-line `use crate::{...};` is one chunk.
fn code_chunks(text: &str) -> Vec<(usize, String)> {
    let mut chunks = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        if let Some((start, mut joined)) = open.take() {
            joined.push_str(code);
            if code.contains(';') {
                chunks.push((start, joined));
            } else {
                open = Some((start, joined));
            }
            continue;
        }
        if code.trim_start().starts_with("use ") && !code.contains(';') {
            open = Some((n + 1, code.to_string()));
        } else {
            chunks.push((n + 1, code.to_string()));
        }
    }
    chunks.extend(open);
    chunks
}

#[test]
fn modules_import_only_downwards() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let module = module_of(relative);
        let text = std::fs::read_to_string(file).expect("read source");
        let forbidden = FORBIDDEN
            .iter()
            .find(|(owner, _)| *owner == module)
            .map_or(&[][..], |(_, f)| *f);
        for (line, code) in code_chunks(&text) {
            for named in crate_modules_named(&code) {
                if forbidden.contains(&named.as_str()) {
                    violations.push(format!(
                        "{}:{line}: src/{module}/ imports crate::{named}",
                        relative.display()
                    ));
                }
            }
            for (krate, owners) in CRATE_OWNERS {
                if code.contains(&format!("{krate}::")) && !owners.contains(&module.as_str()) {
                    violations.push(format!(
                        "{}:{line}: uses {krate} (only src/{owners:?}/ may)",
                        relative.display()
                    ));
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the dependency rule:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_scanner_sees_every_import_form() {
    assert_eq!(crate_modules_named("use crate::raft::NodeId;"), ["raft"]);
    assert_eq!(
        crate_modules_named("use crate::{partition::{self, Replica}, record::RecordBatch};"),
        ["partition", "record"]
    );
    assert_eq!(
        crate_modules_named("let x = crate::metadata::EffectiveConfig::default();"),
        ["metadata"]
    );
    let chunks =
        code_chunks("use crate::{\n    raft::NodeId,\n    kafka::Server,\n};\nfn f() {}\n");
    assert_eq!(chunks[0].0, 1);
    assert_eq!(crate_modules_named(&chunks[0].1), ["raft", "kafka"]);
}
