//! Feeds reported-bug entries (`corpora/reported/*.json`) to `Entry::parse`, then asks
//! for every run's scenario: an entry or an error, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oracle::scenario::reported::Entry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("corpora/reported/fuzz.json");
    match Entry::parse(text, path) {
        Ok(entry) => {
            for run in &entry.runs {
                let _ = entry.scenario_for(path, run).map_err(|e| e.to_string());
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
