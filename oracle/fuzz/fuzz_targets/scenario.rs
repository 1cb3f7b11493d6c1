//! Feeds scenario files (`corpora/scenarios/*.json`) to `Scenario::parse`: any text is a
//! scenario or an error naming the field, and a scenario prints back to JSON that parses
//! to the same scenario.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use oracle::scenario::Scenario;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new("corpora/scenarios/fuzz.json");
    match Scenario::parse(text, path) {
        Ok(s) => {
            let _ = s.deterministic_checkpoints().count();
            let _ = s.timeout();
            let again = serde_json::to_string(&s).expect("a scenario serialises");
            let back = Scenario::parse(&again, path).unwrap_or_else(|e| panic!("{again}: {e}"));
            assert_eq!(back, s, "{again}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
