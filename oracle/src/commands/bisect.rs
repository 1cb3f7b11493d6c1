//! `oracle bisect SCENARIO --series S`: the first patch of a series after which the
//! scenario's verdict changes.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file; the series is applied on top of its own kernel variant.
    scenario: PathBuf,
    /// A directory of format-patch files or an mbox.
    #[arg(long)]
    series: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let b = oracle::compare::bisect::bisect(&a.scenario, &a.series)?;
    print!("{}", b.report());
    Ok(if b.first_change.is_some() { 0 } else { 1 })
}
