//! `oracle run SCENARIO|DIR...`: a verdict per scenario, a summary, and optionally all
//! of it as JSON.

use std::path::PathBuf;

use oracle::compare::{exit_code, run_one};
use oracle::report;
use oracle::scenario::files::json_files;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// Also write the full results (divergences, model steps, call traces) as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let files = json_files(&a.scenarios)?;
    let mut outcomes = Vec::new();
    // The JSON is rewritten (atomically) after every scenario, marked incomplete until
    // the last: a run stopped by Ctrl-C or SIGTERM keeps what finished and says so.
    let save = |outcomes: &[_]| match &a.json {
        Some(path) => super::write_json(path, &report::json::run(outcomes, files.len())),
        None => Ok(()),
    };
    save(&outcomes)?;
    for f in &files {
        let o = run_one(f);
        // A scenario cut short by Ctrl-C is not a result: the handler ends the run.
        linux_harness::reaper::wait_if_interrupted();
        print!("{}", report::text::outcome(&o));
        outcomes.push(o);
        save(&outcomes)?;
    }
    print!("{}", report::text::summary(&outcomes));
    Ok(exit_code(&outcomes))
}
