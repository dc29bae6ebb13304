//! Names under `log.dirs` and what start-up does with each: a partition replica lives in
//! `<topic>-<partition>.<topic id>`, so a topic deleted and created again (its new incarnation
//! has a new id) never reopens the old files, and the directories of incarnations the metadata
//! no longer has go at start-up. `registry.rs` deletes those of topics deleted while running.
//!
//! Upgrade rule: a directory of the earlier layout (`<topic>-<partition>`) is renamed to the
//! current incarnation's name when its recorded topic id (`partition.metadata`, as Kafka writes
//! it) matches or is missing, and removed otherwise.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::{Error, Shared, StorageError};

/// The file in a partition directory naming the topic id it belongs to.
pub const TOPIC_ID_FILE: &str = "partition.metadata";

/// `<topic>-<partition>.<topic id as 32 lowercase hex digits>`: the directory and the Raft
/// group name of one incarnation of a partition.
pub fn incarnation_name(topic: &str, partition: i32, topic_id: Uuid) -> String {
    format!("{topic}-{partition}.{}", topic_id.simple())
}

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

/// What a directory name says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirName<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// `None` for the earlier layout, without the topic id.
    pub topic_id: Option<Uuid>,
}

/// `<topic>-<partition>.<id>` or the earlier `<topic>-<partition>`; `None` for names that are
/// neither (the partition must be a plain decimal number, the id 32 lowercase hex digits).
pub fn parse_dir_name(name: &str) -> Option<DirName<'_>> {
    if let Some((rest, id)) = name.rsplit_once('.')
        && id.len() == 32
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        let (topic, partition) = parse_plain(rest)?;
        return Some(DirName {
            topic,
            partition,
            topic_id: Some(Uuid::try_parse(id).ok()?),
        });
    }
    let (topic, partition) = parse_plain(name)?;
    Some(DirName {
        topic,
        partition,
        topic_id: None,
    })
}

/// `<topic>-<partition>` split at the last '-' (topic names may hold '-').
fn parse_plain(name: &str) -> Option<(&str, i32)> {
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

/// What start-up does with one directory under `log.dirs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Keep,
    /// A partition (or incarnation of it) this broker no longer hosts.
    Remove,
    /// A directory of the earlier layout holding the wanted incarnation: renamed to this.
    Rename(String),
}

/// The case table for directory `name`. `wanted` maps each partition hosted here to its
/// topic's id; `internal` (the metadata log) is never touched; `recorded` reads the topic id an
/// earlier-layout directory recorded, if any (one without is taken as the wanted incarnation:
/// it predates the id file).
pub fn disposition(
    name: &str,
    recorded: impl FnOnce() -> Option<Uuid>,
    wanted: &HashMap<(String, i32), Uuid>,
    internal: &str,
) -> Disposition {
    let Some(dir) = parse_dir_name(name) else {
        return Disposition::Keep;
    };
    if dir.topic == internal {
        return Disposition::Keep;
    }
    let want = wanted.get(&(dir.topic.to_string(), dir.partition));
    match (dir.topic_id, want) {
        (_, None) => Disposition::Remove,
        (Some(id), Some(want)) if id == *want => Disposition::Keep,
        (Some(_), Some(_)) => Disposition::Remove,
        (None, Some(want)) => match recorded() {
            Some(r) if r != *want => Disposition::Remove,
            _ => Disposition::Rename(incarnation_name(dir.topic, dir.partition, *want)),
        },
    }
}

/// What [`tidy`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tidied {
    pub removed: Vec<PathBuf>,
    pub renamed: Vec<PathBuf>,
}

/// Applies [`disposition`] to every directory under `data_dir`. A directory that cannot be
/// removed is logged and left (nothing opens it: its name is no wanted incarnation's); one of
/// the earlier layout that cannot be renamed is an error, as starting without it would serve an
/// empty log in its place.
pub fn tidy(
    data_dir: &Path,
    wanted: &HashMap<(String, i32), Uuid>,
    internal: &str,
) -> Result<Tidied, Error> {
    let io = |path: &Path, source| {
        Error::storage(StorageError::Io {
            path: path.to_path_buf(),
            source: Shared::new(source),
        })
    };
    let mut done = Tidied::default();
    for entry in std::fs::read_dir(data_dir).map_err(|e| io(data_dir, e))? {
        let entry = entry.map_err(|e| io(data_dir, e))?;
        let path = entry.path();
        if !entry.file_type().map_err(|e| io(&path, e))?.is_dir() {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let mut remove = false;
        match disposition(&name, || read_topic_id(&path), wanted, internal) {
            Disposition::Keep => {}
            Disposition::Remove => remove = true,
            Disposition::Rename(to) => {
                let target = data_dir.join(&to);
                if target.exists() {
                    // The current layout's directory is there already: this one is older.
                    remove = true;
                } else {
                    tracing::info!(from = %path.display(), to = %target.display(), "renaming a partition directory to the layout with topic ids");
                    std::fs::rename(&path, &target).map_err(|e| io(&path, e))?;
                    done.renamed.push(target);
                }
            }
        }
        if remove {
            tracing::info!(dir = %path.display(), "removing the directory of a deleted partition");
            match std::fs::remove_dir_all(&path) {
                Ok(()) => done.removed.push(path),
                Err(e) => {
                    tracing::error!(dir = %path.display(), error = %e, "cannot remove the directory of a deleted partition")
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_split_at_the_last_dash() {
        let plain = |topic, partition| {
            Some(DirName {
                topic,
                partition,
                topic_id: None,
            })
        };
        assert_eq!(parse_dir_name("orders-0"), plain("orders", 0));
        assert_eq!(parse_dir_name("my-topic-12"), plain("my-topic", 12));
        assert_eq!(parse_dir_name("a-1-0"), plain("a-1", 0));
        assert_eq!(
            parse_dir_name("__cluster_metadata-0"),
            plain("__cluster_metadata", 0)
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
    fn incarnation_names_read_back() {
        let id = Uuid::new_v4();
        for (topic, partition) in [("orders", 0), ("a.b-c", 7), ("x-1", 12)] {
            let name = incarnation_name(topic, partition, id);
            assert_eq!(
                parse_dir_name(&name),
                Some(DirName {
                    topic,
                    partition,
                    topic_id: Some(id)
                }),
                "{name}"
            );
        }
        let hex = id.simple().to_string();
        // Kafka's directories of deleted or moving replicas, upper-case or short ids, and an
        // earlier-layout directory of a topic whose name holds a dot.
        assert_eq!(parse_dir_name(&format!("t-0.{hex}-delete")), None);
        assert_eq!(parse_dir_name(&format!("t-0.{}", hex.to_uppercase())), None);
        assert_eq!(parse_dir_name(&format!("t-0.{}", &hex[1..])), None);
        assert_eq!(
            parse_dir_name(&format!("t.{hex}-3")),
            Some(DirName {
                topic: &format!("t.{hex}"),
                partition: 3,
                topic_id: None
            })
        );
    }

    #[test]
    fn disposition_case_table() {
        let (old, new) = (Uuid::new_v4(), Uuid::new_v4());
        let wanted = HashMap::from([(("a-1".to_string(), 0), new), (("a".to_string(), 0), old)]);
        let internal = "__cluster_metadata";
        let current = incarnation_name("a-1", 0, new);
        let keep = Disposition::Keep;
        let remove = Disposition::Remove;
        let migrate = Disposition::Rename(current.clone());
        // (directory, recorded id, what start-up does)
        let cases = [
            (current.as_str(), None, keep.clone()),
            (&incarnation_name("a-1", 0, old), Some(new), remove.clone()), // an old incarnation
            (&incarnation_name("a-1", 1, new), None, remove.clone()),      // not hosted here
            (&incarnation_name("gone", 0, old), None, remove.clone()),
            ("a-1-0", Some(new), migrate.clone()),
            ("a-1-0", None, migrate.clone()), // predates the id file
            ("a-1-0", Some(old), remove.clone()), // deleted and recreated while down
            ("a-1-1", Some(new), remove.clone()),
            (
                "a-0",
                Some(old),
                Disposition::Rename(incarnation_name("a", 0, old)),
            ),
            ("a-1", None, remove.clone()), // topic "a" partition 1, not "a-1"
            ("gone-3", None, remove.clone()),
            ("__cluster_metadata-0", None, keep.clone()),
            ("lost+found", None, keep.clone()), // not a partition directory
            ("notes", None, keep.clone()),
        ];
        for (name, recorded, expected) in cases {
            assert_eq!(
                disposition(name, || recorded, &wanted, internal),
                expected,
                "{name} {recorded:?}"
            );
        }
    }

    #[test]
    fn tidy_removes_leftovers_and_renames_the_earlier_layout() {
        let dir = tempfile::tempdir().unwrap();
        let (id, other) = (Uuid::new_v4(), Uuid::new_v4());
        let current = incarnation_name("keep", 1, id);
        let stale = incarnation_name("keep", 1, other);
        for name in [
            "keep-0",
            "gone-0",
            "__cluster_metadata-0",
            "other",
            &current,
            &stale,
            "keep-1",
        ] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("stray-0"), b"a file, not a directory").unwrap();
        write_topic_id(&dir.path().join("keep-0"), id).unwrap();
        std::fs::write(dir.path().join("keep-0").join("data"), b"kept").unwrap();
        assert_eq!(read_topic_id(&dir.path().join("keep-0")), Some(id));
        let wanted = HashMap::from([(("keep".to_string(), 0), id), (("keep".to_string(), 1), id)]);
        let mut done = tidy(dir.path(), &wanted, "__cluster_metadata").unwrap();
        done.removed.sort();
        let mut removed = vec![
            dir.path().join("gone-0"),
            dir.path().join(&stale),
            dir.path().join("keep-1"),
        ];
        removed.sort();
        let renamed = dir.path().join(incarnation_name("keep", 0, id));
        assert_eq!(
            done,
            Tidied {
                removed,
                renamed: vec![renamed.clone()]
            }
        );
        assert_eq!(std::fs::read(renamed.join("data")).unwrap(), b"kept");
        for kept in ["__cluster_metadata-0", "other", "stray-0", &current] {
            assert!(dir.path().join(kept).exists(), "{kept}");
        }
        assert!(!dir.path().join("keep-0").exists());
    }
}
