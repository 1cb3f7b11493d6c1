//! `oracle merge --out DIR SHARD_DIR...`: joins every shard's results into one results
//! directory, the same as an unsharded run would have written.

use std::path::PathBuf;

use oracle::results::{dir, shard, text};

#[derive(clap::Args)]
pub struct Args {
    /// The shards' results directories (or their report.json files).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Where to write the merged results directory.
    #[arg(long)]
    out: PathBuf,
    /// Details for every scenario in report.txt.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let mut parts = Vec::new();
    for d in &a.shards {
        parts.push((d.display().to_string(), dir::read(d)?));
    }
    // Nothing is written unless the merge is whole.
    let merged = shard::merge(&parts)?;
    dir::write(&a.out, &merged, a.verbose)?;
    print!("{}", text::summary(&merged));
    println!("results: {}", a.out.display());
    Ok(merged.exit_code())
}
