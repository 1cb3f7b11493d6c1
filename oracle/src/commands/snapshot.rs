//! `oracle snapshot [--series S] [--kernel K] SCENARIO|DIR...`: snapshot review of a kernel change.

use std::path::PathBuf;

use oracle::scenario::files::json_files;
use oracle::snapshot::{folder, review, Review};

#[derive(clap::Args)]
pub struct Args {
    #[arg(required = true)]
    scenarios: Vec<PathBuf>,
    /// The change to review (its snapshots live in SNAPSHOTS/series-NAME/ or
    /// SNAPSHOTS/kernel-NAME/, starting from the default ones).
    #[command(flatten)]
    change: super::ChangeArgs,
    /// The accepted snapshots.
    #[arg(long, default_value = "snapshots")]
    snapshots: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let change = a.change.change()?;
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
                Review::Skipped(why) => {
                    total -= 1;
                    println!("skipped   {why}");
                }
            }
        }
    }
    println!("{total} snapshot(s), {changed} changed or new{}", if changed > 0 { ": review with `cargo insta review`" } else { "" });
    Ok(if changed > 0 { 1 } else { 0 })
}
