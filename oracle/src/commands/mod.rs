//! The `oracle` commands, one file each: arguments, one library call, printing, and the
//! exit status (0 as expected, 1 a kernel outcome or verdict not as expected, 2 the
//! infrastructure).

pub mod bench;
pub mod bisect;
pub mod boot;
pub mod determinism;
pub mod dump;
pub mod model;
pub mod repro;
pub mod run;

use std::path::Path;

/// Writes `value` as pretty JSON to `path`.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    std::fs::write(path, serde_json::to_string_pretty(value)?).map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))
}
