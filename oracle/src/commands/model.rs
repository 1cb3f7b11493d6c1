//! `oracle model SCENARIO`: the model's linear map at the scenario's last checkpoint (the
//! guest is booted once, for the memory layout and the other observed inputs).

use std::path::PathBuf;

use oracle::compare::compare;
use oracle::prepare::prepare_with_series;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (JSON, schema 1).
    scenario: PathBuf,
    /// A patch series put on top of the scenario's own kernel (as `oracle run --series`).
    #[arg(long)]
    series: Option<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let prepared = prepare_with_series(&a.scenario, &a.series.iter().cloned().collect::<Vec<_>>())?;
    let c = compare(&prepared)?;
    let last = c.checkpoints.last().ok_or_else(|| anyhow::anyhow!("the scenario names no checkpoint"))?;
    for step in &last.model.steps {
        eprintln!("model: {step}");
    }
    eprintln!("model: at {}", last.checkpoint);
    print!("{}", last.model.linear_map);
    Ok(0)
}
