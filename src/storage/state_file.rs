//! Small state kept beside the segments (Raft vote, purge point, snapshot metadata), replaced
//! atomically. A state file that exists but does not check out is an error, never "absent":
//! a node must not forget its vote.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fs::{self, Fs, OpenMode};
use super::{Error, Result};

/// `| magic "RKST" | version u8 | len u32 | crc32c u32 | payload |`, little-endian.
const MAGIC: &[u8; 4] = b"RKST";
const VERSION: u8 = 1;
const HEADER_BYTES: usize = 13;
/// State files hold metadata only; anything larger is damage, not data.
const MAX_PAYLOAD_BYTES: usize = 16 << 20;

/// One small file replaced whole on every store.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    fs: Arc<dyn Fs>,
}

impl StateFile {
    pub fn new(path: PathBuf) -> Self {
        Self::on(fs::real(), path)
    }

    pub(super) fn on(fs: Arc<dyn Fs>, path: PathBuf) -> Self {
        StateFile { path, fs }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored payload; `None` if the file was never written.
    pub fn load(&self) -> Result<Option<Vec<u8>>> {
        let io = |e| Error::io(&self.path, e);
        let file = match self.fs.open(&self.path, OpenMode::Existing) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(e)),
        };
        let len = file.len().map_err(io)?;
        if len > (HEADER_BYTES + MAX_PAYLOAD_BYTES) as u64 {
            return Err(Error::CorruptState {
                path: self.path.clone(),
                reason: format!("{len} bytes"),
            });
        }
        let mut bytes = vec![0; len as usize];
        file.read_exact_at(&mut bytes, 0).map_err(io)?;
        self.decode(&bytes).map(Some)
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        let corrupt = |reason: &str| Error::CorruptState {
            path: self.path.clone(),
            reason: reason.to_string(),
        };
        if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
            return Err(corrupt("missing header"));
        }
        if bytes[4] != VERSION {
            return Err(corrupt(&format!("unknown version {}", bytes[4])));
        }
        let len = u32::from_le_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) as usize;
        let crc = u32::from_le_bytes([bytes[9], bytes[10], bytes[11], bytes[12]]);
        let payload = &bytes[HEADER_BYTES..];
        if payload.len() != len {
            return Err(corrupt(&format!(
                "length {} but {} bytes follow",
                len,
                payload.len()
            )));
        }
        if crc32c::crc32c(payload) != crc {
            return Err(corrupt("checksum mismatch"));
        }
        Ok(payload.to_vec())
    }

    /// Replaces the file and makes the change durable before returning.
    pub fn store(&self, payload: &[u8]) -> Result<()> {
        self.replace(payload, true)
    }

    /// Replaces the file atomically without waiting for the disk: for hints whose loss is
    /// harmless (a crash may bring back an older value, never a torn one).
    pub fn store_unsynced(&self, payload: &[u8]) -> Result<()> {
        self.replace(payload, false)
    }

    fn replace(&self, payload: &[u8], durable: bool) -> Result<()> {
        assert!(
            payload.len() <= MAX_PAYLOAD_BYTES,
            "state payload too large"
        );
        let mut bytes = Vec::with_capacity(HEADER_BYTES + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        bytes.extend_from_slice(payload);

        let tmp = self.path.with_extension("tmp");
        let file = self
            .fs
            .open(&tmp, OpenMode::Truncate)
            .map_err(|e| Error::io(&tmp, e))?;
        file.write_all_at(&bytes, 0)
            .map_err(|e| Error::io(&tmp, e))?;
        if durable {
            file.sync_data().map_err(|e| Error::io(&tmp, e))?;
        }
        self.fs
            .rename(&tmp, &self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        if durable {
            sync_dir(&*self.fs, self.path.parent().unwrap_or(Path::new(".")))?;
        }
        Ok(())
    }
}

/// Makes creations, renames and deletions in `dir` durable.
pub(super) fn sync_dir(fs: &dyn Fs, dir: &Path) -> Result<()> {
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn absent_then_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::new(dir.path().join("vote"));
        assert_eq!(file.load().unwrap(), None);
        file.store(b"term=3").unwrap();
        assert_eq!(file.load().unwrap().as_deref(), Some(&b"term=3"[..]));
        file.store_unsynced(b"x").unwrap();
        assert_eq!(file.load().unwrap().as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn damage_is_an_error_not_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vote");
        let file = StateFile::new(path.clone());
        file.store(b"term=3").unwrap();
        let good = fs::read(&path).unwrap();
        for cut in 0..good.len() {
            fs::write(&path, &good[..cut]).unwrap();
            assert!(
                matches!(file.load(), Err(Error::CorruptState { .. })),
                "cut {cut}"
            );
        }
        let mut flipped = good.clone();
        *flipped.last_mut().unwrap() ^= 1;
        fs::write(&path, &flipped).unwrap();
        let err = file.load().unwrap_err();
        assert!(err.to_string().contains("vote"), "{err}");
    }
}
