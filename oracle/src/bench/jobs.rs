//! `oracle bench jobs CORPUS`: the corpus's wall time at -j1 and at -jN on this machine,
//! beside the sum of the scenarios' own times, measured in one run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use crate::results::collect::matrix_entry;
use crate::results::runner::run_matrix;

/// Runs `files` once at each of `jobs` (the first is the baseline) and reports.
pub fn bench_jobs(files: &[PathBuf], jobs: &[usize]) -> String {
    let matrix: Vec<_> = files.iter().map(|f| matrix_entry(f)).collect();
    let refs: Vec<_> = matrix.iter().collect();
    let mut s = String::new();
    let mut baseline = None;
    for &j in jobs {
        let t = Instant::now();
        let mut own = 0.0;
        let mut verdicts = Vec::new();
        run_matrix(&refs, j, &Default::default(), |_| {}, |_, r| {
            own += r.seconds;
            verdicts.push(r.verdict);
        });
        let wall = t.elapsed().as_secs_f64();
        let base = *baseline.get_or_insert(wall);
        let _ = writeln!(s, "-j{j}: {} scenario(s) in {wall:.1} s wall (sum of the scenarios' own times {own:.1} s); ratio to -j{}: {:.2}x", verdicts.len(), jobs[0], wall / base);
    }
    s
}
