//! File access of the storage layer behind one small trait: the real implementation (plain
//! files, a read-only shared mapping, `posix_fallocate`, `flock`) and, in tests, a simulated
//! disk that loses what a power cut loses (`fs_sim.rs`). Everything the log does to files goes
//! through [`Fs`] and [`FsFile`]; `segment.rs` turns a [`Mapping`] into byte slices.
//!
//! The contract both implementations keep, and the log relies on:
//! - bytes written to a file are visible at once to reads and to the mapping, but survive a
//!   power cut only once a later `sync_data`/`sync_all` of that file has returned;
//! - a change of a file's length (`set_len`, `allocate`) is made durable by the same syncs;
//! - creating, renaming or removing a name survives a power cut only once a later `sync_dir` of
//!   its directory has returned; until then any prefix of those changes may survive.
//!
//! The write path costs one dynamic call per system call and copies nothing: `write_all_at`
//! hands the caller's buffer to `pwrite`.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use memmap2::{MmapOptions, MmapRaw};

/// How [`Fs::open`] treats the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OpenMode {
    /// The file must exist.
    Existing,
    /// Created empty if missing, else opened as it is.
    Create,
    /// Created if missing and emptied.
    Truncate,
}

/// A directory tree of files.
pub(super) trait Fs: Send + Sync + std::fmt::Debug {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>>;
    /// Names of the entries of `dir` (files only matter here).
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Removes a name; `NotFound` if it is not there.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Atomically replaces `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the creations, renames and removals in `dir` durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// An exclusive lock on `dir` held as long as the returned guard lives.
    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>>;
}

/// Held for the life of a log; dropping it releases the directory.
pub(super) type DirLock = Box<dyn std::any::Any + Send + Sync>;

/// One open file.
pub(super) trait FsFile: Send + Sync {
    fn len(&self) -> io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()>;
    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves disk for `[from, to)`, extending the file; a full disk is this call's error.
    fn allocate(&self, from: u64, to: u64) -> io::Result<()>;
    fn sync_data(&self) -> io::Result<()>;
    fn sync_all(&self) -> io::Result<()>;
    /// A read-only view of the first `len` bytes (which may run past the file's end: bytes
    /// there must not be read) that shows every later write.
    fn map(&self, len: u64) -> io::Result<Mapping>;
}

/// Memory that shows a file's bytes; stays valid as long as it lives.
pub(super) enum Mapping {
    Real(MmapRaw),
    #[cfg(test)]
    Sim(Arc<[std::sync::atomic::AtomicU8]>),
}

impl Mapping {
    pub fn as_ptr(&self) -> *const u8 {
        match self {
            Mapping::Real(map) => map.as_ptr(),
            // `AtomicU8` has the layout of `u8`.
            #[cfg(test)]
            Mapping::Sim(bytes) => bytes.as_ptr().cast(),
        }
    }
}

/// The file system of the machine.
#[derive(Debug)]
pub(super) struct RealFs;

/// The one real file system, shared by every log.
pub(super) fn real() -> Arc<dyn Fs> {
    static REAL: OnceLock<Arc<dyn Fs>> = OnceLock::new();
    Arc::clone(REAL.get_or_init(|| Arc::new(RealFs)))
}

impl Fs for RealFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(mode != OpenMode::Existing)
            .truncate(mode == OpenMode::Truncate)
            .open(path)?;
        Ok(Box::new(RealFile(file)))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for item in std::fs::read_dir(dir)? {
            if let Some(name) = item?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<DirLock>> {
        let path: PathBuf = dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        // SAFETY: plain syscall on an open descriptor.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        Ok((rc == 0).then(|| Box::new(file) as DirLock))
    }
}

struct RealFile(File);

impl FsFile for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, position)
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        self.0.write_all_at(buf, position)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn allocate(&self, from: u64, to: u64) -> io::Result<()> {
        // SAFETY: plain syscall on an open descriptor; no memory is passed.
        let rc = unsafe {
            libc::posix_fallocate(
                self.0.as_raw_fd(),
                from as libc::off_t,
                (to - from) as libc::off_t,
            )
        };
        match rc {
            0 => Ok(()),
            rc => Err(io::Error::from_raw_os_error(rc)),
        }
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }

    fn map(&self, len: u64) -> io::Result<Mapping> {
        MmapOptions::new()
            .len(len as usize)
            .map_raw_read_only(&self.0)
            .map(Mapping::Real)
    }
}
