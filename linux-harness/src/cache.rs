//! The cache under control: what it holds (kernels and kbuild trees, their size, last
//! use, whether a process is using them), the checksums that keep a truncated or
//! corrupted kernel from being booted, and garbage collection of what no corpus needs.
//!
//! Layout under the root (see [`crate::paths`]): `kernels/<key[..24]>/` (Image, vmlinux,
//! System.map, config, variant.json, [`CHECKSUMS`], [`LAST_USED`], [`DONE`]),
//! `build/<family[..24]>/` (kbuild trees: `.lmo-configured`, [`TREE_LAST_USED`]), `src/`,
//! `initramfs/`, `mbox/`, `monitor/` and `build.lock`. Only kernels and build trees are
//! collected; the rest is small or shared by every variant.
//!
//! Rules (docs/cache.md):
//! - whoever uses a kernel holds a shared `flock` on its `done` ([`hold_kernel`]) for as
//!   long as it uses it; gc takes an exclusive non-blocking one and skips the kernel when
//!   it cannot;
//! - build trees are only used under the cache-wide build lock; gc takes it non-blocking
//!   and leaves every build tree alone while a build runs;
//! - an entry is removed by renaming it to a `.gc-` sibling first, so a half-removed
//!   entry never looks valid; moved-aside corrupt kernels are `.corrupt-` siblings.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::IoContext;
use crate::{paths, Error, Result};

/// Marker written last into a finished kernel entry; the file whose lock says "in use".
pub const DONE: &str = "done";
/// Sizes and SHA-256 of a kernel entry's files, written at build time before [`DONE`].
pub const CHECKSUMS: &str = "checksums.json";
/// Touched in a kernel entry every time `build_kernel` hands it out.
pub const LAST_USED: &str = "last-used";
/// Touched in a build tree every time a kernel is built in it (kbuild's folder, so
/// prefixed like `.lmo-configured`).
pub const TREE_LAST_USED: &str = ".lmo-last-used";
/// Marker of a configured build tree.
pub const TREE_CONFIGURED: &str = ".lmo-configured";

const GC_PREFIX: &str = ".gc-";
const CORRUPT_PREFIX: &str = ".corrupt-";

/// The areas of the cache, by folder name (the same names as [`crate::paths`]; `mbox` is
/// split mboxes, `monitor` the EL2 monitor's build).
pub const AREAS: [&str; 6] = ["src", "build", "kernels", "initramfs", "mbox", "monitor"];
const KERNELS: &str = "kernels";
const BUILD: &str = "build";
const BUILD_LOCK: &str = "build.lock";

/// A kernel entry's checked files: all of them are read by the oracle (vmlinux for its
/// symbols and structure layouts), so each is hashed on every use. That costs about 50 ms
/// for a 4 MB Image and a 49 MB vmlinux with the files in the page cache (docs/cache.md).
const CHECKED: [&str; 4] = ["Image", "vmlinux", "System.map", "config"];

/// Offset and value of the arm64 Image header's magic (`ARM\x64`).
const IMAGE_MAGIC_OFFSET: usize = 0x38;
const IMAGE_MAGIC: &[u8; 4] = b"ARM\x64";

// ---------------------------------------------------------------------------------------
// In use and last used

/// A shared lock on a kernel entry's [`DONE`], held while the kernel is used.
pub type InUse = Arc<Flock<File>>;

/// Share-locks `dir/done` (waiting while gc holds it); `None` when the entry is not
/// there, or was removed while waiting (the path no longer names the locked file).
pub fn hold_kernel(dir: &Path) -> Result<Option<InUse>> {
    let done = dir.join(DONE);
    let file = match File::open(&done) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::Io { context: format!("opening {}", done.display()), source: e }),
    };
    let lock = Flock::lock(file, FlockArg::LockShared)
        .map_err(|(_, e)| Error::Io { context: format!("locking {}", done.display()), source: e.into() })?;
    let locked = lock.metadata().context(|| format!("reading {}", done.display()))?;
    match fs::metadata(&done) {
        Ok(now) if now.dev() == locked.dev() && now.ino() == locked.ino() => Ok(Some(Arc::new(lock))),
        _ => Ok(None),
    }
}

/// Whether some process holds `dir/done` (a kernel in use). Takes and drops an
/// exclusive lock when it is free.
pub fn kernel_in_use(dir: &Path) -> bool {
    lock_exclusive_now(&dir.join(DONE)).is_err()
}

/// The exclusive lock on `done` if nobody holds it; `Ok(None)` when there is no `done`,
/// `Err(())` when it is held.
fn lock_exclusive_now(done: &Path) -> std::result::Result<Option<Flock<File>>, ()> {
    let Ok(file) = File::open(done) else { return Ok(None) };
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map(Some).map_err(|_| ())
}

/// Sets `path`'s modification time to now, creating it empty if needed.
pub fn touch(path: &Path) -> io::Result<()> {
    let f = fs::OpenOptions::new().create(true).truncate(false).write(true).open(path)?;
    f.set_modified(SystemTime::now())
}

/// When an entry was last used: its marker's mtime, else the folder's.
fn last_used(dir: &Path, marker: &str) -> SystemTime {
    fs::metadata(dir.join(marker))
        .or_else(|_| fs::metadata(dir))
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

// ---------------------------------------------------------------------------------------
// Checksums

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
struct FileSum {
    size: u64,
    sha256: String,
}

/// Why a cached kernel cannot be used: which file, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corrupt {
    pub file: String,
    pub problem: String,
}

impl fmt::Display for Corrupt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file, self.problem)
    }
}

/// How a cached kernel passed [`verify_kernel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verified {
    /// Sizes and hashes agree with those recorded at build time.
    Checked,
    /// An entry from before checksums: its files looked sane (non-empty, Image and ELF
    /// magic), and their checksums were recorded now.
    Recorded,
}

fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Records the size and SHA-256 of a kernel entry's files in `dir/checksums.json`
/// (written to a temporary name, then renamed).
pub fn write_checksums(dir: &Path) -> Result<()> {
    let mut sums = BTreeMap::new();
    for name in CHECKED {
        let path = dir.join(name);
        let size = fs::metadata(&path).context(|| format!("reading {}", path.display()))?.len();
        let sha256 = sha256_file(&path).context(|| format!("hashing {}", path.display()))?;
        sums.insert(name.to_string(), FileSum { size, sha256 });
    }
    let text = serde_json::to_string_pretty(&sums).unwrap_or_default();
    let tmp = dir.join(format!("{CHECKSUMS}.tmp-{}", std::process::id()));
    fs::write(&tmp, text).context(|| format!("writing {}", tmp.display()))?;
    let dest = dir.join(CHECKSUMS);
    fs::rename(&tmp, &dest).context(|| format!("writing {}", dest.display()))
}

/// Checks a cached kernel before it is handed out: every file's size (first, as it is
/// cheap), then its SHA-256, against [`CHECKSUMS`]. An entry without checksums (built
/// before they existed) is checked for plausibility and its checksums recorded.
pub fn verify_kernel(dir: &Path) -> std::result::Result<Verified, Corrupt> {
    let corrupt = |file: &str, problem: String| Corrupt { file: file.to_string(), problem };
    let text = match fs::read_to_string(dir.join(CHECKSUMS)) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return verify_unrecorded(dir),
        Err(e) => return Err(corrupt(CHECKSUMS, format!("cannot read: {e}"))),
    };
    let sums: BTreeMap<String, FileSum> =
        serde_json::from_str(&text).map_err(|e| corrupt(CHECKSUMS, format!("cannot parse: {e}")))?;
    let mut recorded = Vec::new();
    for name in CHECKED {
        let want = sums.get(name).ok_or_else(|| corrupt(name, format!("not recorded in {CHECKSUMS}")))?;
        let path = dir.join(name);
        let size = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(corrupt(name, "missing".into())),
            Err(e) => return Err(corrupt(name, format!("cannot read: {e}"))),
        };
        if size != want.size {
            let how = if size < want.size { "truncated" } else { "grown" };
            return Err(corrupt(name, format!("{size} bytes, {} when built ({how})", want.size)));
        }
        recorded.push((name, path, want));
    }
    for (name, path, want) in recorded {
        let got = sha256_file(&path).map_err(|e| corrupt(name, format!("cannot read: {e}")))?;
        if got != want.sha256 {
            return Err(corrupt(name, format!("SHA-256 {} differs from {} recorded when built", &got[..12], short(&want.sha256))));
        }
    }
    Ok(Verified::Checked)
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

/// An entry without checksums: every file there and non-empty, the Image with its header
/// magic, vmlinux an ELF file; then its checksums are recorded (best effort: a read-only
/// cache still works, it is just checked this way again next time).
fn verify_unrecorded(dir: &Path) -> std::result::Result<Verified, Corrupt> {
    let corrupt = |file: &str, problem: String| Corrupt { file: file.to_string(), problem };
    for name in CHECKED {
        match fs::metadata(dir.join(name)) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => return Err(corrupt(name, "empty (no checksums recorded)".into())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(corrupt(name, "missing".into())),
            Err(e) => return Err(corrupt(name, format!("cannot read: {e}"))),
        }
    }
    let head = |name: &str, len: usize| -> std::result::Result<Vec<u8>, Corrupt> {
        let mut buf = vec![0u8; len];
        File::open(dir.join(name))
            .and_then(|mut f| f.read_exact(&mut buf))
            .map_err(|e| corrupt(name, format!("cannot read its header: {e}")))?;
        Ok(buf)
    };
    let image = head("Image", IMAGE_MAGIC_OFFSET + IMAGE_MAGIC.len())?;
    if &image[IMAGE_MAGIC_OFFSET..] != IMAGE_MAGIC {
        return Err(corrupt("Image", format!("no arm64 Image magic at {IMAGE_MAGIC_OFFSET:#x} (no checksums recorded)")));
    }
    if head("vmlinux", 4)? != b"\x7fELF" {
        return Err(corrupt("vmlinux", "not an ELF file (no checksums recorded)".into()));
    }
    let _ = write_checksums(dir);
    Ok(Verified::Recorded)
}

/// Renames a corrupt kernel entry to a `.corrupt-` sibling (kept for a look, removed by
/// the next gc); returns where it went.
pub fn move_aside(dir: &Path) -> Result<PathBuf> {
    let aside = sibling(dir, CORRUPT_PREFIX);
    fs::rename(dir, &aside).context(|| format!("moving {} aside", dir.display()))?;
    Ok(aside)
}

/// `parent/<prefix><name>-<pid>-<nanos>`: a name no valid entry has, unique per call.
fn sibling(dir: &Path, prefix: &str) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    dir.with_file_name(format!("{prefix}{name}-{}-{nanos}", std::process::id()))
}

/// Removes an entry: renamed away first (atomically invalid), then deleted.
fn remove_entry(dir: &Path) -> io::Result<()> {
    let gone = sibling(dir, GC_PREFIX);
    fs::rename(dir, &gone)?;
    fs::remove_dir_all(&gone)
}

// ---------------------------------------------------------------------------------------
// Listing

/// Bytes under `path`: the sum of regular files' sizes, symlinks not followed.
pub fn disk_size(path: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = fs::symlink_metadata(&p) else { continue };
        if meta.is_dir() {
            if let Ok(entries) = fs::read_dir(&p) {
                stack.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
            }
        } else if meta.is_file() {
            total += meta.len();
        }
    }
    total
}

/// A kernel entry or a build tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Kernel,
    BuildTree,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Kernel => "kernel",
            Kind::BuildTree => "build tree",
        })
    }
}

/// What `variant.json` says of a kernel entry.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct VariantSummary {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub series: Vec<PathBuf>,
    #[serde(default)]
    pub configs: Vec<PathBuf>,
    #[serde(default)]
    pub compiler: String,
}

/// One cached kernel or build tree.
#[derive(Clone, Debug)]
pub struct Entry {
    pub kind: Kind,
    /// Folder name: the first 24 hex digits of the variant key (kernels) or of the
    /// configuration family (build trees).
    pub name: String,
    pub dir: PathBuf,
    pub bytes: u64,
    pub last_used: SystemTime,
    /// A kernel some process holds; for build trees, a build is running.
    pub in_use: bool,
    /// A kernel with `done`; a build tree with `.lmo-configured`.
    pub complete: bool,
    /// Kernels: from `variant.json`.
    pub variant: Option<VariantSummary>,
}

/// The bytes of one area of the cache (`src`, `build`, ...; `other` for the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Area {
    pub name: String,
    pub bytes: u64,
}

/// Everything in the cache.
#[derive(Clone, Debug)]
pub struct Listing {
    pub root: PathBuf,
    /// Least recently used first.
    pub kernels: Vec<Entry>,
    /// Least recently used first.
    pub build_trees: Vec<Entry>,
    /// [`AREAS`] in order, then `other` when anything else is there.
    pub areas: Vec<Area>,
    /// Removals cut short and moved-aside corrupt kernels (`.gc-*`, `.corrupt-*`).
    pub leftovers: Vec<(PathBuf, u64)>,
    pub total: u64,
    /// Someone holds the build lock.
    pub build_running: bool,
}

fn is_entry_name(name: &str) -> bool {
    name.len() == 24 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Lists the cache at [`paths::cache_root`].
pub fn list() -> Result<Listing> {
    list_in(&paths::cache_root())
}

/// Lists the cache rooted at `root` (nothing when it does not exist; nothing is created).
pub fn list_in(root: &Path) -> Result<Listing> {
    let build_running = root.is_dir() && crate::build::try_lock_builds_at(&root.join(BUILD_LOCK))?.is_none();
    scan(root, build_running)
}

fn scan(root: &Path, build_running: bool) -> Result<Listing> {
    let mut listing = Listing {
        root: root.to_path_buf(),
        kernels: Vec::new(),
        build_trees: Vec::new(),
        areas: AREAS.iter().map(|a| Area { name: a.to_string(), bytes: 0 }).collect(),
        leftovers: Vec::new(),
        total: 0,
        build_running,
    };
    if !root.is_dir() {
        return Ok(listing);
    }
    let mut other = 0;
    for child in read_dir_sorted(root)? {
        let name = child.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let bytes = match name.as_str() {
            KERNELS => scan_entries(&child, Kind::Kernel, build_running, &mut listing)?,
            BUILD => scan_entries(&child, Kind::BuildTree, build_running, &mut listing)?,
            _ => disk_size(&child),
        };
        match listing.areas.iter_mut().find(|a| a.name == name) {
            Some(a) => a.bytes = bytes,
            None => other += bytes,
        }
        listing.total += bytes;
    }
    if other > 0 {
        listing.areas.push(Area { name: "other".into(), bytes: other });
    }
    listing.kernels.sort_by_key(|e| e.last_used);
    listing.build_trees.sort_by_key(|e| e.last_used);
    Ok(listing)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    Ok(out)
}

/// Scans `kernels/` or `build/`; returns the area's bytes.
fn scan_entries(area: &Path, kind: Kind, build_running: bool, listing: &mut Listing) -> Result<u64> {
    let meta = fs::symlink_metadata(area).context(|| format!("reading {}", area.display()))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for dir in read_dir_sorted(area)? {
        let bytes = disk_size(&dir);
        total += bytes;
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if name.starts_with(GC_PREFIX) || name.starts_with(CORRUPT_PREFIX) {
            listing.leftovers.push((dir, bytes));
            continue;
        }
        if !is_entry_name(&name) || !dir.is_dir() {
            continue;
        }
        let entry = match kind {
            Kind::Kernel => Entry {
                kind,
                last_used: last_used(&dir, LAST_USED),
                in_use: kernel_in_use(&dir),
                complete: dir.join(DONE).is_file(),
                variant: fs::read_to_string(dir.join("variant.json")).ok().and_then(|t| serde_json::from_str(&t).ok()),
                name,
                dir,
                bytes,
            },
            Kind::BuildTree => Entry {
                kind,
                last_used: last_used(&dir, TREE_LAST_USED),
                in_use: build_running,
                complete: dir.join(TREE_CONFIGURED).is_file(),
                variant: None,
                name,
                dir,
                bytes,
            },
        };
        match kind {
            Kind::Kernel => listing.kernels.push(entry),
            Kind::BuildTree => listing.build_trees.push(entry),
        }
    }
    Ok(total)
}

// ---------------------------------------------------------------------------------------
// Garbage collection

/// What to collect.
#[derive(Clone, Debug, Default)]
pub struct GcRequest {
    /// Variant keys (full or at least 24 hex digits) whose kernels must stay.
    pub needed_kernels: HashSet<String>,
    /// Configuration families whose build trees must stay.
    pub needed_families: HashSet<String>,
    /// Remove unneeded entries, least recently used first, only until the cache is at
    /// most this many bytes; `None`: remove every unneeded entry.
    pub max_size: Option<u64>,
    /// Say what would be removed; remove nothing.
    pub dry_run: bool,
}

/// What became of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    Removed,
    /// `dry_run`: it would have been removed.
    WouldRemove,
    /// A corpus needs it: never removed.
    Needed,
    /// A process holds the kernel.
    InUse,
    /// A build is running: build trees are left alone.
    BuildRunning,
    /// The cache was already within `max_size`.
    UnderLimit,
    /// Removing it failed.
    Failed(String),
}

/// One entry and its fate.
#[derive(Clone, Debug)]
pub struct GcItem {
    pub entry: Entry,
    pub fate: Fate,
}

/// What gc did (or, with `dry_run`, would do).
#[derive(Clone, Debug)]
pub struct GcReport {
    /// Kernels and build trees, least recently used first.
    pub items: Vec<GcItem>,
    /// `.gc-*` / `.corrupt-*` leftovers removed (or that would be), with their bytes.
    pub leftovers: Vec<(PathBuf, u64)>,
    pub size_before: u64,
    /// After gc (with `dry_run`: as it would be).
    pub size_after: u64,
    pub max_size: Option<u64>,
    pub build_running: bool,
    pub dry_run: bool,
}

impl GcReport {
    pub fn freed(&self) -> u64 {
        self.size_before - self.size_after
    }

    /// With `max_size`: the cache is still above it (what is left is needed or in use).
    pub fn still_above_limit(&self) -> bool {
        self.max_size.is_some_and(|m| self.size_after > m)
    }

    pub fn failures(&self) -> impl Iterator<Item = &GcItem> {
        self.items.iter().filter(|i| matches!(i.fate, Fate::Failed(_)))
    }
}

/// Collects the cache at [`paths::cache_root`].
pub fn gc(req: &GcRequest) -> Result<GcReport> {
    gc_in(&paths::cache_root(), req)
}

/// Collects the cache rooted at `root`: kernels and build trees that are not needed,
/// least recently used first (see [`GcRequest`]); entries in use are skipped, and build
/// trees all are while a build runs. Leftovers of earlier removals and moved-aside
/// corrupt kernels always go.
pub fn gc_in(root: &Path, req: &GcRequest) -> Result<GcReport> {
    // Held to the end: no build starts (and so no build tree is used) meanwhile.
    let build_lock = if root.is_dir() { crate::build::try_lock_builds_at(&root.join(BUILD_LOCK))? } else { None };
    let build_running = root.is_dir() && build_lock.is_none();
    let listing = scan(root, build_running)?;
    let mut size = listing.total;
    let mut leftovers = Vec::new();
    for (path, bytes) in listing.leftovers {
        if req.dry_run || fs::remove_dir_all(&path).is_ok() || !path.exists() {
            size -= bytes;
            leftovers.push((path, bytes));
        }
    }
    let needed = |e: &Entry| {
        let keys = match e.kind {
            Kind::Kernel => &req.needed_kernels,
            Kind::BuildTree => &req.needed_families,
        };
        keys.iter().any(|k| k.get(..24) == Some(e.name.as_str()))
    };
    let mut entries: Vec<Entry> = listing.kernels.into_iter().chain(listing.build_trees).collect();
    entries.sort_by_key(|e| e.last_used);
    let mut items = Vec::new();
    for entry in entries {
        let fate = if needed(&entry) {
            Fate::Needed
        } else if req.max_size.is_some_and(|m| size <= m) {
            Fate::UnderLimit
        } else {
            let fate = collect_one(&entry, build_running, req.dry_run);
            if matches!(fate, Fate::Removed | Fate::WouldRemove) {
                size -= entry.bytes;
            }
            fate
        };
        items.push(GcItem { entry, fate });
    }
    drop(build_lock);
    Ok(GcReport {
        items,
        leftovers,
        size_before: listing.total,
        size_after: size,
        max_size: req.max_size,
        build_running,
        dry_run: req.dry_run,
    })
}

fn collect_one(entry: &Entry, build_running: bool, dry_run: bool) -> Fate {
    // Kernels: the exclusive lock on `done`, held while the entry is renamed away.
    let _lock = match entry.kind {
        Kind::Kernel => match lock_exclusive_now(&entry.dir.join(DONE)) {
            Ok(lock) => lock,
            Err(()) => return Fate::InUse,
        },
        Kind::BuildTree if build_running => return Fate::BuildRunning,
        Kind::BuildTree => None,
    };
    if dry_run {
        return Fate::WouldRemove;
    }
    match remove_entry(&entry.dir) {
        Ok(()) => Fate::Removed,
        Err(e) => Fate::Failed(format!("removing {}: {e}", entry.dir.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn fake_image(len: usize) -> Vec<u8> {
        let mut img = vec![0u8; len];
        img[IMAGE_MAGIC_OFFSET..IMAGE_MAGIC_OFFSET + 4].copy_from_slice(IMAGE_MAGIC);
        img
    }

    /// A finished kernel entry of about `kib` KiB, last used `age` seconds ago.
    fn fake_kernel(root: &Path, name: &str, kib: usize, age: u64) -> PathBuf {
        let dir = root.join(KERNELS).join(name);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("Image"), fake_image(kib * 1024)).unwrap();
        fs::write(dir.join("vmlinux"), b"\x7fELF rest of it").unwrap();
        fs::write(dir.join("System.map"), "ffff800080000000 T _text\n").unwrap();
        fs::write(dir.join("config"), "CONFIG_ARM64=y\n").unwrap();
        fs::write(dir.join("variant.json"), r#"{"key":"k","source":"linux-source-7.3 7.3.4-1","series":[],"configs":["/c/configs/base.config"]}"#).unwrap();
        write_checksums(&dir).unwrap();
        fs::write(dir.join(DONE), "").unwrap();
        set_age(&dir.join(LAST_USED), age);
        dir
    }

    fn fake_tree(root: &Path, name: &str, kib: usize, age: u64) -> PathBuf {
        let dir = root.join(BUILD).join(name);
        fs::create_dir_all(dir.join("mm")).unwrap();
        fs::write(dir.join(TREE_CONFIGURED), "").unwrap();
        fs::write(dir.join("mm").join("mmu.o"), vec![1u8; kib * 1024]).unwrap();
        set_age(&dir.join(TREE_LAST_USED), age);
        dir
    }

    fn set_age(path: &Path, age: u64) {
        touch(path).unwrap();
        let f = fs::OpenOptions::new().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age)).unwrap();
    }

    fn name(c: char) -> String {
        std::iter::repeat_n(c, 24).collect()
    }

    fn fates(r: &GcReport) -> Vec<(String, Fate)> {
        r.items.iter().map(|i| (i.entry.name[..1].to_string(), i.fate.clone())).collect()
    }

    #[test]
    fn layout_names_match_paths() {
        let root = paths::cache_root();
        assert_eq!(paths::kernels_dir(), root.join(KERNELS));
        assert_eq!(paths::build_trees_dir(), root.join(BUILD));
        assert_eq!(paths::build_lock(), root.join(BUILD_LOCK));
        assert_eq!(paths::sources_dir(), root.join(AREAS[0]));
        assert_eq!(paths::initramfs_dir(), root.join(AREAS[3]));
    }

    #[test]
    fn listing_sizes_last_use_and_totals() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fake_kernel(root, &name('a'), 8, 100);
        fake_kernel(root, &name('b'), 4, 1000);
        fake_tree(root, &name('c'), 16, 10);
        fs::create_dir_all(root.join("src/linux-source-7.3")).unwrap();
        fs::write(root.join("src/linux-source-7.3/Makefile"), vec![0u8; 3000]).unwrap();
        std::os::unix::fs::symlink("/usr", root.join("src/link")).unwrap();
        let l = list_in(root).unwrap();
        assert_eq!(l.kernels.iter().map(|e| &e.name[..1]).collect::<Vec<_>>(), ["b", "a"]);
        let a = &l.kernels[1];
        assert!(a.bytes > 8 * 1024 && a.bytes < 9 * 1024, "{}", a.bytes);
        assert!(a.complete && !a.in_use);
        let v = a.variant.as_ref().unwrap();
        assert_eq!(v.source, "linux-source-7.3 7.3.4-1");
        assert_eq!(l.build_trees.len(), 1);
        assert_eq!(l.build_trees[0].bytes, 16 * 1024);
        let area = |n: &str| l.areas.iter().find(|a| a.name == n).unwrap().bytes;
        assert_eq!(area("src"), 3000, "symlinks are not followed");
        assert_eq!(area("kernels"), l.kernels.iter().map(|e| e.bytes).sum::<u64>());
        assert_eq!(l.total, l.areas.iter().map(|a| a.bytes).sum::<u64>());
    }

    #[test]
    fn gc_removes_unneeded_lru_first_until_under_max_size() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fake_kernel(root, &name('a'), 100, 300);
        fake_tree(root, &name('b'), 100, 200);
        fake_kernel(root, &name('c'), 100, 100);
        fake_kernel(root, &name('d'), 100, 10);
        let total = list_in(root).unwrap().total;
        // A little under the total less the two oldest entries: a third one goes, not the fourth.
        let req = GcRequest { max_size: Some(total - 2 * 100 * 1024 - 2048), ..Default::default() };
        let r = gc_in(root, &req).unwrap();
        assert_eq!(
            fates(&r),
            [("a".into(), Fate::Removed), ("b".into(), Fate::Removed), ("c".into(), Fate::Removed), ("d".into(), Fate::UnderLimit)]
        );
        assert!(!root.join(KERNELS).join(name('a')).exists() && !root.join(BUILD).join(name('b')).exists());
        assert!(root.join(KERNELS).join(name('d')).join(DONE).is_file());
        assert!(r.size_after <= req.max_size.unwrap() && !r.still_above_limit());
        assert_eq!(r.freed(), r.size_before - list_in(root).unwrap().total);
        // Nothing left behind: no .gc- siblings.
        assert_eq!(fs::read_dir(root.join(KERNELS)).unwrap().count(), 1);
    }

    #[test]
    fn needed_entries_are_never_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fake_kernel(root, &name('a'), 10, 300);
        fake_tree(root, &name('b'), 10, 200);
        fake_kernel(root, &name('c'), 10, 100);
        let req = GcRequest {
            needed_kernels: [format!("{}{}", name('a'), "0".repeat(40))].into(),
            needed_families: [name('b')].into(),
            max_size: Some(0),
            dry_run: false,
        };
        let r = gc_in(root, &req).unwrap();
        assert_eq!(fates(&r), [("a".into(), Fate::Needed), ("b".into(), Fate::Needed), ("c".into(), Fate::Removed)]);
        assert!(r.still_above_limit());
        assert!(root.join(KERNELS).join(name('a')).join("Image").is_file());
        assert!(root.join(BUILD).join(name('b')).is_dir());
    }

    #[test]
    fn without_max_size_every_unneeded_entry_goes_and_dry_run_removes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fake_kernel(root, &name('a'), 10, 300);
        fake_tree(root, &name('b'), 10, 200);
        let leftover = root.join(KERNELS).join(format!("{GC_PREFIX}{}-1-2", name('e')));
        fs::create_dir_all(&leftover).unwrap();
        fs::write(leftover.join("Image"), "x").unwrap();
        let dry = gc_in(root, &GcRequest { dry_run: true, ..Default::default() }).unwrap();
        assert_eq!(fates(&dry), [("a".into(), Fate::WouldRemove), ("b".into(), Fate::WouldRemove)]);
        assert_eq!(dry.leftovers.len(), 1);
        assert!(leftover.exists() && root.join(KERNELS).join(name('a')).exists());
        let r = gc_in(root, &GcRequest::default()).unwrap();
        assert_eq!(fates(&r), [("a".into(), Fate::Removed), ("b".into(), Fate::Removed)]);
        assert_eq!(r.freed(), dry.freed());
        assert!(!leftover.exists());
        assert_eq!(list_in(root).unwrap().total, r.size_after);
    }

    #[test]
    fn kernel_in_use_is_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let a = fake_kernel(root, &name('a'), 10, 300);
        fake_kernel(root, &name('b'), 10, 100);
        let held = hold_kernel(&a).unwrap().expect("entry is there");
        assert!(list_in(root).unwrap().kernels[0].in_use);
        let r = gc_in(root, &GcRequest::default()).unwrap();
        assert_eq!(fates(&r), [("a".into(), Fate::InUse), ("b".into(), Fate::Removed)]);
        assert!(a.join(DONE).is_file());
        drop(held);
        let r = gc_in(root, &GcRequest::default()).unwrap();
        assert_eq!(fates(&r), [("a".into(), Fate::Removed)]);
    }

    #[test]
    fn build_trees_are_skipped_while_a_build_runs() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fake_tree(root, &name('a'), 10, 300);
        fake_kernel(root, &name('b'), 10, 100);
        let build = crate::build::try_lock_builds_at(&root.join(BUILD_LOCK)).unwrap().expect("lock is free");
        let l = list_in(root).unwrap();
        assert!(l.build_running && l.build_trees[0].in_use);
        let r = gc_in(root, &GcRequest::default()).unwrap();
        assert!(r.build_running);
        assert_eq!(fates(&r), [("a".into(), Fate::BuildRunning), ("b".into(), Fate::Removed)]);
        assert!(root.join(BUILD).join(name('a')).is_dir());
        drop(build);
        let r = gc_in(root, &GcRequest::default()).unwrap();
        assert_eq!(fates(&r), [("a".into(), Fate::Removed)]);
    }

    #[test]
    fn hold_kernel_sees_a_removed_entry() {
        let tmp = tempfile::tempdir().unwrap();
        let a = fake_kernel(tmp.path(), &name('a'), 1, 0);
        assert!(hold_kernel(&tmp.path().join("nothing")).unwrap().is_none());
        remove_entry(&a).unwrap();
        assert!(hold_kernel(&a).unwrap().is_none());
    }

    #[test]
    fn verification_catches_truncation_flips_and_missing_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fake_kernel(tmp.path(), &name('a'), 64, 0);
        assert_eq!(verify_kernel(&dir), Ok(Verified::Checked));

        let image = fs::read(dir.join("Image")).unwrap();
        fs::write(dir.join("Image"), &image[..image.len() / 2]).unwrap();
        let bad = verify_kernel(&dir).unwrap_err();
        assert_eq!(bad.file, "Image");
        assert!(bad.problem.contains("truncated"), "{bad}");
        fs::write(dir.join("Image"), &image).unwrap();

        let mut config = fs::read(dir.join("config")).unwrap();
        config[3] ^= 0x20;
        fs::write(dir.join("config"), &config).unwrap();
        let bad = verify_kernel(&dir).unwrap_err();
        assert_eq!(bad.file, "config");
        assert!(bad.problem.contains("SHA-256"), "{bad}");
        config[3] ^= 0x20;
        fs::write(dir.join("config"), &config).unwrap();
        assert_eq!(verify_kernel(&dir), Ok(Verified::Checked));

        let mut vmlinux = fs::read(dir.join("vmlinux")).unwrap();
        vmlinux[8] ^= 0xff;
        fs::write(dir.join("vmlinux"), &vmlinux).unwrap();
        assert_eq!(verify_kernel(&dir).unwrap_err().file, "vmlinux");
        vmlinux[8] ^= 0xff;
        fs::write(dir.join("vmlinux"), &vmlinux).unwrap();

        fs::remove_file(dir.join("System.map")).unwrap();
        assert_eq!(verify_kernel(&dir).unwrap_err(), Corrupt { file: "System.map".into(), problem: "missing".into() });

        fs::write(dir.join(CHECKSUMS), "{ not json").unwrap();
        assert_eq!(verify_kernel(&dir).unwrap_err().file, CHECKSUMS);
    }

    #[test]
    fn entries_without_checksums_are_checked_then_recorded() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fake_kernel(tmp.path(), &name('a'), 4, 0);
        fs::remove_file(dir.join(CHECKSUMS)).unwrap();
        assert_eq!(verify_kernel(&dir), Ok(Verified::Recorded));
        assert!(dir.join(CHECKSUMS).is_file());
        assert_eq!(verify_kernel(&dir), Ok(Verified::Checked));

        fs::remove_file(dir.join(CHECKSUMS)).unwrap();
        fs::write(dir.join("Image"), vec![0u8; 4096]).unwrap();
        let bad = verify_kernel(&dir).unwrap_err();
        assert_eq!(bad.file, "Image");
        assert!(bad.problem.contains("magic"), "{bad}");
        assert!(!dir.join(CHECKSUMS).exists());

        fs::write(dir.join("Image"), fake_image(4096)).unwrap();
        fs::write(dir.join("config"), "").unwrap();
        assert_eq!(verify_kernel(&dir).unwrap_err().file, "config");
    }

    #[test]
    fn corrupt_entries_move_aside_and_gc_removes_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = fake_kernel(tmp.path(), &name('a'), 4, 0);
        let aside = move_aside(&dir).unwrap();
        assert!(!dir.exists() && aside.join("Image").is_file());
        assert!(aside.file_name().unwrap().to_string_lossy().starts_with(CORRUPT_PREFIX));
        let l = list_in(tmp.path()).unwrap();
        assert!(l.kernels.is_empty());
        assert_eq!(l.leftovers.len(), 1);
        let r = gc_in(tmp.path(), &GcRequest::default()).unwrap();
        assert_eq!(r.leftovers.len(), 1);
        assert!(!aside.exists());
    }
}
