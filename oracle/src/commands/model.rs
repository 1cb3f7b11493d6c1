//! `oracle model SCENARIO`: the model's linear map at the scenario's last checkpoint (the
//! guest is booted once, for the memory layout and the other observed inputs).

use std::path::PathBuf;

use oracle::compare::compare;
use oracle::prepare::prepare_changed;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (JSON, schema 1).
    scenario: PathBuf,
    #[command(flatten)]
    change: super::ChangeArgs,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let prepared = prepare_changed(&a.scenario, &a.change.change()?)?;
    let c = compare(&prepared)?;
    let last = c.checkpoints.last().ok_or_else(|| anyhow::anyhow!("the scenario names no checkpoint"))?;
    for step in &last.model.steps {
        eprintln!("model: {step}");
    }
    eprintln!("model: at {}", last.checkpoint);
    print!("{}", last.model.linear_map);
    Ok(0)
}
