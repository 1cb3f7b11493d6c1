//! `oracle snapshot [--series S] SCENARIO|DIR...`: snapshot review of a kernel change.

use std::path::PathBuf;

use oracle::scenario::files::json_files;
use oracle::prepare::Change;
use oracle::snapshot::{folder, review, Review};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// A patch series put on top of each scenario's own kernel; its snapshots live in
    /// SNAPSHOTS/series-NAME/, starting from the default ones.
    #[arg(long)]
    series: Option<PathBuf>,
    /// Build every scenario from this kernel source instead (as `oracle run --kernel`);
    /// its snapshots live in SNAPSHOTS/kernel-NAME/.
    #[arg(long)]
    kernel: Option<String>,
    /// The accepted snapshots.
    #[arg(long, default_value = "snapshots")]
    snapshots: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let change = Change::new(a.kernel.clone(), a.series.clone())?;
    let folder = folder(&a.snapshots, &change);
    let (mut changed, mut total) = (0, 0);
    for f in json_files(&a.scenarios)? {
        for r in review(&f, &change, &folder, &a.snapshots)? {
            total += 1;
            match r {
                Review::Unchanged(name) => println!("unchanged {name}"),
                Review::Changed(p) => {
                    changed += 1;
                    println!("CHANGED   {}", p.display());
                }
                Review::New(p) => {
                    changed += 1;
                    println!("NEW       {}", p.display());
                }
            }
        }
    }
    println!("{total} snapshot(s), {changed} changed or new{}", if changed > 0 { ": review with `cargo insta review`" } else { "" });
    Ok(if changed > 0 { 1 } else { 0 })
}
