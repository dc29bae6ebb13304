//! Free space on the file system that holds the logs, against a floor kept free for the broker's
//! own logs (`log.dir.min.free.bytes`). Below the floor clients' writes are refused up front,
//! so a full disk never reaches the logs of the metadata and of consumer offsets, nor the other
//! programs of the machine. `partition/` asks on every append; the broker refreshes it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The floor when none is configured: the smaller of this and [`AUTO_FLOOR_PERCENT`] of the
/// file system, so a small volume is not refused from the start.
pub const AUTO_FLOOR_BYTES: u64 = 1 << 30;
pub const AUTO_FLOOR_PERCENT: u64 = 5;

/// Free space above the floor needed before writes are taken again, in tenths of the floor:
/// a disk hovering at the floor does not flip in and out of refusing.
const RECOVERY_MARGIN_TENTHS: u64 = 1;

/// How old a reading [`DiskSpace::check`] trusts: writes arriving faster than this share one
/// `statvfs`, and at 1 GB/s the disk fills by at most ~10 MB between two readings.
const FRESH_FOR: Duration = Duration::from_millis(10);

/// A state change worth one log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SpaceChange {
    /// Free space fell below the floor: clients' writes are refused from now on.
    Low { free_bytes: u64, floor_bytes: u64 },
    /// Free space is back above the floor (and margin): writes are taken again.
    Recovered { free_bytes: u64, floor_bytes: u64 },
}

#[derive(Debug)]
pub struct DiskSpace {
    dir: PathBuf,
    floor_bytes: u64,
    free_bytes: AtomicU64,
    low: AtomicBool,
    /// When the free space was last read, in ms since `started`.
    read_at_ms: AtomicU64,
    started: Instant,
}

impl DiskSpace {
    /// Watches the file system of `dir` with `floor_bytes` kept free (`None`: the automatic
    /// floor). Reads the free space once.
    pub fn new(dir: &Path, floor_bytes: Option<u64>) -> std::io::Result<DiskSpace> {
        let floor_bytes = match floor_bytes {
            Some(bytes) => bytes,
            None => auto_floor(fs4::total_space(dir)?),
        };
        let space = DiskSpace {
            dir: dir.to_path_buf(),
            floor_bytes,
            free_bytes: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
            read_at_ms: AtomicU64::new(0),
            started: Instant::now(),
        };
        space.refresh()?;
        Ok(space)
    }

    /// Whether free space is below the floor as last read.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Acquire)
    }

    /// Whether free space is below the floor, read again unless the last reading is fresh
    /// (a write must not run far past the floor between two periodic readings).
    pub fn check(&self) -> bool {
        let now_ms = self.started.elapsed().as_millis() as u64;
        let read_at_ms = self.read_at_ms.load(Ordering::Acquire);
        if now_ms.saturating_sub(read_at_ms) >= FRESH_FOR.as_millis() as u64
            && self
                .read_at_ms
                .compare_exchange(read_at_ms, now_ms, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            && let Err(e) = self.refresh()
        {
            tracing::warn!(dir = %self.dir.display(), error = %e, "cannot read the free disk space");
        }
        self.is_low()
    }

    pub fn floor_bytes(&self) -> u64 {
        self.floor_bytes
    }

    /// Free space as last read (bytes available to the broker's user).
    pub fn free_bytes(&self) -> u64 {
        self.free_bytes.load(Ordering::Acquire)
    }

    /// Reads the free space again and says whether it is below the floor; a change of state
    /// is logged once, here.
    pub fn refresh(&self) -> std::io::Result<bool> {
        let free_bytes = fs4::available_space(&self.dir)?;
        self.read_at_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Release);
        match self.record(free_bytes) {
            Some(SpaceChange::Low {
                free_bytes,
                floor_bytes,
            }) => tracing::warn!(
                dir = %self.dir.display(),
                free_bytes,
                floor_bytes,
                "free disk space below log.dir.min.free.bytes: produce and new partitions are refused"
            ),
            Some(SpaceChange::Recovered {
                free_bytes,
                floor_bytes,
            }) => tracing::info!(
                dir = %self.dir.display(),
                free_bytes,
                floor_bytes,
                "free disk space back above log.dir.min.free.bytes: writes are taken again"
            ),
            None => {}
        }
        Ok(self.is_low())
    }

    fn record(&self, free_bytes: u64) -> Option<SpaceChange> {
        self.free_bytes.store(free_bytes, Ordering::Release);
        let floor_bytes = self.floor_bytes;
        let was_low = self.is_low();
        let margin = floor_bytes / 10 * RECOVERY_MARGIN_TENTHS;
        let low = if was_low {
            free_bytes < floor_bytes.saturating_add(margin)
        } else {
            free_bytes < floor_bytes
        };
        if low == was_low {
            return None;
        }
        self.low.store(low, Ordering::Release);
        Some(if low {
            SpaceChange::Low {
                free_bytes,
                floor_bytes,
            }
        } else {
            SpaceChange::Recovered {
                free_bytes,
                floor_bytes,
            }
        })
    }
}

fn auto_floor(total_bytes: u64) -> u64 {
    AUTO_FLOOR_BYTES.min(total_bytes / 100 * AUTO_FLOOR_PERCENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(floor_bytes: u64) -> DiskSpace {
        DiskSpace {
            dir: PathBuf::from("."),
            floor_bytes,
            free_bytes: AtomicU64::new(u64::MAX),
            low: AtomicBool::new(false),
            read_at_ms: AtomicU64::new(0),
            started: Instant::now(),
        }
    }

    #[test]
    fn low_below_the_floor_and_back_only_past_the_margin() {
        let space = space(1000);
        assert_eq!(space.record(5000), None);
        assert_eq!(
            space.record(999),
            Some(SpaceChange::Low {
                free_bytes: 999,
                floor_bytes: 1000
            })
        );
        assert!(space.is_low());
        assert_eq!(space.record(1050), None, "within the margin: still low");
        assert_eq!(space.record(990), None, "no second line while low");
        assert_eq!(
            space.record(1100),
            Some(SpaceChange::Recovered {
                free_bytes: 1100,
                floor_bytes: 1000
            })
        );
        assert!(!space.is_low());
    }

    #[test]
    fn the_automatic_floor_is_a_gibibyte_or_five_percent() {
        assert_eq!(auto_floor(1 << 40), AUTO_FLOOR_BYTES);
        assert_eq!(auto_floor(2_000_000_000), 100_000_000);
    }

    #[test]
    fn reads_the_real_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let space = DiskSpace::new(dir.path(), Some(0)).unwrap();
        assert!(space.free_bytes() > 0);
        assert!(!space.is_low());
        let space = DiskSpace::new(dir.path(), Some(u64::MAX)).unwrap();
        assert!(space.is_low());
    }
}
