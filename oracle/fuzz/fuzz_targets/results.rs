//! Feeds `report.json` documents (as other runners' shards and last night's results
//! arrive at `oracle merge` and `oracle compare-runs`) to the results reader and every
//! renderer: results or an error, never a panic; a run compared with itself has no
//! change; a whole unsharded run merges to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oracle::results::{changes, dir, html, junit, kcidb, ktap, shard, text};

fuzz_target!(|data: &[u8]| {
    let Ok(r) = dir::parse(data, "fuzz") else { return };
    let _ = text::report(&r, true);
    let _ = junit::junit(&r);
    let _ = ktap::ktap(&r);
    let _ = kcidb::kcidb(&r);
    let _ = html::page(&r);
    let ch = changes::changes(&r, &r);
    assert!(ch.new.is_empty() && ch.fixed.is_empty() && ch.verdicts.is_empty(), "a run differs from itself");
    let _ = changes::report(&ch);
    if let Ok(merged) = shard::merge(&[("a".into(), r.clone())]) {
        assert_eq!(merged.scenarios.len(), merged.run.matrix.len());
    }
});
