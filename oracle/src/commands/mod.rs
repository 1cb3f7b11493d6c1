//! The `oracle` commands, one file each: arguments, one library call, printing, and the
//! exit status (0 as expected, 1 a kernel outcome or verdict not as expected, 2 the
//! infrastructure).

pub mod bench;
pub mod bisect;
pub mod compare_runs;
pub mod boot;
pub mod cache;
pub mod determinism;
pub mod dump;
pub mod merge;
pub mod model;
pub mod pin;
pub mod progress;
pub mod repro;
pub mod run;
pub mod snapshot;

use std::path::{Path, PathBuf};

use oracle::prepare::Change;

/// The user's change on the scenarios a command boots: `--series` and `--kernel`.
#[derive(clap::Args)]
pub struct ChangeArgs {
    /// A patch series (a directory of format-patch files, an mbox as `git format-patch
    /// --stdout` or `b4 am` writes it, or one .patch file) put on top of each scenario's
    /// own kernel variant.
    #[arg(long)]
    pub series: Option<PathBuf>,
    /// Build each scenario from this kernel source instead of its own:
    /// `debian:linux-source-X.Y`, `git:PATH[@REV]` (a local checkout; REV is exported
    /// into the cache, the checkout is never touched) or `tar:PATH` (a kernel tarball).
    #[arg(long)]
    pub kernel: Option<String>,
}

impl ChangeArgs {
    pub fn change(&self) -> oracle::Result<Change> {
        Change::new(self.kernel.clone(), self.series.clone())
    }
}

/// Writes `value` as pretty JSON to `path`, atomically, so a reader or an interrupted
/// run never sees half a file.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(oracle::results::dir::write_file(path, text.as_bytes())?)
}
