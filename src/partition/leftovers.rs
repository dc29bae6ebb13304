//! Partition directories the metadata no longer wants: a topic deleted (or deleted and recreated)
//! while this broker was down leaves `<topic>-<n>` directories behind; they go at start-up.
//! Each directory records its topic's id (`partition.metadata`, as Kafka does) to tell a recreated
//! topic from the old one. `broker.rs` says which partitions are wanted; `registry.rs` deletes
//! the replicas of topics deleted while running.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::{Error, Shared, StorageError};

/// The file in a partition directory naming the topic id it belongs to.
pub const TOPIC_ID_FILE: &str = "partition.metadata";

/// Records `id` as the topic id of the partition in `dir` (written aside, synced, renamed).
pub fn write_topic_id(dir: &Path, id: Uuid) -> Result<(), Error> {
    let io = |source| {
        Error::storage(StorageError::Io {
            path: dir.join(TOPIC_ID_FILE),
            source: Shared::new(source),
        })
    };
    let tmp = dir.join(format!("{TOPIC_ID_FILE}.tmp"));
    let mut file = std::fs::File::create(&tmp).map_err(io)?;
    file.write_all(format!("version: 0\ntopic_id: {id}\n").as_bytes())
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, dir.join(TOPIC_ID_FILE)).map_err(io)
}

/// The topic id recorded in `dir`, if any can be read.
pub fn read_topic_id(dir: &Path) -> Option<Uuid> {
    let text = std::fs::read_to_string(dir.join(TOPIC_ID_FILE)).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("topic_id:"))
        .and_then(|id| id.trim().parse().ok())
}

/// `<topic>-<partition>` split at the last '-' (topic names may hold '-'); `None` for names
/// that are not a partition directory (the partition must be a plain decimal number).
pub fn parse_dir_name(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    let plain = !partition.is_empty()
        && partition.bytes().all(|b| b.is_ascii_digit())
        && (partition == "0" || !partition.starts_with('0'));
    let topic_ok = !topic.is_empty()
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plain || !topic_ok {
        return None;
    }
    Some((topic, partition.parse().ok()?))
}

/// Whether the directory `name` (holding `recorded`, its topic id if known) is a partition this
/// broker should no longer keep. `wanted` maps each partition hosted here to its topic's id;
/// `internal` is never touched. A directory without a recorded id is kept when its partition is
/// wanted (it predates the id file).
pub fn is_leftover(
    name: &str,
    recorded: Option<Uuid>,
    wanted: &HashMap<(String, i32), Uuid>,
    internal: &str,
) -> bool {
    let Some((topic, partition)) = parse_dir_name(name) else {
        return false;
    };
    if topic == internal {
        return false;
    }
    match wanted.get(&(topic.to_string(), partition)) {
        None => true,
        Some(id) => recorded.is_some_and(|r| r != *id),
    }
}

/// Removes every leftover partition directory under `data_dir`; returns what was removed.
pub fn remove_leftovers(
    data_dir: &Path,
    wanted: &HashMap<(String, i32), Uuid>,
    internal: &str,
) -> Result<Vec<PathBuf>, Error> {
    let io = |source| {
        Error::storage(StorageError::Io {
            path: data_dir.to_path_buf(),
            source: Shared::new(source),
        })
    };
    let mut removed = Vec::new();
    for entry in std::fs::read_dir(data_dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let path = entry.path();
        if is_leftover(&name, read_topic_id(&path), wanted, internal) {
            tracing::info!(dir = %path.display(), "removing the directory of a deleted partition");
            std::fs::remove_dir_all(&path).map_err(|source| {
                Error::storage(StorageError::Remove {
                    path: path.clone(),
                    source: Shared::new(source),
                })
            })?;
            removed.push(path);
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_split_at_the_last_dash() {
        assert_eq!(parse_dir_name("orders-0"), Some(("orders", 0)));
        assert_eq!(parse_dir_name("my-topic-12"), Some(("my-topic", 12)));
        assert_eq!(parse_dir_name("a-1-0"), Some(("a-1", 0)));
        assert_eq!(
            parse_dir_name("__cluster_metadata-0"),
            Some(("__cluster_metadata", 0))
        );
        for not_a_partition in [
            "orders",
            "orders-",
            "-3",
            "t-01",
            "t-+1",
            "t-x",
            "t-99999999999",
            "a b-0",
        ] {
            assert_eq!(parse_dir_name(not_a_partition), None, "{not_a_partition}");
        }
    }

    #[test]
    fn leftovers_case_table() {
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        let wanted = HashMap::from([(("a-1".to_string(), 0), new), (("a".to_string(), 0), old)]);
        let internal = "__cluster_metadata";
        // (directory, recorded id, leftover?)
        let cases = [
            ("a-1-0", Some(new), false),
            ("a-1-0", None, false),     // predates the id file: kept
            ("a-1-0", Some(old), true), // deleted and recreated while down
            ("a-1-1", Some(new), true), // partition not hosted here (or not existing)
            ("a-0", Some(old), false),
            ("a-1", None, true),    // topic "a" partition 1, not "a-1"
            ("gone-3", None, true), // topic deleted while down
            ("__cluster_metadata-0", None, false),
            ("lost+found", None, false), // not a partition directory
            ("notes", None, false),
        ];
        for (name, recorded, expected) in cases {
            assert_eq!(
                is_leftover(name, recorded, &wanted, internal),
                expected,
                "{name} {recorded:?}"
            );
        }
    }

    #[test]
    fn removes_only_leftovers_and_reads_back_ids() {
        let dir = tempfile::tempdir().unwrap();
        let id = Uuid::new_v4();
        for name in ["keep-0", "gone-0", "__cluster_metadata-0", "other"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("stray-0"), b"a file, not a directory").unwrap();
        write_topic_id(&dir.path().join("keep-0"), id).unwrap();
        assert_eq!(read_topic_id(&dir.path().join("keep-0")), Some(id));
        let wanted = HashMap::from([(("keep".to_string(), 0), id)]);
        let removed = remove_leftovers(dir.path(), &wanted, "__cluster_metadata").unwrap();
        assert_eq!(removed, vec![dir.path().join("gone-0")]);
        for kept in ["keep-0", "__cluster_metadata-0", "other", "stray-0"] {
            assert!(dir.path().join(kept).exists(), "{kept}");
        }
    }
}
