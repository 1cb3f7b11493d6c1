//! The realm's shared memory three ways: the RIPAS EMPTY ranges of the monitor's RSI
//! log against the shared bit in the kernel's page tables and against the model's own
//! RSI calls. Any disagreement is a `shared bit` divergence.

use std::fmt;

use rust_impl::address::PhysAddr;
use rust_impl::linear_map::LinearMap;

use crate::linux_side::monitor_log::RangeSet;

/// PA ranges the linear map maps with the realm shared bit.
pub fn shared_pa_ranges(lm: &LinearMap) -> RangeSet {
    RangeSet::from_ranges(lm.lines.iter().filter(|l| l.shared).map(|l| (l.pa, PhysAddr(l.pa.0 + (l.end.0 - l.start.0)))))
}

/// Where the RSI log and a set of shared ranges disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedMismatch {
    pub start: PhysAddr,
    pub end: PhysAddr,
    /// True: RIPAS EMPTY in the monitor but not shared in the other side; false: the
    /// other way round.
    pub empty_not_shared: bool,
    /// What was compared with the monitor ("the kernel's page tables", "the model").
    pub against: &'static str,
}

impl fmt::Display for SharedMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = rust_impl::linear_map::HumanSize(self.end.0 - self.start.0);
        if self.empty_not_shared {
            write!(f, "PA {:#x}-{:#x} ({size}): RIPAS EMPTY in the monitor's RSI log, but not shared in {}", self.start.0, self.end.0, self.against)
        } else {
            write!(f, "PA {:#x}-{:#x} ({size}): shared in {}, but RIPAS RAM in the monitor's RSI log", self.start.0, self.end.0, self.against)
        }
    }
}

/// Compares the RIPAS EMPTY ranges of the log with `shared` (ranges of PA).
pub fn check_shared(empty: &RangeSet, shared: &RangeSet, against: &'static str) -> Vec<SharedMismatch> {
    let mut out: Vec<SharedMismatch> = empty
        .minus(shared)
        .ranges
        .into_iter()
        .map(|(start, end)| SharedMismatch { start, end, empty_not_shared: true, against })
        .chain(shared.minus(empty).ranges.into_iter().map(|(start, end)| SharedMismatch { start, end, empty_not_shared: false, against }))
        .collect();
    out.sort_by_key(|m| m.start);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatches_both_ways() {
        let r = |a, b| (PhysAddr(a), PhysAddr(b));
        let empty = RangeSet::from_ranges([r(0x1000, 0x5000)]);
        let shared = RangeSet::from_ranges([r(0x2000, 0x6000)]);
        let m = check_shared(&empty, &shared, "the kernel's page tables");
        assert_eq!(m.len(), 2);
        assert_eq!((m[0].start.0, m[0].end.0, m[0].empty_not_shared), (0x1000, 0x2000, true));
        assert_eq!((m[1].start.0, m[1].end.0, m[1].empty_not_shared), (0x5000, 0x6000, false));
        assert!(m[0].to_string().contains("RIPAS EMPTY in the monitor's RSI log, but not shared in the kernel's page tables"));
        assert!(check_shared(&empty, &empty, "x").is_empty());
    }

}
