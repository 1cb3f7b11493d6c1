//! The kernel-source lock (`corpora/kernels.lock`): the exact Debian version each
//! `debian:linux-source-X.Y` source is fetched and built as, so a new upload to the
//! archive never moves a snapshot silently. One source per line, `SOURCE VERSION`;
//! `#` starts a comment. `oracle pin SOURCE` moves a pin (docs/cache.md).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::source::{debian_package, debian_version_ok};
use crate::{Error, Result};

/// The pins of one lock file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelsLock {
    pub path: PathBuf,
    /// `debian:linux-source-X.Y` → Debian version.
    pub pins: BTreeMap<String, String>,
}

const HEADER: &str = "# The exact Debian version of each kernel source the corpus builds. `oracle pin SOURCE`\n# moves a pin: it fetches that version, rebuilds and leaves the snapshot changes for review.\n";

impl KernelsLock {
    /// Reads `path`; a lock that does not exist has no pins. A malformed line is an
    /// error naming the file, the line and what is wrong with it.
    pub fn load(path: &Path) -> Result<KernelsLock> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KernelsLock { path: path.to_path_buf(), pins: BTreeMap::new() }),
            Err(e) => return Err(e).context(|| format!("reading {}", path.display())),
        };
        Self::parse(path, &text)
    }

    /// Parses the text of the lock at `path`.
    pub fn parse(path: &Path, text: &str) -> Result<KernelsLock> {
        let mut pins = BTreeMap::new();
        for (n, line) in entries(text) {
            let bad = |why: String| Error::MissingInput { kind: "kernel lock entry", name: format!("line {n}: {line:?}: {why}"), path: path.to_path_buf() };
            let mut words = line.split_whitespace();
            let (Some(source), Some(version), None) = (words.next(), words.next(), words.next()) else {
                return Err(bad("expected `debian:linux-source-X.Y VERSION`".into()));
            };
            if debian_package(source).is_none() || source.contains('=') {
                return Err(bad(format!("{source:?} is not debian:linux-source-X.Y")));
            }
            if !debian_version_ok(version) {
                return Err(bad(format!("{version:?} is not a Debian version")));
            }
            if pins.insert(source.to_string(), version.to_string()).is_some() {
                return Err(bad(format!("{source} is pinned twice")));
            }
        }
        Ok(KernelsLock { path: path.to_path_buf(), pins })
    }

    /// `spec` with its pinned version (`debian:PKG=VERSION`); other sources (git, or a
    /// spec that names its version already) as they are. A Debian source with no pin is
    /// an error naming the lock and the command that adds one.
    pub fn pin(&self, spec: &str) -> Result<String> {
        if debian_package(spec).is_none() || spec.contains('=') {
            return Ok(spec.to_string());
        }
        match self.pins.get(spec) {
            Some(v) => Ok(format!("{spec}={v}")),
            None => Err(Error::MissingInput {
                kind: "kernel source pin",
                name: format!("{spec} (pin it with `oracle pin {spec}`)"),
                path: self.path.clone(),
            }),
        }
    }

    /// Writes the lock (atomically: a reader sees the old or the new file).
    pub fn save(&self) -> Result<()> {
        let mut text = HEADER.to_string();
        for (source, version) in &self.pins {
            text.push_str(&format!("{source} {version}\n"));
        }
        let tmp = self.path.with_extension("lock.tmp");
        fs::write(&tmp, text).context(|| format!("writing {}", tmp.display()))?;
        fs::rename(&tmp, &self.path).context(|| format!("replacing {}", self.path.display()))
    }
}

/// The entries of a line-per-entry file (this lock, `corpora/matrix`): each line with
/// `#` comments and surrounding blanks taken off, empty ones skipped, with its 1-based
/// line number.
pub(crate) fn entries(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().map(|(n, l)| (n + 1, l.split('#').next().unwrap_or("").trim())).filter(|(_, l)| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_resolve_and_bad_lines_are_named() {
        let path = Path::new("/c/kernels.lock");
        let lock = KernelsLock::parse(path, "# comment\ndebian:linux-source-7.3 7.3.4-1~bpo13+1  # the base\n\n").unwrap();
        assert_eq!(lock.pin("debian:linux-source-7.3").unwrap(), "debian:linux-source-7.3=7.3.4-1~bpo13+1");
        assert_eq!(lock.pin("debian:linux-source-7.3=7.3.3-1").unwrap(), "debian:linux-source-7.3=7.3.3-1");
        assert_eq!(lock.pin("git:/src/linux@HEAD").unwrap(), "git:/src/linux@HEAD");
        let e = lock.pin("debian:linux-source-7.2").unwrap_err().to_string();
        assert!(e.contains("oracle pin debian:linux-source-7.2") && e.contains("/c/kernels.lock"), "{e}");
        for (text, why) in [
            ("debian:linux-source-7.3", "expected `debian:linux-source-X.Y VERSION`"),
            ("linux-source-7.3 7.3.4-1", "is not debian:linux-source-X.Y"),
            ("debian:linux-source-7.3 7.3.4;rm", "is not a Debian version"),
            ("debian:linux-source-7.3 1\ndebian:linux-source-7.3 2", "pinned twice"),
        ] {
            let e = KernelsLock::parse(path, text).unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("/c/kernels.lock") && e.contains("line "), "{text}: {e}");
        }
    }

    #[test]
    fn a_saved_lock_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kernels.lock");
        let mut lock = KernelsLock::load(&path).unwrap();
        assert!(lock.pins.is_empty());
        lock.pins.insert("debian:linux-source-7.3".into(), "7.3.4-1~bpo13+1".into());
        lock.save().unwrap();
        assert_eq!(KernelsLock::load(&path).unwrap(), lock);
    }
}
