//! Kernel variants and the build cache.
//!
//! A variant is a base source, an ordered list of patch series and an ordered list of
//! config fragments (merged onto tinyconfig). Its artifacts live under
//! `kernels/<variant hash>`; the hash covers the source identity, the compiler version,
//! every fragment and every patch. Kbuild trees are kept per *configuration family*
//! (source + fragments + compiler), so a variant that differs from a built one only by
//! patches rebuilds just the files its patches touch. A `git:` or `tar:` source of a
//! version whose Debian source is cached is built in that tree and its families
//! ([`crate::shared_tree`]), so it too rebuilds only the files that differ.
//!
//! A cached kernel is checked before it is handed out (sizes, and SHA-256 of the files
//! the oracle reads, recorded when it was built: [`crate::cache::verify_kernel`]); one
//! that fails is moved aside and rebuilt, never booted. While a [`KernelArtifacts`]
//! lives it holds its entry against `oracle cache gc` (docs/cache.md).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cache::{self, InUse};
use crate::config::{self, ConfigFragment};
use crate::error::IoContext;
use crate::series::{self, PatchSeries};
use crate::source::KernelSource;
use crate::{paths, shared_tree, toolchain, Error, Result};

/// Bumped when the way artifacts are produced changes, to invalidate old cache entries.
const RECIPE: &str = "lmo-kernel-recipe-3";

/// A scenario's `kernel` section: names resolved against a corpus folder.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KernelSpec {
    /// `debian:linux-source-X.Y`.
    pub source: String,
    /// Series under `corpora/patches/` (directories or mbox files), applied in order.
    #[serde(default)]
    pub patches: Vec<String>,
    /// Fragments `corpora/configs/NAME.config`, merged in order onto tinyconfig.
    pub configs: Vec<String>,
}

impl KernelSpec {
    /// Resolves names against the corpus root (the folder holding `patches/` and `configs/`).
    pub fn resolve(&self, corpus_root: &Path) -> KernelVariant {
        KernelVariant {
            source: self.source.clone(),
            series: self.patches.iter().map(|p| corpus_root.join("patches").join(p)).collect(),
            configs: self.configs.iter().map(|c| corpus_root.join("configs").join(format!("{c}.config"))).collect(),
        }
    }
}

/// A fully resolved kernel variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelVariant {
    pub source: String,
    pub series: Vec<PathBuf>,
    pub configs: Vec<PathBuf>,
}

/// What a built variant provides.
#[derive(Clone, Debug)]
pub struct KernelArtifacts {
    /// The cache entry holding everything below.
    pub dir: PathBuf,
    pub image: PathBuf,
    pub vmlinux: PathBuf,
    pub system_map: PathBuf,
    pub config: PathBuf,
    /// Variant hash (hex).
    pub key: String,
    /// The kernel source this was built from (for the initramfs and for reports).
    pub source: KernelSource,
    /// How the artifacts were obtained.
    pub provenance: Provenance,
    /// A shared lock on the entry's `done` marker, held while this value (or a clone)
    /// lives: gc does not remove a kernel in use.
    pub in_use: Option<InUse>,
}

/// Whether a build was needed, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Provenance {
    /// Found in the cache; cost nothing.
    Cached,
    /// Built now, in a kbuild tree that started as `tree` says.
    Built { seconds: f64, tree: TreeStart },
}

/// How the kbuild tree a kernel was built in started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TreeStart {
    /// Empty: everything compiled.
    Cold,
    /// The family's own tree, built before: only what changed recompiled.
    Reused,
    /// A copy of the tree of a family with fewer fragments ([`seed_tree`]).
    Seeded,
}

struct Inputs {
    source: KernelSource,
    /// The tree it is built in (`crate::shared_tree`): the family is that tree's.
    tree: KernelSource,
    series: Vec<PatchSeries>,
    fragments: Vec<ConfigFragment>,
    /// The cross compiler's version line.
    compiler: String,
    family: String,
    key: String,
}

fn load_inputs(variant: &KernelVariant) -> Result<Inputs> {
    let source = KernelSource::locate(&variant.source)?;
    let series = variant.series.iter().map(|s| PatchSeries::load(s)).collect::<Result<Vec<_>>>()?;
    let fragments = variant.configs.iter().map(|c| ConfigFragment::load(c)).collect::<Result<Vec<_>>>()?;
    let compiler = toolchain::cross_gcc_version()?;
    let tree = shared_tree::build_tree(&source);
    let mut h = family_hasher(&tree, &compiler, &fragments);
    let family = hex::encode(h.clone().finalize());
    if tree.tree != source.tree {
        h.update(b"checked out at\0");
        h.update(source.id.as_bytes());
        h.update([0]);
    }
    for s in &series {
        s.hash_into(&mut h);
    }
    let key = hex::encode(h.finalize());
    Ok(Inputs { source, tree, series, fragments, compiler, family, key })
}

/// The hash of a configuration family so far: recipe, tree, compiler and fragments.
fn family_hasher(tree: &KernelSource, compiler: &str, fragments: &[ConfigFragment]) -> Sha256 {
    let mut h = Sha256::new();
    for part in [RECIPE, tree.id.as_str(), compiler] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for f in fragments {
        h.update(f.path.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
        h.update([0]);
        h.update(f.text.as_bytes());
        h.update([0]);
    }
    h
}

/// Starts a new family's kbuild tree as a copy of the configured tree of its longest
/// fragment prefix (`base` for `base` + `devmem`), when there is one: kbuild then
/// recompiles only the objects that read the options the extra fragments change, and
/// the kernel is the one a cold build makes (docs/cache.md, measured). Called under the
/// build lock, on a tree without `.lmo-configured`.
fn seed_tree(inputs: &Inputs, build_dir: &Path) -> Result<Option<PathBuf>> {
    for k in (1..inputs.fragments.len()).rev() {
        let family = hex::encode(family_hasher(&inputs.tree, &inputs.compiler, &inputs.fragments[..k]).finalize());
        let seed = paths::build_trees_dir().join(&family[..24]);
        if !seed.join(cache::TREE_CONFIGURED).is_file() || seed == build_dir {
            continue;
        }
        fs::create_dir_all(build_dir).context(|| format!("creating {}", build_dir.display()))?;
        let mut cp = std::process::Command::new("cp");
        cp.arg("-a").arg("--reflink=auto").arg(seed.join(".")).arg(build_dir);
        crate::cmd::run_build(&mut cp)?;
        for stale in [cache::TREE_CONFIGURED, cache::TREE_LAST_USED, "lmo-build.log"] {
            let _ = fs::remove_file(build_dir.join(stale));
        }
        return Ok(Some(seed));
    }
    Ok(None)
}

fn artifacts(dir: PathBuf, key: String, source: KernelSource, provenance: Provenance, in_use: InUse) -> KernelArtifacts {
    let _ = cache::touch(&dir.join(cache::LAST_USED));
    KernelArtifacts {
        image: dir.join("Image"),
        vmlinux: dir.join("vmlinux"),
        system_map: dir.join("System.map"),
        config: dir.join("config"),
        dir,
        key,
        source,
        provenance,
        in_use: Some(in_use),
    }
}

/// The cache key a variant would be built under (fails like a build would on missing input).
pub fn variant_key(variant: &KernelVariant) -> Result<String> {
    Ok(load_inputs(variant)?.key)
}

/// The configuration family and the cache key of a variant, `(family, key)`: its kbuild
/// tree is `build/<family[..24]>`, its kernel `kernels/<key[..24]>`.
pub fn variant_keys(variant: &KernelVariant) -> Result<(String, String)> {
    let inputs = load_inputs(variant)?;
    Ok((inputs.family, inputs.key))
}

/// The kernel cached in `dir`, held and verified; `None` when it must be built. Under the
/// build lock, an entry that fails verification is reported, moved aside and rebuilt;
/// outside it, it is left for that check (so a rebuild by another process is not moved).
fn cached(dir: &Path, under_build_lock: bool) -> Result<Option<InUse>> {
    let Some(held) = cache::hold_kernel(dir)? else { return Ok(None) };
    match cache::verify_kernel(dir) {
        Ok(_) => Ok(Some(held)),
        Err(_) if !under_build_lock => Ok(None),
        Err(bad) => {
            drop(held);
            let aside = cache::move_aside(dir)?;
            eprintln!("warning: cached kernel {} is corrupt ({bad}): moved to {}, rebuilding", dir.display(), aside.display());
            Ok(None)
        }
    }
}

/// Builds `variant` or returns it from the cache.
pub fn build_kernel(variant: &KernelVariant) -> Result<KernelArtifacts> {
    let inputs = load_inputs(variant)?;
    let dir = paths::kernels_dir().join(&inputs.key[..24]);
    if let Some(held) = cached(&dir, false)? {
        return Ok(artifacts(dir, inputs.key, inputs.source, Provenance::Cached, held));
    }
    let _lock = lock_builds()?;
    if let Some(held) = cached(&dir, true)? {
        return Ok(artifacts(dir, inputs.key, inputs.source, Provenance::Cached, held));
    }
    let started = Instant::now();
    let base = shared_tree::base_commit(&inputs.tree, &inputs.source)?;
    series::prepare_tree(&inputs.tree, &base, &inputs.series)?;
    let build_dir = paths::build_trees_dir().join(&inputs.family[..24]);
    let configured = build_dir.join(cache::TREE_CONFIGURED);
    let mut tree = TreeStart::Reused;
    if !configured.is_file() {
        tree = TreeStart::Cold;
        if let Some(seed) = seed_tree(&inputs, &build_dir)? {
            eprintln!("kbuild tree {} starts as a copy of {}", &inputs.family[..24], seed.display());
            tree = TreeStart::Seeded;
        }
        config::generate(&inputs.tree, &build_dir, &inputs.fragments)?;
        fs::write(&configured, "").context(|| format!("writing {}", configured.display()))?;
    }
    let _ = cache::touch(&build_dir.join(cache::TREE_LAST_USED));
    run_make(&inputs.tree, &build_dir, &inputs.key)?;
    let dot_config = build_dir.join(".config");
    let config_text = fs::read_to_string(&dot_config).context(|| format!("reading {}", dot_config.display()))?;
    config::check(&config_text, &inputs.fragments)?;

    let staging = dir.with_extension("tmp");
    let _ = fs::remove_dir_all(&staging);
    fs::create_dir_all(&staging).context(|| format!("creating {}", staging.display()))?;
    for (from, to) in [
        ("arch/arm64/boot/Image", "Image"),
        ("vmlinux", "vmlinux"),
        ("System.map", "System.map"),
        (".config", "config"),
    ] {
        let from = build_dir.join(from);
        fs::copy(&from, staging.join(to)).context(|| format!("copying {}", from.display()))?;
    }
    let meta = serde_json::json!({
        "key": inputs.key,
        "source": inputs.source.id,
        "built_in": inputs.tree.id,
        "series": variant.series,
        "configs": variant.configs,
        "compiler": inputs.compiler,
    });
    fs::write(staging.join("variant.json"), serde_json::to_string_pretty(&meta).unwrap_or_default())
        .context(|| "writing variant.json".into())?;
    cache::write_checksums(&staging)?;
    fs::write(staging.join(cache::DONE), "").context(|| "writing done marker".into())?;
    // Held before the entry appears, so gc never sees it unused.
    let held = cache::hold_kernel(&staging)?
        .ok_or_else(|| Error::Io { context: format!("{} vanished", staging.display()), source: std::io::ErrorKind::NotFound.into() })?;
    let _ = fs::remove_dir_all(&dir);
    fs::rename(&staging, &dir).context(|| format!("moving artifacts to {}", dir.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(artifacts(dir, inputs.key, inputs.source, Provenance::Built { seconds, tree }, held))
}

/// Holds the cache-wide build lock (one kernel build at a time on this machine).
pub(crate) fn lock_builds() -> Result<Flock<fs::File>> {
    let path = paths::build_lock();
    lock_file(&path, FlockArg::LockExclusive)?
        .ok_or_else(|| Error::Io { context: format!("locking {}", path.display()), source: Errno::EWOULDBLOCK.into() })
}

/// The build lock at `path` if no build holds it; `None` while one runs.
pub(crate) fn try_lock_builds_at(path: &Path) -> Result<Option<Flock<fs::File>>> {
    lock_file(path, FlockArg::LockExclusiveNonblock)
}

fn lock_file(path: &Path, how: FlockArg) -> Result<Option<Flock<fs::File>>> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
    }
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .context(|| format!("opening {}", path.display()))?;
    match Flock::lock(file, how) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(Error::Io { context: format!("locking {}", path.display()), source: e.into() }),
    }
}

fn jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

/// Runs kbuild for `Image` (which links vmlinux and System.map), showing progress and
/// keeping the whole log; on failure the error carries the compiler's error lines.
fn run_make(source: &KernelSource, build_dir: &Path, key: &str) -> Result<()> {
    let log_path = build_dir.join("lmo-build.log");
    let mut log = fs::File::create(&log_path).context(|| format!("creating {}", log_path.display()))?;
    let stderr_log = log.try_clone().context(|| "cloning log handle".into())?;
    let mut cmd = config::make(source, build_dir);
    cmd.arg(format!("-j{}", jobs())).arg("Image").stdout(Stdio::piped()).stderr(Stdio::from(stderr_log));
    eprintln!("building kernel {} (log: {})", &key[..12], log_path.display());
    let (mut child, registration) = crate::cmd::spawn_build(&mut cmd)?;
    let bar = crate::progress::spinner(&format!("kernel {}", &key[..12]));
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines().map_while(|l| l.ok()) {
            let _ = writeln!(log, "{line}");
            bar.inc(1);
            bar.set_message(line);
        }
    }
    let status = child.wait().context(|| "waiting for make".into());
    crate::reaper::unregister(registration);
    let status = status?;
    bar.finish_and_clear();
    if status.success() {
        return Ok(());
    }
    let text = fs::read_to_string(&log_path).unwrap_or_default();
    Err(Error::BuildFailed { errors: compiler_errors(&text), log: log_path })
}

/// The lines of a kbuild log worth showing for a failure: compiler errors with a line of
/// context each, or the log's tail when there are none.
fn compiler_errors(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut picked = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.contains("error:") || line.contains("Error ") || line.contains("undefined reference") {
            for l in &lines[i.saturating_sub(1)..(i + 2).min(lines.len())] {
                if picked.last() != Some(l) {
                    picked.push(*l);
                }
            }
        }
    }
    if picked.is_empty() {
        picked = lines[lines.len().saturating_sub(30)..].to_vec();
    }
    picked.truncate(60);
    picked.join("\n")
}

/// Time spent, for reports.
pub fn describe_provenance(p: Provenance) -> String {
    match p {
        Provenance::Cached => "cached".into(),
        Provenance::Built { seconds, tree } => format!(
            "built in {:.0?}{}",
            Duration::from_secs_f64(seconds),
            match tree {
                TreeStart::Cold => " (cold)",
                TreeStart::Reused => " (reused build tree)",
                TreeStart::Seeded => " (build tree copied from a family with fewer fragments)",
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_resolves_against_corpus_root() {
        let spec = KernelSpec {
            source: "debian:linux-source-7.3".into(),
            patches: vec!["revert".into()],
            configs: vec!["base".into(), "kfence".into()],
        };
        let v = spec.resolve(Path::new("/c"));
        assert_eq!(v.series, vec![PathBuf::from("/c/patches/revert")]);
        assert_eq!(v.configs, vec![PathBuf::from("/c/configs/base.config"), PathBuf::from("/c/configs/kfence.config")]);
    }

    #[test]
    fn a_corrupt_cached_kernel_is_moved_aside_under_the_build_lock_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("0123456789abcdef01234567");
        fs::create_dir_all(&dir).unwrap();
        let mut image = vec![0u8; 8192];
        image[0x38..0x3c].copy_from_slice(b"ARM\x64");
        fs::write(dir.join("Image"), &image).unwrap();
        fs::write(dir.join("vmlinux"), b"\x7fELF").unwrap();
        fs::write(dir.join("System.map"), "ffff800080000000 T _text\n").unwrap();
        fs::write(dir.join("config"), "CONFIG_ARM64=y\n").unwrap();
        cache::write_checksums(&dir).unwrap();
        fs::write(dir.join(cache::DONE), "").unwrap();
        assert!(cached(&dir, false).unwrap().is_some());

        image[100] ^= 1;
        fs::write(dir.join("Image"), &image).unwrap();
        assert!(cached(&dir, false).unwrap().is_none());
        assert!(dir.join("Image").is_file(), "outside the build lock nothing moves");
        assert!(cached(&dir, true).unwrap().is_none());
        assert!(!dir.exists());
        let aside: Vec<_> = fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(aside.len() == 1 && aside[0].starts_with(".corrupt-0123456789abcdef01234567"), "{aside:?}");
    }

    #[test]
    fn build_errors_pick_compiler_lines() {
        let log = "  CC mm/a.o\n../mm/b.c: In function 'f':\n../mm/b.c:3:5: error: 'x' undeclared\n    3 | x;\n  CC mm/c.o\nmake[2]: *** [b.o] Error 1\n";
        let e = compiler_errors(log);
        assert!(e.contains("error: 'x' undeclared"), "{e}");
        assert!(e.contains("In function 'f'"), "{e}");
        assert!(!e.contains("mm/c.o") || e.contains("Error 1"), "{e}");
    }
}
