//! `oracle determinism --runs K SCENARIO|DIR...`: reruns each scenario K times and says
//! whether every run gave the same verdict and the same dumps where the scenario is
//! deterministic.

use std::path::PathBuf;

use oracle::compare::determinism::rerun;
use oracle::prepare::prepare;
use oracle::scenario::files::json_files;

#[derive(clap::Args)]
pub struct Args {
    /// How many times to run each scenario (at least 2).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..))]
    runs: u32,
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let mut code = 0;
    let (mut identical, mut total) = (0, 0);
    for f in json_files(&a.scenarios)? {
        let p = prepare(&f).map_err(|e| anyhow::anyhow!("{}: {e:#}", f.display()))?;
        let d = rerun(&p, a.runs as usize);
        print!("{}", d.report());
        total += 1;
        if d.identical() {
            identical += 1;
        } else {
            code = 1;
        }
    }
    println!("{identical}/{total} scenario(s) identical over {} runs each", a.runs);
    Ok(code)
}
