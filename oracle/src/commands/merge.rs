//! `oracle merge --out DIR SHARD_DIR...`: joins every shard's results into one results
//! directory, the same as an unsharded run would have written; the results of another
//! kernel of the matrix (`kernel-NAME/` in each shard, `oracle run --matrix`) into
//! `DIR/kernel-NAME/` the same way.

use std::collections::BTreeSet;
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
    // Every kernel's shards are read and merged before anything is written: nothing is
    // written unless the whole merge is.
    let mut merged = vec![(a.out.clone(), merge(&a.shards)?)];
    for folder in kernel_folders(&a.shards)? {
        let shards: Vec<PathBuf> = a.shards.iter().map(|d| d.join(&folder)).collect();
        merged.push((a.out.join(&folder), merge(&shards)?));
    }
    let mut code = 0;
    for (out, results) in &merged {
        dir::write(out, results, a.verbose)?;
        print!("{}", text::summary(results));
        println!("results: {}", out.display());
        code = code.max(results.exit_code());
    }
    Ok(code)
}

fn merge(shards: &[PathBuf]) -> anyhow::Result<oracle::results::Results> {
    let mut parts = Vec::new();
    for d in shards {
        parts.push((d.display().to_string(), dir::read(d)?));
    }
    Ok(shard::merge(&parts)?)
}

/// The `kernel-NAME` folders of the shards (every shard must hold the same ones).
fn kernel_folders(shards: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let folders = |d: &PathBuf| -> BTreeSet<String> {
        std::fs::read_dir(d).into_iter().flatten().flatten().filter(|e| e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with("kernel-")).collect()
    };
    let all: BTreeSet<String> = shards.iter().flat_map(folders).collect();
    for d in shards {
        if let Some(missing) = all.difference(&folders(d)).next() {
            anyhow::bail!("{}: no {missing}/ (another shard has that kernel's results): shards of different runs?", d.display());
        }
    }
    Ok(all.into_iter().collect())
}
