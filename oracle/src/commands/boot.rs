//! `oracle boot SCENARIO`: build the scenario's kernel (cached), boot it and print a
//! summary.

use std::path::PathBuf;

use linux_harness::EndAction;
use oracle::boot::{boot_scenario, exit_code};
use oracle::prepare::prepare_changed;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (JSON, schema 1).
    scenario: PathBuf,
    #[command(flatten)]
    change: super::ChangeArgs,
    /// Keep the run directory (RAM file, sockets, console log) and print its path.
    #[arg(long)]
    keep: bool,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let prepared = prepare_changed(&a.scenario, &a.change.change()?)?;
    let boot = boot_scenario(&prepared, EndAction::Poweroff, a.keep)?;
    print!("{}", oracle::report::boot::summary(&prepared, &boot));
    if a.keep {
        println!("run directory kept: {}", boot.run_dir.display());
    }
    Ok(exit_code(&boot.outcome) as u8)
}
