//! Where a source is built. A `git:` or `tar:` source whose Makefile says `X.Y` is built
//! in the cached tree of `debian:linux-source-X.Y` when the cache has it: that tree is
//! checked out at the other source's commit (git updates only the files that differ, so
//! their mtimes move and nothing else's), and its configuration families' build trees
//! are shared. A user's tree close to Debian's then builds in minutes, not from cold,
//! and so does each new commit of it. Without that Debian tree, the source is built in
//! its own tree, from cold the first time. Either way the result is the same kernel:
//! kbuild rebuilds whatever the checked-out files change.

use std::fs;
use std::io::Write;

use crate::error::IoContext;
use crate::source::{git, KernelSource};
use crate::{kernel_tree, Result};

/// The tree `source` is built in: Debian's source of the same version, or its own
/// (no side effects: cache keys use it too).
pub fn build_tree(source: &KernelSource) -> KernelSource {
    if source.id.starts_with("linux-source-") {
        return source.clone();
    }
    let Ok(version) = kernel_tree::check_dir(&source.tree, &source.id) else { return source.clone() };
    let mut parts = version.split('.');
    let (Some(major), Some(minor)) = (parts.next(), parts.next()) else { return source.clone() };
    KernelSource::locate(&format!("debian:linux-source-{major}.{minor}")).unwrap_or_else(|_| source.clone())
}

/// The commit `tree` must be checked out at to hold `source`'s files: the source's
/// own commit (its objects made reachable from the shared tree through git's
/// alternates, so nothing is copied) or, for the tree's own source, its one branch.
pub fn base_commit(tree: &KernelSource, source: &KernelSource) -> Result<String> {
    let tip = |tree: &std::path::Path| -> Result<String> {
        let out = git(tree, &["for-each-ref", "--count=1", "--format=%(objectname)", "refs/heads/"])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    if tree.tree == source.tree {
        return tip(&tree.tree);
    }
    let objects = source.tree.join(".git").join("objects");
    let alternates = tree.tree.join(".git/objects/info/alternates");
    let listed = fs::read_to_string(&alternates).unwrap_or_default();
    let line = objects.display().to_string();
    if !listed.lines().any(|l| l == line) {
        let mut f = fs::OpenOptions::new().create(true).append(true).open(&alternates).context(|| format!("opening {}", alternates.display()))?;
        writeln!(f, "{line}").context(|| format!("writing {}", alternates.display()))?;
    }
    tip(&source.tree)
}
