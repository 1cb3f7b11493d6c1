//! The EL2 monitor (`linux-harness/monitor`) as QEMU boots it: built with cargo for
//! `aarch64-unknown-none-softfloat` (the FP-free flavour of aarch64-unknown-none, so the
//! monitor never touches the guest's FP/SIMD/SVE registers), turned into a flat arm64
//! Image with objcopy, and cached under `monitor/<hash>` by a hash of its sources, the
//! workspace manifest and the compiler.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::cmd::run;
use crate::error::IoContext;
use crate::toolchain::{version_line, CROSS_COMPILE};
use crate::{paths, Error, Result};

/// The Rust target the monitor is built for.
pub const TARGET: &str = "aarch64-unknown-none-softfloat";

/// The monitor crate's folder.
pub fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("monitor")
}

fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// Every file of the crate, sorted, for the cache key.
fn source_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            source_files(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// The monitor Image for the current sources: built now or found in the cache.
pub fn build_monitor() -> Result<PathBuf> {
    let dir = source_dir();
    let mut files = Vec::new();
    source_files(&dir, &mut files)?;
    let mut h = Sha256::new();
    h.update(version_line("rustc")?.as_bytes());
    for f in files.iter().chain([&workspace_dir().join("Cargo.toml")]) {
        h.update(f.strip_prefix(&dir).unwrap_or(f).to_string_lossy().as_bytes());
        h.update([0]);
        h.update(fs::read(f).context(|| format!("reading {}", f.display()))?);
        h.update([0]);
    }
    let key = hex::encode(h.finalize());
    let cache = paths::cache_root().join("monitor");
    let image = cache.join(&key[..24]).join("monitor.img");
    if image.is_file() {
        return Ok(image);
    }
    // One cargo target directory per checkout: a build script's output names the
    // checkout's absolute path (the linker script), which another checkout of the same
    // sources must not inherit from a shared directory.
    let checkout = hex::encode(Sha256::digest(workspace_dir().to_string_lossy().as_bytes()));
    let target_dir = cache.join("target").join(&checkout[..16]);
    run(Command::new(cargo())
        .current_dir(workspace_dir())
        .args(["build", "--release", "--locked", "-p", "lmo-monitor", "--target", TARGET, "--target-dir"])
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_BUILD_RUSTFLAGS"))
    .map_err(|e| Error::Monitor(format!("building the monitor (is the {TARGET} target installed? run `cargo xtask setup`): {e}")))?;
    let elf = target_dir.join(TARGET).join("release").join("lmo-monitor");
    let out_dir = image.parent().expect("image has a parent");
    fs::create_dir_all(out_dir).context(|| format!("creating {}", out_dir.display()))?;
    let tmp = out_dir.join("monitor.img.tmp");
    run(Command::new(format!("{CROSS_COMPILE}objcopy")).args(["-O", "binary"]).arg(&elf).arg(&tmp))?;
    let bytes = fs::read(&tmp).context(|| format!("reading {}", tmp.display()))?;
    if bytes.len() < 64 || &bytes[56..60] != b"ARM\x64" {
        return Err(Error::Monitor(format!("{}: no arm64 Image header after objcopy", tmp.display())));
    }
    fs::rename(&tmp, &image).context(|| format!("writing {}", image.display()))?;
    Ok(image)
}

/// The event log the monitor keeps in guest RAM, read out of the RAM file.
#[derive(Clone, Debug)]
pub struct MonitorLog {
    bytes: Vec<u8>,
}

fn log_offset() -> u64 {
    lmo_monitor::layout::LOG_PA - lmo_monitor::layout::RAM_BASE
}

impl MonitorLog {
    /// Reads the header and every record claimed from the RAM file of a monitor run.
    pub fn read(ram_file: &Path) -> Result<MonitorLog> {
        use std::os::unix::fs::FileExt;
        let f = fs::File::open(ram_file).context(|| format!("opening {}", ram_file.display()))?;
        Self::read_with(|offset, buf| f.read_exact_at(buf, log_offset() + offset))
    }

    /// Reads the log through `read_at(offset in the log region, buffer)`: the header,
    /// then the records claimed. The header comes from guest RAM: a capacity that does
    /// not fit the log region is an error, not an allocation of that size.
    pub fn read_with(mut read_at: impl FnMut(u64, &mut [u8]) -> std::io::Result<()>) -> Result<MonitorLog> {
        use lmo_monitor::eventlog::{CAPACITY_OFFSET, CLAIMED_OFFSET, RECORDS_OFFSET, RECORD_SIZE};
        let mut head = vec![0u8; RECORDS_OFFSET as usize];
        read_at(0, &mut head).context(|| "reading the monitor log header".into())?;
        let word = |off: u64| u32::from_le_bytes(head[off as usize..off as usize + 4].try_into().unwrap_or_default()) as u64;
        let (claimed, capacity) = (word(CLAIMED_OFFSET), word(CAPACITY_OFFSET));
        if RECORDS_OFFSET + capacity * RECORD_SIZE > lmo_monitor::layout::LOG_SIZE {
            return Err(Error::Monitor(format!(
                "log capacity of {capacity} records does not fit its {} MiB region (header overwritten?)",
                lmo_monitor::layout::LOG_SIZE >> 20
            )));
        }
        let mut bytes = head;
        let records = claimed.min(capacity) * RECORD_SIZE;
        let total = RECORDS_OFFSET + capacity * RECORD_SIZE;
        bytes.resize(total as usize, 0);
        read_at(RECORDS_OFFSET, &mut bytes[RECORDS_OFFSET as usize..(RECORDS_OFFSET + records) as usize])
            .context(|| "reading the monitor log records".into())?;
        Ok(MonitorLog { bytes })
    }

    pub fn view(&self) -> std::result::Result<lmo_monitor::eventlog::LogView<'_>, lmo_monitor::eventlog::LogError> {
        lmo_monitor::eventlog::LogView::parse(&self.bytes)
    }
}

/// Watches a monitor run's log header for a monitor panic, cheaply (one small read).
pub struct PanicWatch {
    file: Option<fs::File>,
    path: PathBuf,
}

impl PanicWatch {
    pub fn new(ram_file: &Path) -> PanicWatch {
        PanicWatch { file: None, path: ram_file.to_path_buf() }
    }

    /// The monitor's panic message, once it has panicked.
    pub fn check(&mut self) -> Option<String> {
        use std::os::unix::fs::FileExt;
        use lmo_monitor::eventlog::{PANICKED_OFFSET, PANIC_LEN_OFFSET, PANIC_MSG_MAX, PANIC_MSG_OFFSET};
        if self.file.is_none() {
            self.file = fs::File::open(&self.path).ok();
        }
        let f = self.file.as_ref()?;
        let read = |off: u64| -> Option<u32> {
            let mut b = [0u8; 4];
            f.read_exact_at(&mut b, log_offset() + off).ok()?;
            Some(u32::from_le_bytes(b))
        };
        if read(PANICKED_OFFSET)? == 0 {
            return None;
        }
        let len = (read(PANIC_LEN_OFFSET)? as usize).min(PANIC_MSG_MAX);
        let mut msg = vec![0u8; len];
        f.read_exact_at(&mut msg, log_offset() + PANIC_MSG_OFFSET).ok()?;
        Some(String::from_utf8_lossy(&msg).into_owned())
    }
}

/// How many records the monitor has claimed so far (the log's length at this moment).
pub fn records_claimed(ram_file: &Path) -> Result<u32> {
    use std::os::unix::fs::FileExt;
    let f = fs::File::open(ram_file).context(|| format!("opening {}", ram_file.display()))?;
    let mut b = [0u8; 4];
    f.read_exact_at(&mut b, log_offset() + lmo_monitor::eventlog::CLAIMED_OFFSET).context(|| "reading the monitor log header".into())?;
    Ok(u32::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lmo_monitor::eventlog::{CAPACITY_OFFSET, CLAIMED_OFFSET, MAGIC, RECORDS_OFFSET, RECORD_SIZE};

    /// A log region: header, `capacity` slots, records 1..=claimed written.
    fn region(capacity: u32, claimed: u32) -> Vec<u8> {
        let mut r = vec![0u8; (RECORDS_OFFSET + u64::from(capacity) * RECORD_SIZE) as usize];
        r[..8].copy_from_slice(&MAGIC.to_le_bytes());
        r[CAPACITY_OFFSET as usize..][..8].copy_from_slice(&(u64::from(capacity) | (RECORD_SIZE << 32)).to_le_bytes());
        r[CLAIMED_OFFSET as usize..][..4].copy_from_slice(&claimed.to_le_bytes());
        for i in 0..claimed.min(capacity) {
            let at = (RECORDS_OFFSET + u64::from(i) * RECORD_SIZE) as usize;
            r[at..at + 4].copy_from_slice(&(i + 1).to_le_bytes());
            r[at + 6] = 3;
        }
        r
    }

    fn read(region: &[u8]) -> Result<MonitorLog> {
        MonitorLog::read_with(|off, buf| {
            let src = region.get(off as usize..off as usize + buf.len()).ok_or(std::io::ErrorKind::UnexpectedEof)?;
            buf.copy_from_slice(src);
            Ok(())
        })
    }

    #[test]
    fn log_reads_back() {
        let log = read(&region(4, 6)).unwrap();
        let view = log.view().unwrap();
        assert_eq!((view.records().count(), view.dropped()), (4, 2));
    }

    /// Regression: a capacity field overwritten with a large value made the host
    /// allocate capacity × 64 bytes (up to 256 GiB) before reading.
    #[test]
    fn capacity_beyond_the_region_is_an_error() {
        let mut r = region(1, 1);
        r[CAPACITY_OFFSET as usize..][..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = read(&r).unwrap_err().to_string();
        assert!(e.contains("does not fit"), "{e}");
    }
}
