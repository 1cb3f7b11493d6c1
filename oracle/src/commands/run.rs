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
    let mut outcomes = Vec::new();
    for f in json_files(&a.scenarios)? {
        let o = run_one(&f);
        print!("{}", report::text::outcome(&o));
        outcomes.push(o);
    }
    print!("{}", report::text::summary(&outcomes));
    if let Some(path) = a.json {
        super::write_json(&path, &serde_json::Value::Array(outcomes.iter().map(report::json::outcome).collect()))?;
    }
    Ok(exit_code(&outcomes))
}
