//! `oracle bench review [CORPUS]`: the reviewer's loop. A three-patch mbox touching
//! `arch/arm64/mm/mmu.c`, as `git format-patch --stdout` writes it, run over the corpus:
//! cold (the series never built, the configuration families' build trees warm) and warm
//! (everything cached), each against the same corpus run without the series, measured
//! first in the same invocation.
//!
//! The patches only add comments after the last line of mmu.c (no line moves), so every
//! verdict must be the one the baseline gave: a verdict that changes is reported. Each
//! invocation's comments carry a nonce, so its series was never built before.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::prepare::Change;
use crate::results::collect::matrix_entry;
use crate::results::runner::run_matrix;

/// One timed corpus run: wall seconds and each scenario's verdict label.
struct Timed {
    seconds: f64,
    verdicts: Vec<(String, String)>,
}

fn timed_run(files: &[PathBuf], jobs: usize, change: &Change) -> Timed {
    let matrix: Vec<_> = files.iter().map(|f| matrix_entry(f)).collect();
    let refs: Vec<_> = matrix.iter().collect();
    let t = Instant::now();
    let mut verdicts = Vec::new();
    run_matrix(&refs, jobs, change, |_| {}, |_, r| verdicts.push((r.scenario.clone(), r.infrastructure_failure.clone().map(|f| format!("INFRASTRUCTURE FAILURE: {f}")).unwrap_or(r.verdict))));
    Timed { seconds: t.elapsed().as_secs_f64(), verdicts }
}

fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=Reviewer", "-c", "user.email=reviewer@localhost", "-c", "advice.addIgnoredFile=false"])
        .args(args)
        .output()
        .map_err(|e| Error::io(format!("running git in {}", dir.display()), e))?;
    if !out.status.success() {
        return Err(Error::Usage(format!("git {args:?} in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes the three-patch mbox into `work` from the pristine tree of `source` (a
/// sparse clone holding only the top level and arch/arm64/mm) and returns its path.
pub fn three_patch_mbox(source: &str, work: &Path, nonce: &str) -> Result<PathBuf> {
    let tree = linux_harness::source::KernelSource::locate(source)?;
    let clone = work.join("linux");
    // The tree's one branch is its pristine source (the tree itself may be checked out
    // at a patched or another source's state).
    let branch = git(&tree.tree, &["for-each-ref", "--count=1", "--format=%(refname:short)", "refs/heads/"])?;
    git(work, &["clone", "-q", "--shared", "--sparse", "--branch", branch.trim(), &tree.tree.display().to_string(), "linux"])?;
    git(&clone, &["sparse-checkout", "add", "arch/arm64/mm"])?;
    let mmu = clone.join("arch/arm64/mm/mmu.c");
    for (i, subject) in ["arm64: mm: note the linear map's block sizes", "arm64: mm: note the split gate", "arm64: mm: note the repaint"].iter().enumerate() {
        let mut text = std::fs::read_to_string(&mmu).map_err(|e| Error::io(format!("reading {}", mmu.display()), e))?;
        let _ = writeln!(text, "/* Review {} of series {nonce}: {subject}. */", i + 1);
        std::fs::write(&mmu, text).map_err(|e| Error::io(format!("writing {}", mmu.display()), e))?;
        git(&clone, &["commit", "-q", "-a", "-m", subject])?;
    }
    let mbox = work.join("review.mbx");
    let text = git(&clone, &["format-patch", "--stdout", "-3"])?;
    std::fs::write(&mbox, text).map_err(|e| Error::io(format!("writing {}", mbox.display()), e))?;
    Ok(mbox)
}

/// Runs the loop over `files` at `jobs` and reports.
pub fn bench_review(files: &[PathBuf], jobs: usize) -> Result<String> {
    let mut s = String::new();
    // The series is made against the first scenario's source (the corpus's kernel).
    let source = files.first().and_then(|f| crate::scenario::Scenario::load(f).ok()).map(|s| s.kernel.source).unwrap_or_else(|| "debian:linux-source-7.3".into());
    let work = tempfile::Builder::new().prefix("lmo-review-").tempdir().map_err(|e| Error::io("creating a work directory".to_string(), e))?;
    let nonce = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default());
    let mbox = three_patch_mbox(&source, work.path(), &nonce)?;

    // Everything the baseline needs, built first (not timed): the baseline is warm.
    let warmup = timed_run(files, jobs, &Change::default());
    let baseline = timed_run(files, jobs, &Change::default());
    let series = Change::new(None, Some(mbox.clone()))?;
    let cold = timed_run(files, jobs, &series);
    let warm = timed_run(files, jobs, &series);

    let variants: BTreeSet<String> = files.iter().map(|f| matrix_entry(f).kernel).collect();
    let _ = writeln!(s, "reviewer's loop: a 3-patch mbox on arch/arm64/mm/mmu.c (series {nonce}) over {} scenario(s), {} kernel variant(s), -j{jobs}", files.len(), variants.len());
    let _ = writeln!(s, "warm-up (builds what the baseline lacks, not compared): {:.1} s", warmup.seconds);
    let _ = writeln!(s, "baseline, no series, everything cached: {:.1} s", baseline.seconds);
    let _ = writeln!(s, "cold, series never built (build trees warm): {:.1} s; ratio to baseline {:.2}x (goal 300 s)", cold.seconds, cold.seconds / baseline.seconds);
    let _ = writeln!(s, "warm, series cached: {:.1} s; ratio to baseline {:.2}x (goal 30 s)", warm.seconds, warm.seconds / baseline.seconds);
    for (name, run) in [("cold", &cold), ("warm", &warm)] {
        for ((scenario, want), (_, got)) in baseline.verdicts.iter().zip(&run.verdicts) {
            if want != got {
                let _ = writeln!(s, "CHANGED VERDICT ({name} run): {scenario}: {want} without the series, {got} with it (a comment-only series)");
            }
        }
    }
    Ok(s)
}
