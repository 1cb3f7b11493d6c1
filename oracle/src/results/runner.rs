//! Runs the scenarios of a matrix, `jobs` at a time, and hands each result on in matrix
//! order whatever order they finish in (kernel builds stay one at a time: the cache's
//! build lock serialises them across threads and processes alike).

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use super::collect::scenario_result;
use super::{MatrixEntry, ScenarioResult};
use crate::compare::run_one_changed;
use crate::prepare::Change;

/// How many scenarios run at once by default: one per core, and no more than the RAM
/// available holds guests of the largest size the matrix asks for (plus QEMU's own).
pub fn default_jobs(largest_guest_mib: u64) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let available_mib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("MemAvailable:").map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())).flatten())
        .map_or(u64::MAX, |kb| kb / 1024);
    let per_guest = largest_guest_mib + 1024;
    cores.min((available_mib / per_guest).max(1) as usize).max(1)
}

/// [`default_jobs`] for the scenario files of a run (the largest guest among them).
pub fn default_jobs_for(files: &[std::path::PathBuf]) -> usize {
    let largest = files.iter().filter_map(|f| crate::scenario::Scenario::load(f).ok()).map(|s| s.machine.memory_mib).max().unwrap_or(1024);
    default_jobs(largest)
}

/// The order entries start in: kernels with fewer config fragments first (then matrix
/// order), so that a family's prefix tree (`base`) is built before the families whose
/// kbuild trees start as a copy of it (`linux_harness::build`, seeding). An entry that
/// does not load starts first: it fails at once.
fn start_order(entries: &[&MatrixEntry]) -> Vec<usize> {
    let fragments = |e: &MatrixEntry| crate::scenario::Scenario::load(Path::new(&e.file)).map_or(0, |s| s.kernel.configs.len());
    let mut order: Vec<(usize, usize)> = entries.iter().enumerate().map(|(i, e)| (fragments(e), i)).collect();
    order.sort();
    order.into_iter().map(|(_, i)| i).collect()
}

/// Runs every entry of `entries` (each with the user's `change`), `jobs` at once, calling `start(entry)` as each
/// begins and `done(i, result)` for entry `i` in order.
pub fn run_matrix(entries: &[&MatrixEntry], jobs: usize, change: &Change, start: impl Fn(&MatrixEntry) + Sync, mut done: impl FnMut(usize, ScenarioResult)) {
    let order = start_order(entries);
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, ScenarioResult)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1).min(entries.len().max(1)) {
            let tx = tx.clone();
            let (next, start, order) = (&next, &start, &order);
            scope.spawn(move || loop {
                let Some(&i) = order.get(next.fetch_add(1, Ordering::SeqCst)) else { return };
                let entry = entries[i];
                start(entry);
                let outcome = run_one_changed(Path::new(&entry.file), change);
                // A scenario cut short by Ctrl-C is not a result: the handler ends the run.
                linux_harness::reaper::wait_if_interrupted();
                let result = scenario_result(&outcome);
                if tx.send((i, result)).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut waiting = std::collections::BTreeMap::new();
        let mut want = 0;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&want) {
                done(want, r);
                want += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::collect::matrix_entry;

    #[test]
    fn kernels_with_fewer_fragments_start_first() {
        let corpus = crate::scenario::project_corpora().join("scenarios");
        // bbml3-64k: base + 64k-pages; baseline-pte: base; kfence-early: base + kfence.
        let files = ["bbml3-64k", "baseline-pte", "kfence-early", "no-such-scenario"].map(|n| corpus.join(format!("{n}.json")));
        let entries: Vec<MatrixEntry> = files.iter().map(|f| matrix_entry(f)).collect();
        let refs: Vec<&MatrixEntry> = entries.iter().collect();
        assert_eq!(start_order(&refs), vec![3, 1, 0, 2]);
    }
}
