//! A simulated disk for tests, seeded: it keeps two copies of every file, what readers see (the
//! page cache) and what a power cut leaves (the disk), and fails calls on demand. `fs.rs` holds
//! the trait it implements and the contract it enforces; `power_loss.rs` drives it.
//!
//! What a power cut leaves, as an adversarial but possible disk:
//! - of each file, the content as of its last `sync_data`/`sync_all`; each 4 KiB page written
//!   since then independently comes back old, new, or torn (each 512-byte sector old or new),
//!   so unsynced writes are lost, torn and reordered;
//! - the length as of the last sync or the current one, whichever the seed picks;
//! - per directory, the names as of its last `sync_dir` plus a seeded prefix of the creations,
//!   renames and removals made since (a journal commits them in order).
//!
//! After the cut (or a `kill -9`, which keeps everything written) every call of the old
//! process fails; [`SimDisk::restart`] boots the disk from what survived.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::fs::{DirLock, Fs, FsFile, Mapping, OpenMode};

const PAGE: u64 = 4096;
const SECTOR: u64 = 512;

/// Small, seeded, reproducible randomness (splitmix64).
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One file's bytes, shared by every name and handle of it.
struct Inode {
    /// What reads and mappings see. Fixed size: a mapping's address never moves.
    cache: Arc<[AtomicU8]>,
    len: u64,
    /// What a power cut keeps for sure (its length is the synced length).
    durable: Vec<u8>,
    /// Pages written since the last sync.
    dirty: BTreeSet<u64>,
}

impl Inode {
    fn new(capacity: usize, content: &[u8]) -> Inode {
        let cache: Arc<[AtomicU8]> = (0..capacity)
            .map(|i| AtomicU8::new(content.get(i).copied().unwrap_or(0)))
            .collect();
        Inode {
            cache,
            len: content.len() as u64,
            durable: content.to_vec(),
            dirty: BTreeSet::new(),
        }
    }

    fn current(&self) -> Vec<u8> {
        self.cache[..self.len as usize]
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect()
    }

    fn mark(&mut self, from: u64, to: u64) {
        if from < to {
            self.dirty.extend(from / PAGE..to.div_ceil(PAGE));
        }
    }

    fn sync(&mut self) {
        self.durable = self.current();
        self.dirty.clear();
    }

    /// What the power cut leaves of this file.
    fn after_power_cut(&self, rng: &mut Rng) -> Vec<u8> {
        let len = if rng.chance(50) {
            self.len
        } else {
            self.durable.len() as u64
        };
        let mut out = self.durable.clone();
        out.resize(len as usize, 0);
        for &page in &self.dirty {
            let start = page * PAGE;
            if start >= len {
                continue;
            }
            let end = (start + PAGE).min(len);
            match rng.below(3) {
                0 => {}
                1 => self.copy_new(&mut out, start, end),
                _ => {
                    let mut at = start;
                    while at < end {
                        let to = (at + SECTOR).min(end);
                        if rng.chance(50) {
                            self.copy_new(&mut out, at, to);
                        }
                        at = to;
                    }
                }
            }
        }
        out
    }

    fn copy_new(&self, out: &mut [u8], from: u64, to: u64) {
        for at in from..to.min(self.len) {
            out[at as usize] = self.cache[at as usize].load(Ordering::Relaxed);
        }
        // Past the current length the file holds zeroes.
        for at in from.max(self.len)..to {
            out[at as usize] = 0;
        }
    }
}

#[derive(Clone)]
enum NameOp {
    Create(PathBuf, Arc<Mutex<Inode>>),
    Remove(PathBuf),
    Rename(PathBuf, PathBuf),
}

impl NameOp {
    fn dir(&self) -> PathBuf {
        let path = match self {
            NameOp::Create(p, _) | NameOp::Remove(p) | NameOp::Rename(_, p) => p,
        };
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }

    fn apply(&self, names: &mut BTreeMap<PathBuf, Arc<Mutex<Inode>>>) {
        match self {
            NameOp::Create(path, inode) => {
                names.insert(path.clone(), Arc::clone(inode));
            }
            NameOp::Remove(path) => {
                names.remove(path);
            }
            NameOp::Rename(from, to) => {
                if let Some(inode) = names.remove(from) {
                    names.insert(to.clone(), inode);
                }
            }
        }
    }
}

/// Files that survived a crash, by path.
pub(super) type Image = BTreeMap<PathBuf, Vec<u8>>;

struct State {
    generation: u64,
    rng: Rng,
    capacity: usize,
    /// Calls made so far (every call of every file and of the file system counts).
    calls: u64,
    /// Calls that fail once, leaving the disk as it was.
    fail_calls: BTreeSet<u64>,
    /// The call at which the power goes.
    cut_at: Option<u64>,
    /// Set once the process is gone: what the next boot finds.
    crashed: Option<Image>,
    names: BTreeMap<PathBuf, Arc<Mutex<Inode>>>,
    durable_names: BTreeMap<PathBuf, Arc<Mutex<Inode>>>,
    pending: Vec<NameOp>,
    dirs: BTreeSet<PathBuf>,
}

impl State {
    fn cut_power(&mut self) {
        let mut names = self.durable_names.clone();
        let dirs: BTreeSet<PathBuf> = self.pending.iter().map(NameOp::dir).collect();
        for dir in dirs {
            let ops: Vec<&NameOp> = self.pending.iter().filter(|op| op.dir() == dir).collect();
            let kept = self.rng.below(ops.len() as u64 + 1) as usize;
            for op in &ops[..kept] {
                op.apply(&mut names);
            }
        }
        let image: Image = names
            .into_iter()
            .map(|(path, inode)| {
                let bytes = lock(&inode).after_power_cut(&mut self.rng);
                (path, bytes)
            })
            .collect();
        if std::env::var("RAFTKA_POWER_SEED").is_ok() {
            // Replaying one seed: show what the cut left.
            for (path, bytes) in &image {
                eprintln!("  after the cut: {} {} bytes", path.display(), bytes.len());
            }
        }
        self.crashed = Some(image);
    }

    fn kill(&mut self) {
        let image = self
            .names
            .iter()
            .map(|(path, inode)| (path.clone(), lock(inode).current()))
            .collect();
        self.crashed = Some(image);
    }

    fn create(&mut self, path: &Path) -> Arc<Mutex<Inode>> {
        let inode = Arc::new(Mutex::new(Inode::new(self.capacity, &[])));
        self.name_op(NameOp::Create(path.to_path_buf(), Arc::clone(&inode)));
        inode
    }

    fn name_op(&mut self, op: NameOp) {
        op.apply(&mut self.names);
        self.pending.push(op);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn gone() -> io::Error {
    io::Error::other("simulated crash: the process is gone")
}

/// The test's handle on the simulated disk.
#[derive(Clone)]
pub(super) struct SimDisk {
    state: Arc<Mutex<State>>,
}

impl SimDisk {
    /// A disk whose files hold at most `capacity` bytes each.
    pub fn new(seed: u64, capacity: usize) -> SimDisk {
        SimDisk {
            state: Arc::new(Mutex::new(State {
                generation: 0,
                rng: Rng::new(seed),
                capacity,
                calls: 0,
                fail_calls: BTreeSet::new(),
                cut_at: None,
                crashed: None,
                names: BTreeMap::new(),
                durable_names: BTreeMap::new(),
                pending: Vec::new(),
                dirs: BTreeSet::new(),
            })),
        }
    }

    /// The file system as the current process sees it.
    pub fn fs(&self) -> Arc<dyn Fs> {
        Arc::new(SimFs {
            state: Arc::clone(&self.state),
            generation: lock(&self.state).generation,
        })
    }

    /// The `n`th call from now fails once.
    pub fn fail_call_in(&self, n: u64) {
        let mut st = lock(&self.state);
        let at = st.calls + n;
        st.fail_calls.insert(at);
    }

    /// The power goes just before the `n`th call from now runs.
    pub fn cut_power_in(&self, n: u64) {
        let mut st = lock(&self.state);
        st.cut_at = Some(st.calls + n);
    }

    pub fn cut_power_now(&self) {
        let mut st = lock(&self.state);
        if st.crashed.is_none() {
            st.cut_power();
        }
    }

    /// The process dies; everything it wrote stays (the page cache survives).
    pub fn kill_now(&self) {
        let mut st = lock(&self.state);
        if st.crashed.is_none() {
            st.kill();
        }
    }

    pub fn crashed(&self) -> bool {
        lock(&self.state).crashed.is_some()
    }

    /// Boots from what survived (everything, if nothing crashed), after `damage` had its way
    /// with it; the old process's handles fail from now on.
    pub fn restart(&self, damage: impl FnOnce(&mut Image)) {
        let mut st = lock(&self.state);
        if st.crashed.is_none() {
            st.kill();
        }
        let mut image = st.crashed.take().expect("crashed above");
        damage(&mut image);
        let capacity = st.capacity;
        st.names = image
            .into_iter()
            .map(|(path, bytes)| (path, Arc::new(Mutex::new(Inode::new(capacity, &bytes)))))
            .collect();
        st.durable_names = st.names.clone();
        st.pending.clear();
        st.generation += 1;
        st.cut_at = None;
        st.fail_calls.clear();
    }
}

/// The file system of one process on the simulated disk.
struct SimFs {
    state: Arc<Mutex<State>>,
    generation: u64,
}

impl std::fmt::Debug for SimFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimFs")
            .field("generation", &self.generation)
            .finish()
    }
}

/// Counts a call of process `generation` and decides its fate.
fn enter(state: &Mutex<State>, generation: u64) -> io::Result<MutexGuard<'_, State>> {
    let mut st = lock(state);
    if st.generation != generation || st.crashed.is_some() {
        return Err(gone());
    }
    st.calls += 1;
    let call = st.calls;
    if st.cut_at == Some(call) {
        st.cut_power();
        return Err(gone());
    }
    if st.fail_calls.remove(&call) {
        return Err(io::Error::other(format!("injected failure of call {call}")));
    }
    Ok(st)
}

impl Fs for SimFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = enter(&self.state, self.generation)?;
        st.dirs.insert(dir.to_path_buf());
        Ok(())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn FsFile>> {
        let mut st = enter(&self.state, self.generation)?;
        let inode = match (st.names.get(path).cloned(), mode) {
            (Some(inode), _) => inode,
            (None, OpenMode::Existing) => return Err(io::ErrorKind::NotFound.into()),
            (None, _) => st.create(path),
        };
        if mode == OpenMode::Truncate {
            set_len(&mut lock(&inode), 0);
        }
        Ok(Box::new(SimFile {
            state: Arc::clone(&self.state),
            generation: self.generation,
            inode,
        }))
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = enter(&self.state, self.generation)?;
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = enter(&self.state, self.generation)?;
        if !st.names.contains_key(path) {
            return Err(io::ErrorKind::NotFound.into());
        }
        st.name_op(NameOp::Remove(path.to_path_buf()));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = enter(&self.state, self.generation)?;
        if !st.names.contains_key(from) {
            return Err(io::ErrorKind::NotFound.into());
        }
        st.name_op(NameOp::Rename(from.to_path_buf(), to.to_path_buf()));
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = enter(&self.state, self.generation)?;
        let (done, rest): (Vec<NameOp>, Vec<NameOp>) =
            st.pending.drain(..).partition(|op| op.dir() == dir);
        for op in done {
            op.apply(&mut st.durable_names);
        }
        st.pending = rest;
        Ok(())
    }

    fn lock_dir(&self, _dir: &Path) -> io::Result<Option<DirLock>> {
        let _st = enter(&self.state, self.generation)?;
        Ok(Some(Box::new(())))
    }
}

struct SimFile {
    state: Arc<Mutex<State>>,
    generation: u64,
    inode: Arc<Mutex<Inode>>,
}

fn set_len(inode: &mut Inode, len: u64) {
    let old = inode.len;
    if len < old {
        for b in &inode.cache[len as usize..old as usize] {
            b.store(0, Ordering::Relaxed);
        }
        inode.mark(len, old);
    }
    inode.len = len;
}

impl SimFile {
    fn enter(&self) -> io::Result<MutexGuard<'_, State>> {
        enter(&self.state, self.generation)
    }

    fn check_room(&self, inode: &Inode, end: u64) -> io::Result<()> {
        if end > inode.cache.len() as u64 {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        }
        Ok(())
    }
}

impl FsFile for SimFile {
    fn len(&self) -> io::Result<u64> {
        let _st = self.enter()?;
        Ok(lock(&self.inode).len)
    }

    fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        let _st = self.enter()?;
        let inode = lock(&self.inode);
        if position + buf.len() as u64 > inode.len {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        for (i, out) in buf.iter_mut().enumerate() {
            *out = inode.cache[position as usize + i].load(Ordering::Relaxed);
        }
        Ok(())
    }

    fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        let _st = self.enter()?;
        let mut inode = lock(&self.inode);
        let end = position + buf.len() as u64;
        self.check_room(&inode, end)?;
        for (i, &b) in buf.iter().enumerate() {
            inode.cache[position as usize + i].store(b, Ordering::Relaxed);
        }
        inode.mark(position, end);
        inode.len = inode.len.max(end);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let _st = self.enter()?;
        let mut inode = lock(&self.inode);
        self.check_room(&inode, len)?;
        set_len(&mut inode, len);
        Ok(())
    }

    fn allocate(&self, _from: u64, to: u64) -> io::Result<()> {
        let _st = self.enter()?;
        let mut inode = lock(&self.inode);
        self.check_room(&inode, to)?;
        inode.len = inode.len.max(to);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let _st = self.enter()?;
        lock(&self.inode).sync();
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }

    fn map(&self, len: u64) -> io::Result<Mapping> {
        let _st = self.enter()?;
        let inode = lock(&self.inode);
        self.check_room(&inode, len)?;
        Ok(Mapping::Sim(Arc::clone(&inode.cache)))
    }
}
