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

use std::path::Path;

/// Writes `value` as pretty JSON to `path`, atomically (a temporary file beside it,
/// then a rename), so a reader or an interrupted run never sees half a file.
pub fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("writing {}: {e}", path.display());
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| err(&e))?;
    serde_json::to_writer_pretty(&mut tmp, value).map_err(|e| err(&e))?;
    // Results are for dashboards and other users: readable like any file written here.
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(|e| err(&e))?;
    tmp.persist(path).map_err(|e| err(&e))?;
    Ok(())
}
