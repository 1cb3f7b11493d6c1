//! `oracle repro ENTRY|DIR...`: reproduce reported bugs and print a report per entry to
//! paste into a mail; optionally the results as JSON.

use std::path::PathBuf;

use oracle::compare::repro::{exit_code, repro_with_series};
use oracle::report;
use oracle::scenario::files::json_files;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    entries: Vec<PathBuf>,
    /// A patch series put on top of every run's kernel (as `oracle run --series`).
    #[arg(long)]
    series: Option<PathBuf>,
    /// Also write each entry's verdict and runs as JSON (`lmo-repro/1`).
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let files = json_files(&a.entries)?;
    let mut all = Vec::new();
    // Rewritten (atomically) after every entry, incomplete until the last: an
    // interrupted run keeps the entries that finished and says so.
    let save = |all: &[_]| match &a.json {
        Some(path) => super::write_json(path, &report::json::repros(all, files.len())),
        None => Ok(()),
    };
    save(&all)?;
    for f in &files {
        let r = repro_with_series(f, &a.series.iter().cloned().collect::<Vec<_>>())?;
        linux_harness::reaper::wait_if_interrupted();
        println!("{}", report::repro::report(&r));
        all.push(r);
        save(&all)?;
    }
    Ok(exit_code(&all))
}
