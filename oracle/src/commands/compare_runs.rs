//! `oracle compare-runs OLD NEW`: what changed between two results directories.

use std::path::PathBuf;

use oracle::results::{changes, dir};

#[derive(clap::Args)]
pub struct Args {
    /// The earlier results directory (or its report.json).
    old: PathBuf,
    /// The later one.
    new: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let (old, new) = (dir::read(&a.old)?, dir::read(&a.new)?);
    let ch = changes::changes(&old, &new);
    print!("{}", changes::report(&ch));
    Ok(if ch.regressed(&new) { 1 } else { 0 })
}
