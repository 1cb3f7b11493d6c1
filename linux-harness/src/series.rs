//! Patch series as users keep them: a directory of `git format-patch` files (applied in
//! file-name order) or a single mbox saved from a mailing-list thread (split with
//! `git mailsplit`). Applying a series puts the source tree into exactly
//! "base + these patches", undoing whatever series was applied before.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::cmd::describe;
use crate::error::IoContext;
use crate::source::{git, KernelSource};
use crate::{Error, Result};

/// Marker (inside the tree's `.git`) naming the series digest the tree holds now.
const APPLIED_FILE: &str = "lmo-applied";

/// One ordered patch series.
#[derive(Clone, Debug)]
pub struct PatchSeries {
    /// Where it came from (a directory or an mbox file).
    pub origin: PathBuf,
    /// One entry per patch, in order: its file and its text.
    pub patches: Vec<(PathBuf, Vec<u8>)>,
    /// How to name each patch to a person: the file, or `MBOX#N: Subject` for a
    /// message of an mbox.
    pub labels: Vec<String>,
}

impl PatchSeries {
    /// Loads a series from a directory of `*.patch` files or from an mbox file.
    pub fn load(origin: &Path) -> Result<Self> {
        let meta = fs::metadata(origin).map_err(|_| Error::MissingInput {
            kind: "patch series",
            name: origin.display().to_string(),
            path: origin.to_path_buf(),
        })?;
        let from_mbox = !meta.is_dir();
        let files = if from_mbox { split_mbox(origin)? } else { patch_files(origin)? };
        let mut patches = Vec::new();
        let mut labels = Vec::new();
        for (i, file) in files.into_iter().enumerate() {
            let text = fs::read(&file).context(|| format!("reading patch {}", file.display()))?;
            check_paths(&text).map_err(|detail| Error::UnsafePatch { patch: file.display().to_string(), detail })?;
            labels.push(if from_mbox {
                let subject = String::from_utf8_lossy(&text)
                    .lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_string))
                    .unwrap_or_default();
                format!("{}#{}: {subject}", origin.display(), i + 1)
            } else {
                file.display().to_string()
            });
            patches.push((file, text));
        }
        Ok(PatchSeries { origin: origin.to_path_buf(), patches, labels })
    }

    /// Feeds the series' identity (patch names and contents, in order) into a hasher.
    pub fn hash_into(&self, h: &mut Sha256) {
        for (name, text) in &self.patches {
            h.update(name.file_name().map(|n| n.as_encoded_bytes()).unwrap_or_default());
            h.update([0]);
            h.update((text.len() as u64).to_le_bytes());
            h.update(text);
        }
    }
}

/// `*.patch` files of a directory in name order (format-patch numbers them). A
/// symlink among them is refused: a series is the files its directory holds.
fn patch_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "patch" || e == "diff"))
        .collect();
    files.sort();
    for f in &files {
        if fs::symlink_metadata(f).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(Error::UnsafePatch { patch: f.display().to_string(), detail: "it is a symbolic link; copy the patch into the series directory".into() });
        }
    }
    Ok(files)
}

/// Checks every path a patch names stays inside the tree: none absolute, none with a
/// `..` component, and no symbolic link created (`new file mode 120000`), through which
/// a later patch could write elsewhere. `git apply` refuses most of these too; this says
/// which path and why before any patch is applied.
pub fn check_paths(text: &[u8]) -> std::result::Result<(), String> {
    for line in String::from_utf8_lossy(text).lines() {
        let paths: Vec<&str> = if let Some(rest) = line.strip_prefix("diff --git ") {
            rest.split(' ').collect()
        } else if let Some(rest) = line.strip_prefix("--- ").or_else(|| line.strip_prefix("+++ ")) {
            vec![rest.split('\t').next().unwrap_or(rest)]
        } else if let Some(rest) = ["rename from ", "rename to ", "copy from ", "copy to "].iter().find_map(|p| line.strip_prefix(p)) {
            vec![rest]
        } else {
            if line.starts_with("new file mode 120000") || line.starts_with("new mode 120000") {
                return Err("it creates a symbolic link in the tree".into());
            }
            continue;
        };
        for path in paths {
            if path == "/dev/null" {
                continue;
            }
            let inner = path.strip_prefix("a/").or_else(|| path.strip_prefix("b/")).unwrap_or(path);
            if inner.starts_with('/') || inner.split('/').any(|c| c == "..") {
                return Err(format!("path {path:?} is outside the kernel tree"));
            }
        }
    }
    Ok(())
}

/// Splits an mbox into one file per message, in order, kept in a private cache folder
/// keyed by the mbox's content.
fn split_mbox(mbox: &Path) -> Result<Vec<PathBuf>> {
    let text = fs::read(mbox).context(|| format!("reading mbox {}", mbox.display()))?;
    let out = crate::paths::cache_root().join("mbox").join(hex::encode(Sha256::digest(&text)));
    if !out.is_dir() {
        // A folder of this process's own: jobs of one run (or two runs) may split the
        // same mbox at once; the first rename wins and the others use its result.
        let parent = out.parent().unwrap_or(&out);
        fs::create_dir_all(parent).context(|| format!("creating {}", parent.display()))?;
        let tmp = tempfile::Builder::new().prefix(".split-").tempdir_in(parent).context(|| format!("creating a folder in {}", parent.display()))?;
        let mut cmd = Command::new("git");
        cmd.arg("mailsplit").arg("-d4").arg(format!("-o{}", tmp.path().display())).arg(mbox);
        crate::cmd::run(&mut cmd)?;
        if fs::rename(tmp.path(), &out).is_err() && !out.is_dir() {
            return Err(Error::Io { context: format!("creating {}", out.display()), source: std::io::ErrorKind::Other.into() });
        }
    }
    let mut files: Vec<PathBuf> =
        fs::read_dir(&out).context(|| format!("listing {}", out.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    Ok(files)
}

/// Digest naming "base + these series", stored in the tree while it holds them.
pub fn series_digest(series: &[PatchSeries]) -> String {
    if series.iter().all(|s| s.patches.is_empty()) {
        return "base".into();
    }
    let mut h = Sha256::new();
    for s in series {
        s.hash_into(&mut h);
    }
    hex::encode(h.finalize())
}

/// Puts `tree` into "commit `base` + `series` in order" (`base` is the tree's own source,
/// or another source of the same version: `crate::shared_tree`). Files the previous
/// state changed are restored (so their mtimes move and kbuild rebuilds just them).
/// A patch that does not apply leaves the tree marked dirty, to be reset next time.
pub fn prepare_tree(tree: &KernelSource, base: &str, series: &[PatchSeries]) -> Result<()> {
    let marker = tree.tree.join(".git").join(APPLIED_FILE);
    let want = format!("{base} {}", series_digest(series));
    if fs::read_to_string(&marker).is_ok_and(|have| have == want) {
        return Ok(());
    }
    let _ = fs::remove_file(&marker);
    git(&tree.tree, &["checkout", "-q", "-f", "--detach", base])?;
    git(&tree.tree, &["clean", "-q", "-f", "-d", "-x"])?;
    for s in series {
        for ((patch, _), label) in s.patches.iter().zip(&s.labels) {
            apply_one(&tree.tree, patch, label)?;
        }
    }
    fs::write(&marker, want).context(|| format!("writing {}", marker.display()))
}

fn apply_one(tree: &Path, patch: &Path, label: &str) -> Result<()> {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(tree).args(["apply", "--whitespace=nowarn"]).arg(patch);
    let out = cmd.output().map_err(|e| Error::Command { command: describe(&cmd), detail: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (file, detail) = explain_apply_failure(&stderr);
    Err(Error::PatchDoesNotApply { patch: PathBuf::from(label), file, detail })
}

/// Picks the failing file and hunk out of `git apply`'s stderr: `(file, what is wrong)`.
pub fn explain_apply_failure(stderr: &str) -> (String, String) {
    let lines: Vec<&str> = stderr.lines().map(|l| l.trim_start_matches("error: ")).collect();
    if let Some(at) = lines.iter().find_map(|l| l.strip_prefix("patch failed: ")) {
        // "patch failed: arch/arm64/mm/mmu.c:808"
        let (file, line) = at.rsplit_once(':').unwrap_or((at, "?"));
        return (file.to_string(), format!("hunk at line {line} does not match the source"));
    }
    for l in &lines {
        if let Some((file, why)) = l.split_once(": ") {
            if !file.contains(' ') {
                return (file.to_string(), why.to_string());
            }
        }
    }
    ("(unknown file)".into(), stderr.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::{check_paths, explain_apply_failure, PatchSeries};
    use crate::Error;

    const GOOD: &str = "diff --git a/arch/arm64/mm/mmu.c b/arch/arm64/mm/mmu.c\n--- a/arch/arm64/mm/mmu.c\n+++ b/arch/arm64/mm/mmu.c\n@@ -1 +1 @@\n-a\n+b\n";

    #[test]
    fn paths_outside_the_tree_are_refused() {
        assert_eq!(check_paths(GOOD.as_bytes()), Ok(()));
        assert_eq!(check_paths(b"--- /dev/null\n+++ b/new.c\n"), Ok(()));
        for bad in [GOOD.replace("b/arch", "b/../../etc"), GOOD.replace("+++ b/arch", "+++ /etc"), "rename to ../x\n".to_string()] {
            let e = check_paths(bad.as_bytes()).unwrap_err();
            assert!(e.contains("outside the kernel tree"), "{bad}: {e}");
        }
        let link = "diff --git a/l b/l\nnew file mode 120000\n";
        assert!(check_paths(link.as_bytes()).unwrap_err().contains("symbolic link"));
    }

    #[test]
    fn symlinks_in_a_series_directory_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("0001-a.patch"), GOOD).unwrap();
        assert_eq!(PatchSeries::load(dir.path()).unwrap().patches.len(), 1);
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("0002-b.patch")).unwrap();
        match PatchSeries::load(dir.path()) {
            Err(e @ Error::UnsafePatch { .. }) => assert!(e.to_string().contains("0002-b.patch") && e.to_string().contains("symbolic link"), "{e}"),
            other => panic!("{other:?}"),
        }
        std::fs::remove_file(dir.path().join("0002-b.patch")).unwrap();
        std::fs::write(dir.path().join("0002-b.patch"), GOOD.replace("b/arch", "b/../arch")).unwrap();
        let e = PatchSeries::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("refusing patch") && e.contains("0002-b.patch") && e.contains("outside the kernel tree"), "{e}");
    }

    #[test]
    fn apply_failure_names_file_and_hunk() {
        let (file, detail) = explain_apply_failure(
            "error: patch failed: arch/arm64/mm/mmu.c:808\nerror: arch/arm64/mm/mmu.c: patch does not apply\n",
        );
        assert_eq!(file, "arch/arm64/mm/mmu.c");
        assert_eq!(detail, "hunk at line 808 does not match the source");
    }

    #[test]
    fn apply_failure_on_missing_file() {
        let (file, detail) = explain_apply_failure("error: drivers/nope.c: No such file or directory\n");
        assert_eq!(file, "drivers/nope.c");
        assert_eq!(detail, "No such file or directory");
    }
}
