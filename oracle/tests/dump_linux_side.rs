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

/// `node   0: [mem 0x...-0x...]` lines of the kernel log: the memory ranges as the
/// kernel reports them at boot (inclusive ends).
fn logged_memory_ranges(console: &str) -> Vec<(u64, u64)> {
    linux_harness::console::lines(console)
        .filter_map(|l| l.trim_start().strip_prefix("node   0: [mem "))
        .filter_map(|r| {
            let (a, b) = r.trim_end_matches(']').split_once('-')?;
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
            Some((hex(a)?, hex(b)? + 1))
        })
        .collect()
}

#[test]
fn memblock_memory_matches_the_kernel_log() {
    let p = prepare(&common::scenario("baseline-pte")).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = dump_scenario(&p).unwrap_or_else(|e| panic!("{e:#}"));
    let regions: Vec<(u64, u64)> = dump.side.memblock_memory.iter().map(|r| (r.base, r.end())).collect();
    let logged = logged_memory_ranges(&dump.console);
    assert!(!logged.is_empty(), "no memory ranges in the kernel log");
    assert_eq!(regions, logged);
    assert!(dump.side.memblock_memory.iter().all(|r| r.flags & oracle::memblock::MEMBLOCK_NOMAP == 0));
    // The swiotlb pool is where the kernel said it mapped it:
    // "software IO TLB: mapped [mem START-END] (2MB)", END being defpool.end itself.
    let pool = dump.side.swiotlb.expect("a swiotlb pool");
    let logged = linux_harness::console::lines(&dump.console)
        .find_map(|l| l.strip_prefix("software IO TLB: mapped [mem "))
        .expect("the kernel logs its swiotlb pool");
    assert_eq!(logged.split(']').next().unwrap(), format!("{:#018x}-{:#018x}", pool.start, pool.end));
    // Every byte of memblock.memory is mapped in the linear map.
    let mapped: u64 = dump.side.linear_map.lines.iter().map(|l| l.size()).sum();
    assert_eq!(mapped, regions.iter().map(|(a, b)| b - a).sum::<u64>());
}

#[test]
fn granule_16k_walk_matches_ptdump() {
    let dump = dump_and_check("pte-16k");
    assert_eq!(dump.side.config.granule, rust_impl::granule::Granule::G16K);
    let lm = &dump.side.linear_map;
    assert!(lm.lines.iter().all(|l| l.level == Level::Pte && !l.cont), "{lm}");
    snapshot("pte-16k", &lm.to_string());
}

#[test]
fn granule_64k_walk_matches_ptdump() {
    let dump = dump_and_check("bbml3-64k");
    assert_eq!(dump.side.config.granule, rust_impl::granule::Granule::G64K);
    let lm = &dump.side.linear_map;
    // 512M PMD blocks and 2M CONT PTE groups; no PUD level with 64K pages.
    assert!(lm.lines.iter().any(|l| l.level == Level::Pmd), "{lm}");
    assert!(lm.lines.iter().any(|l| l.level == Level::Pte && l.cont), "{lm}");
    assert!(lm.lines.iter().all(|l| l.level != Level::Pud), "{lm}");
    snapshot("bbml3-64k", &lm.to_string());
}

#[test]
fn bbml3_checkpoints_are_snapshotted() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let all: Vec<String> = oracle::scenario::CHECKPOINTS.iter().map(|c| c.to_string()).collect();
    let capture = oracle::dump_cmd::capture_checkpoints(&p, &all, false).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(capture.order, all, "checkpoints are hit in timeline order");
    assert!(capture.ptdump_mismatches.is_empty());
    for cp in &all {
        snapshot(&format!("bbml3-blocks.{cp}"), &capture.sides[cp].linear_map.to_string());
    }
}

#[test]
fn a_source_line_checkpoint() {
    // init.c:386 is swiotlb_update_mem_attributes() in mem_init(), right after
    // page_alloc_available = true (Linux 7.3.4).
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let addrs = oracle::dwarf::line_addresses(&p.kernel.vmlinux, "arch/arm64/mm/init.c", 386).unwrap();
    let syms = oracle::symbols::KernelSymbols::load(&p.kernel.vmlinux).unwrap();
    assert!(addrs.iter().all(|a| syms.symbolize(*a).starts_with("mem_init+")), "{:?}", addrs.iter().map(|a| syms.symbolize(*a)).collect::<Vec<_>>());
    assert!(oracle::dwarf::line_addresses(&p.kernel.vmlinux, "arch/arm64/mm/no-such-file.c", 1).unwrap_err().to_string().contains("no code for"));

    let line = "line:arch/arm64/mm/init.c:386".to_string();
    let capture = oracle::dump_cmd::capture_checkpoints(&p, &["after-map-mem".to_string(), line.clone()], false).unwrap();
    assert_eq!(capture.order, vec!["after-map-mem".to_string(), line.clone()]);
    // Outside a realm nothing touches the linear map between the two points.
    assert_eq!(capture.sides["after-map-mem"].linear_map, capture.sides[&line].linear_map);
}
