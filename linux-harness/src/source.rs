//! The base kernel source: Debian's `linux-source-X.Y` package, fetched with
//! `apt-get download`, unpacked with `dpkg-deb -x` and tracked in git so that a patch
//! series can be applied and later undone file by file (keeping build trees warm).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cmd::run;
use crate::error::IoContext;
use crate::{paths, Error, Result};

/// Name of the marker file (inside the tree's `.git`) holding the source identity.
pub(crate) const SOURCE_ID_FILE: &str = "lmo-source-id";

/// An unpacked, git-tracked kernel source tree.
#[derive(Clone, Debug)]
pub struct KernelSource {
    /// Debian package name, e.g. `linux-source-7.3` (`git-COMMIT` for a git export).
    pub package: String,
    /// Root of the source tree.
    pub tree: PathBuf,
    /// Package name and Debian version, e.g. `linux-source-7.3 7.3.4-1~bpo13+1`
    /// (`git:COMMIT` for a git export).
    pub id: String,
}

/// Parses a scenario's `kernel.source` (`debian:linux-source-7.3`) into the package name.
pub fn debian_package(spec: &str) -> Option<&str> {
    let pkg = spec.strip_prefix("debian:")?;
    let ok = pkg.starts_with("linux-source-")
        && pkg.len() > "linux-source-".len()
        && pkg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then_some(pkg)
}

fn tree_path(package: &str) -> PathBuf {
    paths::sources_dir().join(package)
}

impl KernelSource {
    /// Finds an already fetched source; an error says to run set-up when it is missing.
    /// A `git:PATH[@REV]` source is exported from the user's checkout the first time.
    pub fn locate(spec: &str) -> Result<Self> {
        if spec.starts_with("git:") {
            return crate::source_git::locate_or_export(spec);
        }
        let package = debian_package(spec).ok_or_else(|| Error::MissingInput {
            kind: "kernel source",
            name: spec.to_string(),
            path: PathBuf::from("(expected debian:linux-source-X.Y)"),
        })?;
        let tree = tree_path(package);
        let id_file = tree.join(".git").join(SOURCE_ID_FILE);
        let id = fs::read_to_string(&id_file)
            .map_err(|_| Error::NotSetUp { what: "kernel source", path: tree.clone() })?;
        Ok(KernelSource { package: package.to_string(), tree, id: id.trim().to_string() })
    }

    /// Fetches and unpacks the source unless it is already there.
    /// Returns the source and whether anything was done.
    pub fn fetch(spec: &str) -> Result<(Self, bool)> {
        if let Ok(found) = Self::locate(spec) {
            return Ok((found, false));
        }
        let package = debian_package(spec).ok_or_else(|| Error::MissingInput {
            kind: "kernel source",
            name: spec.to_string(),
            path: PathBuf::from("(expected debian:linux-source-X.Y)"),
        })?;
        let sources = paths::sources_dir();
        fs::create_dir_all(&sources).context(|| format!("creating {}", sources.display()))?;
        let work = tempfile::Builder::new()
            .prefix(".fetch-")
            .tempdir_in(&sources)
            .context(|| format!("creating a work directory in {}", sources.display()))?;
        let bar = crate::progress::spinner(&format!("fetching {package}"));
        bar.set_message("apt-get download");
        run(Command::new("apt-get").arg("download").arg(package).current_dir(work.path()))?;
        let deb = find_with_suffix(work.path(), ".deb")?;
        let version = run(Command::new("dpkg-deb").arg("-f").arg(&deb).arg("Version"))?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
        bar.set_message("dpkg-deb -x");
        let unpacked = work.path().join("pkg");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&unpacked))?;
        let tarball = unpacked.join("usr/src").join(format!("{package}.tar.xz"));
        bar.set_message("tar -xJf");
        run(Command::new("tar").arg("-xJf").arg(&tarball).arg("-C").arg(work.path()))?;
        let tree = work.path().join(package);
        bar.set_message("git init (once, so patch series can be undone)");
        let id = format!("{package} {version}");
        track(&tree, &id)?;
        let dest = tree_path(package);
        fs::rename(&tree, &dest).context(|| format!("moving the tree to {}", dest.display()))?;
        bar.finish_and_clear();
        Ok((KernelSource { package: package.to_string(), tree: dest, id }, true))
    }

    /// `VERSION.PATCHLEVEL.SUBLEVEL` from the top-level Makefile.
    pub fn kernel_version(&self) -> Result<String> {
        let makefile = self.tree.join("Makefile");
        let text = fs::read_to_string(&makefile).context(|| format!("reading {}", makefile.display()))?;
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start_matches([' ', '=']).trim().to_string()))
                .unwrap_or_default()
        };
        Ok(format!("{}.{}.{}", field("VERSION"), field("PATCHLEVEL"), field("SUBLEVEL")))
    }
}

fn find_with_suffix(dir: &Path, suffix: &str) -> Result<PathBuf> {
    for entry in fs::read_dir(dir).context(|| format!("listing {}", dir.display()))? {
        let path = entry.context(|| format!("listing {}", dir.display()))?.path();
        if path.to_string_lossy().ends_with(suffix) {
            return Ok(path);
        }
    }
    Err(Error::Command { command: "apt-get download".into(), detail: format!("no {suffix} file in {}", dir.display()) })
}

/// Puts a freshly unpacked `tree` under git as one commit and records its identity
/// `id`, so patch series can be applied and undone file by file.
pub(crate) fn track(tree: &Path, id: &str) -> Result<()> {
    git(tree, &["init", "-q"])?;
    // Debian's top-level .gitignore ignores everything: track the tree by force.
    git(tree, &["add", "-A", "-f"])?;
    git(tree, &["commit", "-q", "-m", id])?;
    fs::write(tree.join(".git").join(SOURCE_ID_FILE), id).context(|| "writing source id".into())
}

/// Runs git in `tree` with a fixed identity.
pub(crate) fn git(tree: &Path, args: &[&str]) -> Result<std::process::Output> {
    run(Command::new("git")
        .arg("-C")
        .arg(tree)
        .args(["-c", "user.name=linear-map-oracle", "-c", "user.email=oracle@localhost"])
        .args(args))
}

#[cfg(test)]
mod tests {
    use super::debian_package;

    #[test]
    fn source_spec() {
        assert_eq!(debian_package("debian:linux-source-7.3"), Some("linux-source-7.3"));
        assert_eq!(debian_package("linux-source-7.3"), None);
        assert_eq!(debian_package("debian:linux-source-"), None);
        assert_eq!(debian_package("debian:linux-source-7.3;rm"), None);
        assert_eq!(debian_package("debian:bash"), None);
    }
}
