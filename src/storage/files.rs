//! The plain file side of a segment: its file names, opening, reading whole index files.
//! `segment.rs` keeps the mapping, disk reservation and everything `unsafe`.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::types::LogIndex;

/// File names of one segment, all derived from the log index of its first entry.
#[derive(Debug, Clone)]
pub(super) struct SegmentPaths {
    pub log: PathBuf,
    pub index: PathBuf,
    pub time_index: PathBuf,
}

impl SegmentPaths {
    pub fn new(dir: &Path, base_index: LogIndex) -> Self {
        let stem = format!("{:020}", base_index.0);
        SegmentPaths {
            log: dir.join(format!("{stem}.log")),
            index: dir.join(format!("{stem}.index")),
            time_index: dir.join(format!("{stem}.timeindex")),
        }
    }

    /// The base index encoded in a `*.log` file name, if it is one of ours.
    pub fn parse_base_index(name: &str) -> Option<LogIndex> {
        let stem = name.strip_suffix(".log")?;
        (stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()))
            .then(|| stem.parse().ok().map(LogIndex))
            .flatten()
    }

    pub fn remove_all(&self) -> Result<()> {
        for path in [&self.log, &self.index, &self.time_index] {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        Ok(())
    }
}

pub(super) fn open_rw(path: &Path, create: bool) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

pub(super) fn read_records<const N: usize, T>(
    file: &File,
    path: &Path,
    decode: impl Fn(&[u8; N]) -> Option<T>,
) -> Result<Vec<T>> {
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len() as usize;
    let mut buf = vec![0u8; len - len % N];
    file.read_exact_at(&mut buf, 0)
        .map_err(|e| Error::io(path, e))?;
    Ok(buf
        .chunks_exact(N)
        .map_while(|chunk| chunk.try_into().ok().and_then(&decode))
        .collect())
}
