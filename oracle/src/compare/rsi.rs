//! The realm's shared memory three ways: the RIPAS EMPTY ranges of the monitor's RSI
//! log against the shared bit of the kernel's valid mappings and against the model's own
//! RSI calls. Any disagreement is a `shared bit` divergence. An entry that is not valid
//! gives no access whatever its shared bit (a refused conversion leaves the range
//! present-invalid with the bit already set, `__set_memory_enc_dec()`), so only valid
//! mappings are held against the log.

use std::fmt;

use rust_impl::address::PhysAddr;
use rust_impl::linear_map::LinearMap;

use crate::linux_side::monitor_log::RangeSet;

/// PA ranges the linear map maps validly with (`shared`) or without the realm shared bit.
pub fn mapped_pa_ranges(lm: &LinearMap, shared: bool) -> RangeSet {
    RangeSet::from_ranges(lm.lines.iter().filter(|l| l.valid && l.shared == shared).map(|l| (l.pa, PhysAddr(l.pa.0 + (l.end.0 - l.start.0)))))
}

/// Where the kernel's valid mappings disagree with the RIPAS EMPTY ranges of the log:
/// RIPAS EMPTY memory mapped private (an access faults), shared mappings of memory that
/// is RIPAS RAM.
pub fn check_page_tables(empty: &RangeSet, lm: &LinearMap) -> Vec<SharedMismatch> {
    let against = "the kernel's page tables";
    let private = mapped_pa_ranges(lm, false);
    let shared = mapped_pa_ranges(lm, true);
    mismatches(empty.intersect(&private), shared.minus(empty), against)
}

/// Both kinds of mismatch, in address order.
fn mismatches(empty_not_shared: RangeSet, shared_not_empty: RangeSet, against: &'static str) -> Vec<SharedMismatch> {
    let kind = |set: RangeSet, empty_not_shared: bool| set.ranges.into_iter().map(move |(start, end)| SharedMismatch { start, end, empty_not_shared, against });
    let mut out: Vec<SharedMismatch> = kind(empty_not_shared, true).chain(kind(shared_not_empty, false)).collect();
    out.sort_by_key(|m| m.start);
    out
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

/// Compares the RIPAS EMPTY ranges of the log with `shared` (the RIPAS EMPTY ranges
/// another side's RSI calls leave).
pub fn check_shared(empty: &RangeSet, shared: &RangeSet, against: &'static str) -> Vec<SharedMismatch> {
    mismatches(empty.minus(shared), shared.minus(empty), against)
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

    #[test]
    fn only_valid_mappings_are_held_against_the_log() {
        use rust_impl::address::VirtAddr;
        use rust_impl::linear_map::MapLine;
        let line = |va: u64, len: u64, valid: bool, shared: bool| MapLine {
            start: VirtAddr(0xffff_0000_0000_0000 + va),
            end: VirtAddr(0xffff_0000_0000_0000 + va + len),
            level: rust_impl::granule::Level::Pte,
            cont: false,
            pa: PhysAddr(0x8000_0000 + va),
            attrs: 0,
            valid,
            shared,
        };
        let empty = RangeSet::from_ranges([(PhysAddr(0x8000_0000), PhysAddr(0x8000_4000))]);
        // A refused share: the prefix the host converted is EMPTY, the rest RAM, and
        // the whole range present-invalid with the shared bit: no mismatch.
        let lm = LinearMap { lines: vec![line(0, 0x8000, false, true), line(0x8000, 0x8000, true, false)] };
        assert!(check_page_tables(&empty, &lm).is_empty());
        // A valid private mapping of EMPTY memory, and a valid shared one of RAM.
        let lm = LinearMap { lines: vec![line(0, 0x2000, true, false), line(0x2000, 0x2000, true, true), line(0x4000, 0x1000, true, true)] };
        let m = check_page_tables(&empty, &lm);
        assert_eq!(m.iter().map(|m| (m.start.0, m.end.0, m.empty_not_shared)).collect::<Vec<_>>(), [(0x8000_0000, 0x8000_2000, true), (0x8000_4000, 0x8000_5000, false)]);
    }

}
