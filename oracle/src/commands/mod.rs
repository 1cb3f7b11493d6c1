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
pub mod progress;
pub mod repro;
pub mod run;
pub mod snapshot;

use std::path::Path;

/// Writes `value` as pretty JSON to `path`, atomically, so a reader or an interrupted
/// run never sees half a file.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    Ok(oracle::results::dir::write_file(path, text.as_bytes())?)
}
