//! `oracle pin SOURCE [--version V]`: moves a Debian kernel source's pin in the corpus's
//! `kernels.lock` (to the newest version the archive serves, or to V), fetches that
//! version, then reviews the snapshots of every scenario built from it: the kernels are
//! rebuilt from the new source, and each dump that changed is left as an insta
//! `.snap.new` for `cargo insta review`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use linux_harness::source::{debian_package, served_versions, KernelSource};
use oracle::prepare::{kernels_lock, Change, KERNELS_LOCK};
use oracle::scenario::files::json_files;
use oracle::scenario::Scenario;
use oracle::snapshot::{folder, review, Review};

#[derive(clap::Args)]
pub struct Args {
    /// The source to pin: `debian:linux-source-X.Y`.
    source: String,
    /// The exact Debian version (default: the newest the archive serves).
    #[arg(long)]
    version: Option<String>,
    /// The corpus whose `kernels.lock` is moved and whose scenarios are reviewed.
    #[arg(long, default_value = "corpora")]
    corpus: PathBuf,
    /// The accepted snapshots.
    #[arg(long, default_value = "snapshots")]
    snapshots: PathBuf,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let Some(package) = debian_package(&a.source).filter(|_| !a.source.contains('=')) else {
        bail!("{:?}: `oracle pin` takes debian:linux-source-X.Y (the version goes in --version)", a.source);
    };
    let version = match a.version {
        Some(v) => v,
        None => served_versions(package)?.into_iter().next().with_context(|| format!("the Debian archive serves no {package} (is its suite in the apt sources? `cargo xtask setup` adds them)"))?,
    };
    // The corpus's own lock; one it did not have starts from the pins it was using
    // (this project's).
    let mut lock = kernels_lock(&a.corpus)?;
    let created = !a.corpus.join(KERNELS_LOCK).exists();
    lock.path = a.corpus.join(KERNELS_LOCK);
    let was = lock.pins.get(&a.source).cloned();
    let spec = format!("{}={version}", a.source);
    let (source, fetched) = KernelSource::fetch(&spec)?;
    println!("{}: {} ({})", a.source, source.id, if fetched { "fetched" } else { "already in the cache" });
    lock.pins.insert(a.source.clone(), version.clone());
    lock.save()?;
    match &was {
        _ if created => println!("{} created: {} pinned to {version}", lock.path.display(), a.source),
        Some(v) if *v == version => println!("{} already pins {} {version}", lock.path.display(), a.source),
        Some(v) => println!("{}: {} moved from {v} to {version}", lock.path.display(), a.source),
        None => println!("{}: {} pinned to {version}", lock.path.display(), a.source),
    }
    // The scenarios built from this source, reviewed against the accepted snapshots.
    let change = Change::default();
    let dir = folder(&a.snapshots, &change);
    let (mut changed, mut total) = (0, 0);
    for f in json_files(&[a.corpus.join("scenarios")])? {
        if Scenario::load(&f)?.kernel.source != a.source {
            continue;
        }
        for r in review(&f, &change, &dir, &a.snapshots)? {
            total += 1;
            match r {
                Review::Unchanged(_) => {}
                Review::Changed(p) | Review::New(p) => {
                    changed += 1;
                    println!("CHANGED   {}", p.display());
                }
                Review::Skipped(why) => {
                    total -= 1;
                    println!("skipped   {why}");
                }
            }
        }
    }
    println!("{total} snapshot(s) on {} {version}, {changed} changed or new{}", a.source, if changed > 0 { ": review with `cargo insta review`" } else { "" });
    Ok(if changed > 0 { 1 } else { 0 })
}
