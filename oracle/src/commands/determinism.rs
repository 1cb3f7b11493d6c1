//! `oracle determinism --runs K [--snapshots DIR] SCENARIO|DIR...`: reruns each scenario K
//! times and says whether every run gave the same verdict and the same dumps where the
//! scenario is deterministic; with `--snapshots`, the first run's dumps are also reviewed
//! against the accepted snapshots (as `oracle snapshot` does, without booting again).

use std::path::PathBuf;

use oracle::compare::determinism::rerun_keeping_first;
use oracle::prepare::prepare;
use oracle::scenario::files::json_files;
use oracle::snapshot::{review_capture, Review};

#[derive(clap::Args)]
pub struct Args {
    /// How many times to run each scenario (at least 2).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..))]
    runs: u32,
    /// Also review the first run's dumps against the snapshots in this folder, leaving a
    /// `.snap.new` for each one that changed (`cargo insta review`).
    #[arg(long)]
    snapshots: Option<PathBuf>,
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let mut code = 0;
    let (mut identical, mut total) = (0, 0);
    let (mut snapshots, mut changed) = (0, Vec::new());
    for f in json_files(&a.scenarios)? {
        let p = prepare(&f).map_err(|e| anyhow::anyhow!("{}: {e:#}", f.display()))?;
        let (d, first) = rerun_keeping_first(&p, a.runs as usize);
        print!("{}", d.report());
        total += 1;
        if d.identical() {
            identical += 1;
        } else {
            code = 1;
        }
        if let (Some(_), oracle::compare::Verdict::ExpectedKernelFailure(why)) = (&a.snapshots, &first.verdict) {
            println!("  snapshot review: skipped, the kernel fails as expected: {}", why.lines().next().unwrap_or(""));
        } else if let Some(dir) = &a.snapshots {
            // A scenario that fails the same way every time is deterministic, but it has
            // no dumps to review: that fails the review.
            let Some(capture) = first.capture.as_ref().filter(|c| p.scenario.checkpoints.iter().all(|cp| c.side(*cp).is_some())) else {
                println!("  snapshot review: not every checkpoint was read ({}: {})", first.verdict.label(), first.verdict.why());
                changed.push(f.clone());
                continue;
            };
            for r in review_capture(&p, capture, dir, dir)? {
                snapshots += 1;
                match r {
                    Review::Unchanged(_) | Review::Skipped(_) => {}
                    Review::Changed(path) | Review::New(path) => {
                        println!("  snapshot CHANGED: {}", path.display());
                        changed.push(path);
                    }
                }
            }
        }
    }
    println!("{identical}/{total} scenario(s) identical over {} runs each", a.runs);
    if a.snapshots.is_some() {
        println!("{snapshots} snapshot(s), {} changed, new or unread{}", changed.len(), if changed.is_empty() { "" } else { ": review with `cargo insta review`" });
        if !changed.is_empty() {
            code = 1;
        }
    }
    Ok(code)
}
