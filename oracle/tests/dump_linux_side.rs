//! The Linux side read from guest RAM agrees line for line with the kernel's own ptdump
//! of the same paused guest, and its normalised form is snapshotted per scenario.

mod common;

use oracle::dump_cmd::dump_scenario;
use oracle::prepare::prepare;
use rust_impl::granule::Level;

fn dump_and_check(name: &str) -> oracle::dump_cmd::Dump {
    let p = prepare(&common::scenario(name)).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = dump_scenario(&p).unwrap_or_else(|e| panic!("{e:#}"));
    let report: Vec<String> = dump.ptdump_mismatches.iter().map(|m| m.to_string()).collect();
    assert!(report.is_empty(), "walker and ptdump disagree:\n{}", report.join("\n"));
    assert!(dump.ptdump_lines >= 3);
    // The walk found the kernel where the kernel says it is.
    assert_eq!(dump.side.view.memstart_addr, 0x4000_0000);
    dump
}

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({ snapshot_path => "../../snapshots", prepend_module_to_snapshot => false }, {
        insta::assert_snapshot!(format!("{name}.linux"), text);
    });
}

#[test]
fn baseline_pte_walk_matches_ptdump() {
    let dump = dump_and_check("baseline-pte");
    let lm = &dump.side.linear_map;
    assert!(lm.lines.iter().all(|l| l.level == Level::Pte && !l.cont), "{lm}");
    snapshot("baseline-pte", &lm.to_string());
}

#[test]
fn bbml3_walk_matches_ptdump() {
    let dump = dump_and_check("bbml3-blocks");
    let lm = &dump.side.linear_map;
    assert!(lm.lines.iter().any(|l| l.level == Level::Pud), "{lm}");
    assert!(lm.lines.iter().any(|l| l.level == Level::Pmd && l.cont), "{lm}");
    snapshot("bbml3-blocks", &lm.to_string());
}

#[test]
fn debug_pagealloc_walk_matches_ptdump() {
    let dump = dump_and_check("debug-pagealloc");
    let lm = &dump.side.linear_map;
    assert!(lm.lines.iter().all(|l| l.level == Level::Pte && !l.cont), "{lm}");
    // Free pages are unmapped by debug_pagealloc: present-invalid PTEs.
    assert!(lm.lines.iter().any(|l| !l.valid), "{lm}");
}
