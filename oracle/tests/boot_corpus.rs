//! Boots the harness's corpus scenarios on the real kernel in real QEMU and checks the
//! in-guest ptdump of the linear map.

mod common;

use linux_harness::{BootOutcome, EndAction};
use oracle::boot::boot_scenario;
use oracle::prepare::prepare;
use oracle::linux_side::ptdump::{Ptdump, PtdumpRange};
use rust_impl::granule::Level as PtLevel;

fn linear_map_of(name: &str) -> (linux_harness::Boot, Vec<PtdumpRange>) {
    let p = prepare(&common::scenario(name)).unwrap_or_else(|e| panic!("{e:#}"));
    let boot = boot_scenario(&p, EndAction::Poweroff, false).unwrap();
    assert_eq!(boot.outcome, BootOutcome::Booted, "{}", boot.console);
    let text = boot.ptdump().expect("the console has the in-guest ptdump");
    let dump = Ptdump::parse(&text).unwrap();
    let lm = dump.linear_map().expect("a Linear Mapping section").ranges.clone();
    (boot, lm)
}

#[test]
fn baseline_pte_linear_map_is_all_ptes() {
    let (boot, lm) = linear_map_of("baseline-pte");
    assert!(!boot.cpu_features().iter().any(|f| f == "BBM Level 3"));
    let mapped: Vec<_> = lm.iter().filter(|r| r.is_mapped()).collect();
    assert!(mapped.len() >= 3, "expected several mapped ranges: {lm:?}");
    for r in mapped {
        assert_eq!(r.level, PtLevel::Pte, "non-PTE leaf {r:?}");
        assert!(!r.is_cont() && !r.is_block(), "CONT or block leaf {r:?}");
    }
    // The whole 2 GiB of RAM is mapped (data/bss alias may be present-invalid).
    let mapped_bytes: u64 = lm.iter().filter(|r| r.is_mapped()).map(|r| r.size()).sum();
    assert_eq!(mapped_bytes, 2 << 30);
    assert_eq!(boot.warn_count(), Some(0));
}

#[test]
fn bbml3_linear_map_has_pud_and_cont_pmd_leaves() {
    let (boot, lm) = linear_map_of("bbml3-blocks");
    assert!(boot.cpu_features().iter().any(|f| f == "BBM Level 3"), "{:?}", boot.cpu_features());
    assert!(boot.console.contains("BBM Level 3"));
    assert!(lm.iter().any(|r| r.is_mapped() && r.level == PtLevel::Pud && r.is_block()), "no PUD block: {lm:?}");
    assert!(lm.iter().any(|r| r.level == PtLevel::Pmd && r.is_block() && r.is_cont()), "no CONT PMD: {lm:?}");
    assert!(lm.iter().any(|r| r.level == PtLevel::Pte && r.is_cont()), "no CONT PTE: {lm:?}");
    assert_eq!(boot.warn_count(), Some(0));
}
