//! Keeps the dependency rule true: only `src/kafka/` imports `kafka_protocol`, only `src/raft/`
//! imports `openraft`, and `src/storage/` imports neither.

use std::path::{Path, PathBuf};

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

#[test]
fn crates_are_imported_only_by_their_module() {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 5,
        "found only {} files under src/",
        files.len()
    );
    let rules = [("kafka_protocol", "kafka"), ("openraft", "raft")];
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let text = std::fs::read_to_string(file).expect("read source");
        for (krate, owner) in rules {
            let inside = relative.starts_with(owner);
            if !inside
                && text
                    .lines()
                    .any(|l| !l.trim_start().starts_with("//") && l.contains(&format!("{krate}::")))
            {
                violations.push(format!(
                    "{} uses {krate} (only src/{owner}/ may)",
                    relative.display()
                ));
            }
        }
    }
    assert!(violations.is_empty(), "{violations:#?}");
}
