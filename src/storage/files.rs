//! The plain file side of a segment: its file names, opening, reading whole index files.
//! `segment.rs` keeps the mapping, disk reservation and everything `unsafe`; `fs.rs` is the
//! file access all of them go through.

use std::path::{Path, PathBuf};

use super::fs::{Fs, FsFile, OpenMode};
use super::{Error, Result};
use crate::types::LogIndex;

/// File names of one segment, all derived from the log index of its first entry.
#[derive(Debug, Clone)]
pub(super) struct SegmentPaths {
    pub log: PathBuf,
    pub index: PathBuf,
    pub time_index: PathBuf,
}

/// Suffix of a segment file being created; such a file holds nothing yet and is removed on open.
pub(super) const NEW_SEGMENT_SUFFIX: &str = ".log.new";
/// Suffix of a compacted copy of a segment being prepared (`rewrite.rs`); the original is still
/// in place, so open removes such a file.
pub(super) const CLEANED_SEGMENT_SUFFIX: &str = ".log.cleaned";

impl SegmentPaths {
    pub fn new(dir: &Path, base_index: LogIndex) -> Self {
        let stem = format!("{:020}", base_index.0);
        SegmentPaths {
            log: dir.join(format!("{stem}.log")),
            index: dir.join(format!("{stem}.index")),
            time_index: dir.join(format!("{stem}.timeindex")),
        }
    }

    /// Where a segment file is prepared before it takes its name.
    pub fn new_log(&self) -> PathBuf {
        let mut name = self.log.clone().into_os_string();
        name.push(".new");
        PathBuf::from(name)
    }

    /// Where a rewritten copy of the segment is prepared before it takes the original's name.
    pub fn cleaned_log(&self) -> PathBuf {
        let mut name = self.log.clone().into_os_string();
        name.push(".cleaned");
        PathBuf::from(name)
    }

    /// The base index encoded in a `*.log` file name, if it is one of ours.
    pub fn parse_base_index(name: &str) -> Option<LogIndex> {
        let stem = name.strip_suffix(".log")?;
        (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
            .then(|| stem.parse().ok().map(LogIndex))
            .flatten()
    }

    /// Removes the index files (hints that must not outlive their segment).
    pub fn remove_indexes(&self, fs: &dyn Fs) -> Result<()> {
        for path in [&self.index, &self.time_index] {
            remove_if_present(fs, path)?;
        }
        Ok(())
    }

    pub fn remove_all(&self, fs: &dyn Fs) -> Result<()> {
        // The log file goes last: while it is there, so may be its hints (they are checked).
        self.remove_indexes(fs)?;
        remove_if_present(fs, &self.log)
    }
}

pub(super) fn remove_if_present(fs: &dyn Fs, path: &Path) -> Result<()> {
    match fs.remove(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

pub(super) fn open(fs: &dyn Fs, path: &Path, mode: OpenMode) -> Result<Box<dyn FsFile>> {
    fs.open(path, mode).map_err(|e| Error::io(path, e))
}

pub(super) fn read_records<const N: usize, T>(
    file: &dyn FsFile,
    path: &Path,
    decode: impl Fn(&[u8; N]) -> Option<T>,
) -> Result<Vec<T>> {
    let len = file.len().map_err(|e| Error::io(path, e))? as usize;
    let mut buf = vec![0u8; len - len % N];
    file.read_exact_at(&mut buf, 0)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf
        .chunks_exact(N)
        .map_while(|chunk| chunk.try_into().ok().and_then(&decode))
        .collect())
}
