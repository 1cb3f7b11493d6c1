//! `oracle repro ENTRY|DIR...`: reproduce reported bugs and print a report per entry to
//! paste into a mail; optionally the results as JSON.

use std::path::PathBuf;

use oracle::compare::repro::{exit_code, repro};
use oracle::report;
use oracle::scenario::files::json_files;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    entries: Vec<PathBuf>,
    /// Also write each entry's verdict and runs as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let mut all = Vec::new();
    for f in json_files(&a.entries)? {
        let r = repro(&f)?;
        println!("{}", report::repro::report(&r));
        all.push(r);
    }
    if let Some(path) = a.json {
        super::write_json(&path, &serde_json::Value::Array(all.iter().map(report::json::repro).collect()))?;
    }
    Ok(exit_code(&all))
}
