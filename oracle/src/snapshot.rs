//! Snapshot review of a kernel change: each scenario's normalised Linux side at each
//! deterministic checkpoint against the accepted snapshots (`snapshots/SCENARIO.
//! CHECKPOINT.linux.snap`, the ones the test suite keeps), leaving an insta `.snap.new`
//! beside each one that changed, so `cargo insta review` shows the diffs and accepts or
//! rejects them. The snapshots of a series live beside the default ones, in a folder
//! named after it, starting as copies of the default ones.

use std::path::{Path, PathBuf};

use crate::capture::{capture_or_kernel_failure, Capture, StopPoint};
use crate::compare::verdict::failure_verdict;
use crate::error::{Error, Result};
use crate::prepare::{prepare_changed, Change, Prepared};

/// What became of one snapshot.
#[derive(Debug, PartialEq, Eq)]
pub enum Review {
    Unchanged(String),
    /// A `.snap.new` was written at this path.
    Changed(PathBuf),
    /// No accepted snapshot: a `.snap.new` was written at this path.
    New(PathBuf),
    /// Nothing to review, and why: the scenario does not run on this kernel version, or
    /// the kernel fails before the boot is over, as the scenario expects.
    Skipped(String),
}

/// The folder the snapshots of a change live in under `base`: `base` itself for none,
/// else `series-NAME` and/or `kernel-NAME` after the series file and the kernel source.
pub fn folder(base: &Path, change: &Change) -> PathBuf {
    let mut parts = Vec::new();
    if let Some(k) = &change.kernel {
        parts.push(linux_harness::matrix::kernel_folder(k));
    }
    if let Some(s) = change.series.first() {
        parts.push(format!("series-{}", linux_harness::matrix::folder_slug(&s.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())));
    }
    if parts.is_empty() {
        base.to_path_buf()
    } else {
        base.join(parts.join("+"))
    }
}

/// Boots `file` with the user's `change` and reviews each of its deterministic
/// checkpoints against the snapshots in `folder`, starting it from those in `base`.
pub fn review(file: &Path, change: &Change, folder: &Path, base: &Path) -> Result<Vec<Review>> {
    let p = match prepare_changed(file, change) {
        Err(e @ Error::NotRun { .. }) => return Ok(vec![Review::Skipped(format!("{}: {e}", file.display()))]),
        other => other?,
    };
    let points: Vec<StopPoint> = p.scenario.checkpoints.iter().map(|c| StopPoint::Checkpoint(*c)).collect();
    let c = match capture_or_kernel_failure(&p, &points, false)? {
        Ok(c) => c,
        Err(k) if failure_verdict(&p.scenario.expect, &k.summary, String::new()).as_expected() => {
            return Ok(vec![Review::Skipped(format!("{}: the kernel fails, as expected: {}", p.scenario.name, k.summary.lines().next().unwrap_or("")))]);
        }
        Err(k) => return Err(k.into_error(&p.file)),
    };
    review_capture(&p, &c, folder, base)
}

/// Reviews what `c`, a capture of `p` at every checkpoint of its scenario, read at each
/// deterministic checkpoint against the snapshots in `folder` (starting from `base`).
pub fn review_capture(p: &Prepared, c: &Capture, folder: &Path, base: &Path) -> Result<Vec<Review>> {
    let file = &p.file;
    let dir = folder;
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let mut out = Vec::new();
    for cp in p.scenario.deterministic_checkpoints() {
        let name = format!("{}.{cp}.linux", p.scenario.name);
        let text = c.side(cp).ok_or_else(|| Error::Capture(format!("checkpoint {cp} was not read")))?.linear_map.to_string();
        let accepted = dir.join(format!("{name}.snap"));
        // A series' folder starts from the default snapshot, so the review shows what
        // the series changes.
        let default = base.join(format!("{name}.snap"));
        if !accepted.exists() && default.exists() && accepted != default {
            std::fs::copy(&default, &accepted).map_err(|e| Error::io(format!("copying {}", default.display()), e))?;
        }
        let pending = dir.join(format!("{name}.snap.new"));
        let old = std::fs::read_to_string(&accepted).ok().map(|t| contents(&t).to_string());
        match old {
            Some(old) if old == text.trim_end() => {
                let _ = std::fs::remove_file(&pending);
                out.push(Review::Unchanged(name));
            }
            _ => {
                let body = format!("---\nsource: oracle snapshot\nexpression: \"{} at {cp}\"\n---\n{}\n", file.display(), text.trim_end());
                crate::results::dir::write_file(&pending, body.as_bytes())?;
                out.push(if accepted.exists() { Review::Changed(pending) } else { Review::New(pending) });
            }
        }
    }
    Ok(out)
}

/// The contents of an insta snapshot file: what follows its metadata block.
fn contents(file: &str) -> &str {
    let body = match file.strip_prefix("---\n").and_then(|rest| rest.split_once("\n---\n")) {
        Some((_, body)) => body,
        None => file,
    };
    body.trim_end()
}
