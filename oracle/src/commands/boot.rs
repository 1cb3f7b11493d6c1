//! `oracle boot SCENARIO`: build the scenario's kernel (cached), boot it and print a
//! summary.

use std::path::PathBuf;

use linux_harness::EndAction;
use oracle::boot::{boot_scenario, exit_code};
use oracle::prepare::prepare_with_series;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (JSON, schema 1).
    scenario: PathBuf,
    /// A patch series put on top of the scenario's own kernel (as `oracle run --series`).
    #[arg(long)]
    series: Option<PathBuf>,
    /// Keep the run directory (RAM file, sockets, console log) and print its path.
    #[arg(long)]
    keep: bool,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let prepared = prepare_with_series(&a.scenario, &a.series.iter().cloned().collect::<Vec<_>>())?;
    let boot = boot_scenario(&prepared, EndAction::Poweroff, a.keep)?;
    print!("{}", oracle::report::boot::summary(&prepared, &boot));
    if a.keep {
        println!("run directory kept: {}", boot.run_dir.display());
    }
    Ok(exit_code(&boot.outcome) as u8)
}
