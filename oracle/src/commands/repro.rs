//! `oracle repro ENTRY|DIR...`: reproduce reported bugs and print a report per entry to
//! paste into a mail; optionally the results as JSON.

use std::path::PathBuf;

use oracle::compare::repro::{exit_code, repro_changed};
use oracle::report;
use oracle::scenario::files::json_files;

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    entries: Vec<PathBuf>,
    /// A change put on every run of each entry (does a candidate fix turn the buggy run
    /// into a match? does the bug reproduce on my tree?).
    #[command(flatten)]
    change: super::ChangeArgs,
    /// Also write each entry's verdict and runs as JSON (`lmo-repro/1`).
    #[arg(long)]
    json: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let files = json_files(&a.entries)?;
    let change = a.change.change()?;
    let mut all = Vec::new();
    // Rewritten (atomically) after every entry, incomplete until the last: an
    // interrupted run keeps the entries that finished and says so.
    let save = |all: &[_]| match &a.json {
        Some(path) => super::write_json(path, &report::json::repros(all, files.len())),
        None => Ok(()),
    };
    save(&all)?;
    for f in &files {
        let r = repro_changed(f, &change)?;
        linux_harness::reaper::wait_if_interrupted();
        println!("{}", report::repro::report(&r));
        all.push(r);
        save(&all)?;
    }
    Ok(exit_code(&all))
}
