//! The monitor's event log as `oracle dump` prints it beside the linear map.

use std::fmt::Write as _;

use rust_impl::linear_map::LinearMap;

use crate::compare::rsi::check_page_tables;
use crate::linux_side::monitor_log::{describe, MonitorEvents, RangeSet};

/// The monitor's events as `oracle dump` prints them beside the linear map, with the
/// check of the RSI log against the shared bit in `lm` when the guest is a realm.
pub fn report(events: &MonitorEvents, lm: &LinearMap, realm: bool) -> String {
    let mut s = String::from("---[ EL2 monitor events ]---\n");
    for r in &events.records {
        let _ = writeln!(s, "{}", describe(r));
    }
    if events.dropped > 0 {
        let _ = writeln!(s, "({} more events were lost: the log was full)", events.dropped);
    }
    if realm {
        let empty = RangeSet::from_ranges(events.empty_ranges());
        let mismatches = check_page_tables(&empty, lm);
        let ranges: Vec<String> = empty.ranges.iter().map(|(a, b)| format!("{:#x}-{:#x}", a.0, b.0)).collect();
        let _ = writeln!(s, "RIPAS EMPTY (shared) RAM per the RSI log: {}", if ranges.is_empty() { "none".to_string() } else { ranges.join(", ") });
        if mismatches.is_empty() {
            let _ = writeln!(s, "RSI log and page tables agree on every shared range");
        }
        for m in mismatches {
            let _ = writeln!(s, "MISMATCH {m}");
        }
    }
    s
}

