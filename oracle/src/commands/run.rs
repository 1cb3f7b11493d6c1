//! `oracle run SCENARIO|DIR...`: a verdict per scenario, a summary, and optionally a
//! results directory (`--out`) or the data alone (`--json`); `-j` scenarios at once,
//! `--shard I/N` for one runner's share of the matrix, `--matrix FILE` for every kernel
//! of a kernel matrix (`corpora/matrix`), each in its own folder of `--out`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use linux_harness::matrix::MatrixKernel;
use oracle::prepare::Change;
use oracle::results::collect::matrix_entry;
use oracle::results::runner::{default_jobs_for, run_matrix};
use oracle::results::shard::Shard;
use oracle::results::{dir, text, Results, RunInfo, SeriesInfo, SCHEMA};
use oracle::scenario::files::json_files;

use super::progress::Progress;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Write the results directory: report.txt, report.json, kcidb.json, junit.xml,
    /// ktap.txt and index.html (rewritten after every scenario, marked incomplete until
    /// the last).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write the results data (report.json's document) to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Scenarios run at once (default: one per core, as many as the RAM holds).
    #[arg(short = 'j', long)]
    jobs: Option<usize>,
    /// Run only shard I of N of the matrix (1-based); `oracle merge` joins the shards.
    #[arg(long)]
    shard: Option<Shard>,
    /// Run the scenarios on every kernel a kernel matrix file lists (`corpora/matrix`):
    /// `scenarios` (each scenario's own kernel) into `--out`, any other kernel into
    /// `--out`/kernel-NAME/, one after the other (with `--shard`, the same share of each).
    #[arg(long, conflicts_with_all = ["kernel", "json"], requires = "out")]
    matrix: Option<PathBuf>,
    #[command(flatten)]
    change: super::ChangeArgs,
    /// The KCIDB origin (lower-case letters, digits, `_`).
    #[arg(long, default_value = "lmo")]
    origin: String,
    /// Details for every scenario, not only for those not as expected.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    if a.origin.is_empty() || !a.origin.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        anyhow::bail!("--origin {:?}: a KCIDB origin is lower-case letters, digits and `_`", a.origin);
    }
    let (Some(matrix), Some(out)) = (&a.matrix, &a.out) else { return run_kernel(&a, a.change.kernel.as_deref(), a.out.as_deref()) };
    let mut code = 0;
    for kernel in linux_harness::matrix::load(matrix)? {
        let (source, dir) = match &kernel {
            MatrixKernel::Scenarios => (None, out.clone()),
            MatrixKernel::Source(s) => (Some(s.as_str()), out.join(kernel.folder().unwrap_or_default())),
        };
        println!("kernel: {} -> {}", source.unwrap_or("each scenario's own"), dir.display());
        code = code.max(run_kernel(&a, source, Some(&dir))?);
    }
    Ok(code)
}

/// The run on one kernel (`None`: each scenario's own), its results in `out`.
fn run_kernel(a: &Args, kernel: Option<&str>, out: Option<&Path>) -> anyhow::Result<u8> {
    let started = Instant::now();
    let files = json_files(&a.scenarios)?;
    let matrix: Vec<_> = files.iter().map(|f| matrix_entry(f)).collect();
    let series_info = a.change.series.as_deref().map(SeriesInfo::load).transpose()?;
    let change = Change::new(kernel.map(str::to_string), a.change.series.clone())?;
    let mut results = Results {
        schema: SCHEMA.to_string(),
        complete: false,
        run: RunInfo { origin: a.origin.clone(), matrix: matrix.clone(), shard: a.shard, series: series_info, kernel: kernel.map(str::to_string), seconds: 0.0 },
        scenarios: Vec::new(),
    };
    let planned: Vec<_> = results.planned().into_iter().cloned().collect();
    let planned_refs: Vec<_> = planned.iter().collect();
    let jobs = a.jobs.unwrap_or_else(|| default_jobs_for(&files)).clamp(1, planned.len().max(1));
    // Results are rewritten (atomically) after every scenario, marked incomplete until
    // the last: a run stopped by Ctrl-C or SIGTERM keeps what finished and says so.
    let save = |r: &Results| -> anyhow::Result<()> {
        if let Some(out) = out {
            dir::write(out, r, a.verbose)?;
        }
        if let Some(json) = &a.json {
            dir::write_file(json, serde_json::to_string_pretty(r)?.as_bytes())?;
        }
        Ok(())
    };
    save(&results)?;
    let progress = Progress::new(planned.len(), jobs);
    let mut failed_save = None;
    run_matrix(&planned_refs, jobs, &change, |e| progress.started(e), |_, r| {
        progress.finished(&r);
        progress.print(&text::scenario(&r, a.verbose));
        results.scenarios.push(r);
        results.complete = results.scenarios.len() == planned.len();
        results.run.seconds = started.elapsed().as_secs_f64();
        if let Err(e) = save(&results) {
            failed_save.get_or_insert(e);
        }
    });
    progress.done();
    if let Some(e) = failed_save {
        return Err(e);
    }
    // An empty share of the matrix is a complete run too.
    results.complete = results.scenarios.len() == planned.len();
    results.run.seconds = started.elapsed().as_secs_f64();
    save(&results)?;
    print!("{}", text::summary(&results));
    if let Some(out) = out {
        println!("results: {}", out.display());
    }
    Ok(results.exit_code())
}
