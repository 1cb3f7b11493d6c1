//! `oracle bench walk|trace SCENARIO`: benchmarks printed as ratios against a baseline
//! measured in the same run.

use std::path::PathBuf;

use oracle::prepare::prepare;

#[derive(clap::Args)]
pub struct Args {
    /// What to measure: `walk` (walk + normalise against a plain read of the same table
    /// pages and against QMP dump-guest-memory) or `trace` (a boot with every checkpoint
    /// and the call trace against the same boot without them).
    what: String,
    /// Scenario file of the guest to measure (e.g. corpora/bench/walk-8g-pte.json).
    scenario: PathBuf,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 9)]
    runs: usize,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let prepared = prepare(&a.scenario)?;
    match a.what.as_str() {
        "walk" => print!("{}", oracle::bench::bench_walk(&prepared, a.runs.max(1))?),
        "trace" => print!("{}", oracle::bench::bench_trace(&prepared, a.runs.max(1))?),
        other => anyhow::bail!("unknown benchmark {other:?}; known: walk, trace"),
    }
    Ok(0)
}
