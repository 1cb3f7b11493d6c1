//! A kernel source from the user's own git checkout, `git:PATH[@REV]`: the commit REV
//! (default HEAD) is exported with `git archive` into the cache and tracked there like
//! Debian's source, so patch series and builds never touch the user's tree (not its
//! files, index, branches or stash). An export is made once per commit.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::IoContext;
use crate::source::{cached_or_made, KernelSource};
use crate::{kernel_tree, Error, Result};

/// `git:PATH[@REV]` split into the checkout and the revision (HEAD when not given).
pub fn parse(spec: &str) -> Option<(PathBuf, String)> {
    let rest = spec.strip_prefix("git:")?;
    // The revision follows the last `@`.
    let (path, rev) = match rest.rsplit_once('@') {
        Some((p, r)) if !r.is_empty() => (p, r),
        _ => (rest, "HEAD"),
    };
    let ok_rev = rev.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./~^".contains(&b)) && !rev.starts_with('-');
    (!path.is_empty() && ok_rev).then(|| (PathBuf::from(path), rev.to_string()))
}

/// The commit `rev` names in the checkout at `path` (`spec` names it to the user).
fn resolve(path: &Path, rev: &str, spec: &str) -> Result<String> {
    let git = |args: &[&str]| Command::new("git").arg("-C").arg(path).args(args).output().context(|| format!("running git in {}", path.display()));
    if !path.is_dir() || !git(&["rev-parse", "--git-dir"])?.status.success() {
        return Err(Error::NotAKernel { given: spec.to_string(), why: format!("{} is not a git checkout", path.display()) });
    }
    let out = git(&["rev-parse", "--verify", "--end-of-options", &format!("{rev}^{{commit}}")])?;
    if !out.status.success() {
        return Err(Error::MissingInput { kind: "git revision", name: format!("{}@{rev}", path.display()), path: path.to_path_buf() });
    }
    let commit = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // A kernel tree at that commit, checked before anything is exported.
    for file in kernel_tree::REQUIRED {
        if !git(&["cat-file", "-e", &format!("{commit}:{file}")])?.status.success() {
            return Err(Error::NotAKernel { given: spec.to_string(), why: format!("commit {} has no {file}", &commit[..12]) });
        }
    }
    let makefile = git(&["show", &format!("{commit}:Makefile")])?;
    if kernel_tree::makefile_version(&String::from_utf8_lossy(&makefile.stdout)).is_none() {
        return Err(Error::NotAKernel { given: spec.to_string(), why: format!("the Makefile of commit {} sets no numeric VERSION and PATCHLEVEL", &commit[..12]) });
    }
    Ok(commit)
}

/// The exported source of `spec`, exporting it first if this commit was never used.
pub fn locate_or_export(spec: &str) -> Result<KernelSource> {
    let (path, rev) = parse(spec).ok_or_else(|| Error::MissingInput { kind: "kernel source", name: spec.to_string(), path: PathBuf::from("(expected git:PATH[@REV])") })?;
    let path = std::path::absolute(&path).unwrap_or(path);
    let commit = resolve(&path, &rev, spec)?;
    let package = format!("git-{}", &commit[..16]);
    // The source is the commit, wherever the checkout holding it is: two checkouts (or
    // clones) of one commit share the export and its builds.
    let id = format!("git:{commit}");
    cached_or_made(package, id, &format!("exporting {}", &commit[..12]), |staged, bar| {
        bar.set_message("git archive | tar -x");
        let mut archive = Command::new("git")
            .arg("-C")
            .arg(&path)
            .args(["archive", "--format=tar", &commit])
            .stdout(Stdio::piped())
            .spawn()
            .context(|| format!("running git archive in {}", path.display()))?;
        let tar = Command::new("tar").arg("-x").arg("-C").arg(staged).stdin(archive.stdout.take().expect("piped")).status().context(|| "running tar".into())?;
        let archived = archive.wait().context(|| "waiting for git archive".into())?;
        if !archived.success() || !tar.success() {
            return Err(Error::MissingInput { kind: "git export", name: format!("{}@{commit}", path.display()), path: path.clone() });
        }
        Ok(staged.to_path_buf())
    })
}

#[cfg(test)]
mod tests {
    use super::parse;
    use std::path::PathBuf;

    #[test]
    fn git_specs() {
        assert_eq!(parse("git:/src/linux"), Some((PathBuf::from("/src/linux"), "HEAD".into())));
        assert_eq!(parse("git:/src/linux@v7.3"), Some((PathBuf::from("/src/linux"), "v7.3".into())));
        assert_eq!(parse("git:~/linux@origin/master"), Some((PathBuf::from("~/linux"), "origin/master".into())));
        assert_eq!(parse("git:/src/linux@-rf"), None, "a revision is not an option");
        assert_eq!(parse("git:"), None);
        assert_eq!(parse("debian:linux-source-7.3"), None);
    }
}
