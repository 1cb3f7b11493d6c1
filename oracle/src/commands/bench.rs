//! `oracle bench walk|trace|host|scale|jobs|page|review`: benchmarks printed as ratios against a
//! baseline measured in the same run.

use std::path::PathBuf;

use oracle::prepare::prepare;

const DEFAULT_SCENARIO: &str = "corpora/bench/walk-8g-pte.json";

#[derive(clap::Args)]
pub struct Args {
    /// What to measure: `walk` (walk + normalise against a plain read of the same table
    /// pages and against QMP dump-guest-memory), `trace` (a boot with every checkpoint
    /// and the call trace against the same boot without them), `host` (a realm boot
    /// under the strict host, partial progress and poison scrubbing, against the same
    /// boot under the host that accepts every request whole), `scale` (PTE- and
    /// block-mapped guests of --sizes GiB: boot, walk, leaves, memory; a table and an
    /// SVG plot), `jobs` (the scenarios at -j1 and -jN), `page` (the HTML report drawn
    /// for a million-leaf map and for the scenario's real results, against a small map),
    /// `review` (a three-patch mbox on mmu.c over the corpus, default corpora/scenarios:
    /// cold and warm, against the corpus without it).
    what: String,
    /// Scenario file (walk, trace; the base guest for scale) or corpus (jobs).
    #[arg(default_value = DEFAULT_SCENARIO)]
    scenarios: Vec<PathBuf>,
    /// Repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 9)]
    runs: usize,
    /// scale: guest sizes in GiB.
    #[arg(long, value_delimiter = ',', default_values_t = [1u64, 4, 16])]
    sizes: Vec<u64>,
    /// scale: where to write scale.svg and scale.json (default target/nightly, beside
    /// the nightly report, whose page shows the plot).
    #[arg(long, default_value = "target/nightly")]
    out: PathBuf,
    /// jobs: the parallel run measured against -j1 (default: the default of `run`).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// page: lines per side of the large map.
    #[arg(long, default_value_t = 1_000_000)]
    leaves: u64,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let first = a.scenarios.first().cloned().unwrap_or_default();
    match a.what.as_str() {
        "walk" => print!("{}", oracle::bench::bench_walk(&prepare(&first)?, a.runs.max(1))?),
        "trace" => print!("{}", oracle::bench::bench_trace(&prepare(&first)?, a.runs.max(1))?),
        "host" => print!("{}", oracle::bench::bench_host(&prepare(&first)?, a.runs.max(1))?),
        "scale" => {
            let points = oracle::bench::scale::bench_scale(&first, &a.sizes, a.runs.max(1))?;
            std::fs::create_dir_all(&a.out)?;
            oracle::results::dir::write_file(&a.out.join("scale.svg"), oracle::bench::scale::svg(&points).as_bytes())?;
            oracle::results::dir::write_file(&a.out.join("scale.json"), serde_json::to_string_pretty(&points)?.as_bytes())?;
            print!("{}", oracle::bench::scale::table(&points));
            println!("plot: {}", a.out.join("scale.svg").display());
        }
        "jobs" => {
            let files = oracle::scenario::files::json_files(&a.scenarios)?;
            let n = a.jobs.unwrap_or_else(|| oracle::results::runner::default_jobs_for(&files));
            print!("{}", oracle::bench::jobs::bench_jobs(&files, &[1, n]));
        }
        "page" => print!("{}", oracle::bench::page::bench_page(a.leaves, Some(&first))?),
        "review" => {
            let corpus = if a.scenarios == [PathBuf::from(DEFAULT_SCENARIO)] { vec![PathBuf::from("corpora/scenarios")] } else { a.scenarios.clone() };
            let files = oracle::scenario::files::json_files(&corpus)?;
            let n = a.jobs.unwrap_or_else(|| oracle::results::runner::default_jobs_for(&files));
            print!("{}", oracle::bench::review::bench_review(&files, n)?);
        }
        other => anyhow::bail!("unknown benchmark {other:?}; known: walk, trace, host, scale, jobs, page, review"),
    }
    Ok(0)
}
