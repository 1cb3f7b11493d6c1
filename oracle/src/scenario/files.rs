//! Corpus files named on the command line: files as given, directories expanded to their
//! `*.json` files in name order.

use std::path::PathBuf;

use crate::error::{Error, Result};

/// Files named directly, or found (`*.json`, sorted) in named directories.
pub fn json_files(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let entries = std::fs::read_dir(a).map_err(|e| Error::io(format!("listing {}", a.display()), e))?;
            let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}
