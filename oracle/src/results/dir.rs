//! A results directory: `report.json` (the data) and everything rendered from it
//! (`report.txt`, `kcidb.json`, `junit.xml`, `ktap.txt`, `index.html`), each written
//! atomically so a reader, or an interrupted run, never sees half a file.

use std::path::Path;

use super::{html, junit, kcidb, ktap, text, Results, SCHEMA};
use crate::error::{Error, Result};

/// The data file of a results directory.
pub const REPORT_JSON: &str = "report.json";

/// Writes every file of the results directory `dir` (created if missing).
pub fn write(dir: &Path, r: &Results, verbose: bool) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let json = serde_json::to_string_pretty(r).expect("results serialise");
    write_file(&dir.join(REPORT_JSON), json.as_bytes())?;
    write_file(&dir.join("report.txt"), text::report(r, verbose).as_bytes())?;
    write_file(&dir.join("kcidb.json"), serde_json::to_string_pretty(&kcidb::kcidb(r)).expect("KCIDB serialises").as_bytes())?;
    write_file(&dir.join("junit.xml"), junit::junit(r).as_bytes())?;
    write_file(&dir.join("ktap.txt"), ktap::ktap(r).as_bytes())?;
    write_file(&dir.join("index.html"), html::page(r).as_bytes())?;
    Ok(())
}

/// Reads the results of `dir` (its `report.json`), refusing another schema by name.
pub fn read(dir: &Path) -> Result<Results> {
    let file = if dir.is_dir() { dir.join(REPORT_JSON) } else { dir.to_path_buf() };
    let text = std::fs::read(&file).map_err(|e| Error::io(format!("reading results {}", file.display()), e))?;
    parse(&text, &file.display().to_string())
}

/// Parses the text of a `report.json`; `name` names it in errors.
pub fn parse(text: &[u8], name: &str) -> Result<Results> {
    let value: serde_json::Value = serde_json::from_slice(text).map_err(|e| Error::Results(format!("{name}: not JSON: {e}")))?;
    match value.get("schema").and_then(|s| s.as_str()) {
        Some(SCHEMA) => {}
        Some(other) => return Err(Error::Results(format!("{name}: schema {other}, this oracle reads {SCHEMA}"))),
        None => return Err(Error::Results(format!("{name}: no `schema` field: not a results file of this oracle"))),
    }
    serde_path_to_error::deserialize(value).map_err(|e| Error::Results(format!("{name}: field `{}`: {}", e.path(), e.inner())))
}

/// Writes `bytes` to `path` through a temporary file beside it and a rename, readable
/// by everyone (results are for dashboards and other users).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::PermissionsExt;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let err = |e: std::io::Error| Error::io(format!("writing {}", path.display()), e);
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
    tmp.write_all(bytes).map_err(err)?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}
