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

/// Parses a scenario's `kernel.source` (`debian:linux-source-7.3`, or pinned to an exact
/// Debian version: `debian:linux-source-7.3=7.3.4-1~bpo13+1`) into the package name.
pub fn debian_package(spec: &str) -> Option<&str> {
    let rest = spec.strip_prefix("debian:")?;
    let (pkg, version) = match rest.split_once('=') {
        Some((p, v)) => (p, Some(v)),
        None => (rest, None),
    };
    let ok = pkg.starts_with("linux-source-")
        && pkg.len() > "linux-source-".len()
        && pkg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && version.is_none_or(debian_version_ok);
    ok.then_some(pkg)
}

/// The kernel source specs a user can give, as error messages name them.
pub const SPEC_FORMS: &str = "debian:linux-source-X.Y, git:PATH[@REV] or tar:PATH";

/// Whether `spec` has one of the forms of [`SPEC_FORMS`] (it may still not exist).
pub fn spec_ok(spec: &str) -> bool {
    debian_package(spec).is_some() || crate::source_git::parse(spec).is_some() || spec.strip_prefix("tar:").is_some_and(|p| !p.is_empty())
}

/// The exact Debian version a source spec is pinned to (`debian:PKG=VERSION`).
pub fn debian_version(spec: &str) -> Option<&str> {
    debian_package(spec)?;
    spec.split_once('=').map(|(_, v)| v)
}

/// Whether `v` is a Debian version as `apt-get download PKG=VERSION` takes it.
pub(crate) fn debian_version_ok(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_digit()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b))
}

/// The versions of `package` the configured archive serves, newest first
/// (`apt-cache madison`).
pub fn served_versions(package: &str) -> Result<Vec<String>> {
    let out = run(Command::new("apt-cache").arg("madison").arg(package))?;
    let mut versions: Vec<String> = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut cols = line.split('|').map(str::trim);
        if let (Some(p), Some(v)) = (cols.next(), cols.next()) {
            if p == package && !versions.iter().any(|x| x == v) {
                versions.push(v.to_string());
            }
        }
    }
    Ok(versions)
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
        if spec.starts_with("tar:") {
            return crate::source_tar::locate_or_unpack(spec);
        }
        let package = debian_package(spec).ok_or_else(|| Error::MissingInput {
            kind: "kernel source",
            name: spec.to_string(),
            path: PathBuf::from(format!("(expected {SPEC_FORMS})")),
        })?;
        let tree = tree_path(package);
        let id_file = tree.join(".git").join(SOURCE_ID_FILE);
        let id = fs::read_to_string(&id_file)
            .map_err(|_| Error::NotSetUp { what: "kernel source", path: tree.clone() })?;
        let id = id.trim().to_string();
        if let Some(pinned) = debian_version(spec) {
            let cached = id.strip_prefix(package).unwrap_or(&id).trim();
            if cached != pinned {
                return Err(Error::SourceVersion { package: package.to_string(), pinned: pinned.to_string(), cached: cached.to_string(), tree });
            }
        }
        Ok(KernelSource { package: package.to_string(), tree, id })
    }

    /// `(VERSION, PATCHLEVEL)` from the tree's Makefile (`None` if it has none).
    pub fn version(&self) -> Option<(u32, u32)> {
        let text = fs::read_to_string(self.tree.join("Makefile")).ok()?;
        let full = crate::kernel_tree::makefile_version(&text)?;
        let mut parts = full.split('.').map(|p| p.parse::<u32>().ok());
        Some((parts.next()??, parts.next()??))
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
        let pinned = debian_version(spec);
        let bar = crate::progress::spinner(&format!("fetching {package}{}", pinned.map(|v| format!(" {v}")).unwrap_or_default()));
        bar.set_message("apt-get download");
        let what = match pinned {
            Some(v) => format!("{package}={v}"),
            None => package.to_string(),
        };
        if let Err(e) = run(Command::new("apt-get").arg("download").arg(&what).current_dir(work.path())) {
            bar.finish_and_clear();
            return Err(match pinned {
                Some(version) => match served_versions(package) {
                    Ok(served) if !served.iter().any(|s| s == version) => Error::NotServed { package: package.to_string(), version: version.to_string(), served },
                    _ => e,
                },
                None => e,
            });
        }
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
        // Another version of the package (a moved pin): out of the way, into the work
        // directory that is removed below.
        if dest.exists() {
            let old = work.path().join("replaced");
            fs::rename(&dest, &old).context(|| format!("moving the previous {} out of the way", dest.display()))?;
        }
        fs::rename(&tree, &dest).context(|| format!("moving the tree to {}", dest.display()))?;
        bar.finish_and_clear();
        Ok((KernelSource { package: package.to_string(), tree: dest, id }, true))
    }

    /// `VERSION.PATCHLEVEL.SUBLEVEL` from the top-level Makefile.
    pub fn kernel_version(&self) -> Result<String> {
        crate::kernel_tree::check_dir(&self.tree, &self.id)
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

/// The cached source `package` with identity `id`, made first when it is not there: `fill`
/// writes the files into an empty private folder and returns the tree's root inside it,
/// which is then tracked ([`track`]) and moved into place. Two processes making the same
/// source at once are fine: the first move wins and the other uses it.
pub(crate) fn cached_or_made(package: String, id: String, spinner: &str, fill: impl FnOnce(&Path, &indicatif::ProgressBar) -> Result<PathBuf>) -> Result<KernelSource> {
    let tree = tree_path(&package);
    if tree.join(".git").join(SOURCE_ID_FILE).exists() {
        return Ok(KernelSource { package, tree, id });
    }
    let sources = paths::sources_dir();
    fs::create_dir_all(&sources).context(|| format!("creating {}", sources.display()))?;
    let work = tempfile::Builder::new().prefix(".make-").tempdir_in(&sources).context(|| format!("creating a work directory in {}", sources.display()))?;
    let staged = work.path().join("tree");
    fs::create_dir(&staged).context(|| format!("creating {}", staged.display()))?;
    let bar = crate::progress::spinner(spinner);
    let made = fill(&staged, &bar).and_then(|root| {
        bar.set_message("git init (so patch series can be undone)");
        track(&root, &id)?;
        if fs::rename(&root, &tree).is_err() && !tree.join(".git").join(SOURCE_ID_FILE).exists() {
            return Err(Error::Io { context: format!("moving {} into place", id), source: std::io::ErrorKind::AlreadyExists.into() });
        }
        Ok(())
    });
    bar.finish_and_clear();
    made.map(|()| KernelSource { package, tree, id })
}

/// Puts a freshly unpacked `tree` under git as one commit and records its identity
/// `id`, so patch series can be applied and undone file by file.
pub(crate) fn track(tree: &Path, id: &str) -> Result<()> {
    git(tree, &["init", "-q"])?;
    // A cache tree, not a user's: no background gc or maintenance repacking 80k files
    // while builds run.
    git(tree, &["config", "gc.auto", "0"])?;
    git(tree, &["config", "maintenance.auto", "false"])?;
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
    use super::{debian_package, debian_version};

    #[test]
    fn source_spec() {
        assert_eq!(debian_package("debian:linux-source-7.3"), Some("linux-source-7.3"));
        assert_eq!(debian_package("linux-source-7.3"), None);
        assert_eq!(debian_package("debian:linux-source-"), None);
        assert_eq!(debian_package("debian:linux-source-7.3;rm"), None);
        assert_eq!(debian_package("debian:bash"), None);
        assert_eq!(debian_package("debian:linux-source-7.3=7.3.4-1~bpo13+1"), Some("linux-source-7.3"));
        assert_eq!(debian_version("debian:linux-source-7.3=7.3.4-1~bpo13+1"), Some("7.3.4-1~bpo13+1"));
        assert_eq!(debian_version("debian:linux-source-7.3"), None);
        assert_eq!(debian_package("debian:linux-source-7.3="), None);
        assert_eq!(debian_package("debian:linux-source-7.3=7.3 rm"), None);
    }
}
