//! The Linux side read from guest RAM agrees line for line with the kernel's own ptdump
//! of the same paused guest, and says what each configuration makes of the linear map.
//! (Every corpus scenario's dumps are checked against its snapshots by the determinism
//! test, which boots the whole corpus anyway.)

mod common;

use oracle::capture::{capture, capture_checkpoints, Capture, StopPoint};
use oracle::linux_side::LinuxSide;
use oracle::prepare::prepare;
use oracle::timeline::Checkpoint;
use rust_impl::address::PhysAddr;
use rust_impl::granule::Level;

/// The end-of-boot capture of a corpus scenario, checked against the kernel's ptdump.
fn dump_and_check(name: &str) -> (Capture, LinuxSide) {
    let p = prepare(&common::scenario(name)).unwrap_or_else(|e| panic!("{e:#}"));
    let c = capture_checkpoints(&p, &[Checkpoint::EndOfBoot], false).unwrap_or_else(|e| panic!("{e:#}"));
    let check = c.ptdump.as_ref().unwrap();
    let report: Vec<String> = check.mismatches.iter().map(|m| m.to_string()).collect();
    assert!(report.is_empty(), "walker and ptdump disagree:\n{}", report.join("\n"));
    assert!(check.lines >= 3);
    let side = c.side(Checkpoint::EndOfBoot).unwrap().clone();
    // The walk found the kernel where the kernel says it is.
    assert_eq!(side.view.memstart_addr, PhysAddr(0x4000_0000));
    (c, side)
}

#[test]
fn baseline_pte_walk_is_all_ptes() {
    let (_, side) = dump_and_check("baseline-pte");
    let lm = &side.linear_map;
    assert!(lm.lines.iter().all(|l| l.level == Level::Pte && !l.cont), "{lm}");
}

#[test]
fn bbml3_walk_has_blocks() {
    let (_, side) = dump_and_check("bbml3-blocks");
    let lm = &side.linear_map;
    assert!(lm.lines.iter().any(|l| l.level == Level::Pud), "{lm}");
    assert!(lm.lines.iter().any(|l| l.level == Level::Pmd && l.cont), "{lm}");
}

#[test]
fn debug_pagealloc_walk_matches_ptdump() {
    let (_, side) = dump_and_check("debug-pagealloc");
    let lm = &side.linear_map;
    assert!(lm.lines.iter().all(|l| l.level == Level::Pte && !l.cont), "{lm}");
    // Free pages are unmapped by debug_pagealloc: present-invalid PTEs, and exactly the
    // pages the allocator's free lists hold (two readings of the guest that share
    // nothing: the kernel's page tables and its buddy and per-CPU lists). Every free page
    // is unmapped (freed __init pages of the image included); every unmapped page is
    // free, except in the kernel image's linear alias, which 7.3 unmaps by policy.
    use oracle::linux_side::free_pages::{difference, merge};
    let page = 4096;
    let image = [(side.image.text, (side.image.bss_stop.0 - side.image.text.0).div_ceil(page))];
    let invalid = merge(lm.lines.iter().filter(|l| !l.valid).map(|l| (l.pa, l.size() / page)).collect(), page);
    let free = side.free_pages.clone().expect("free pages are read under CONFIG_DEBUG_PAGEALLOC");
    let pages = |r: &[(PhysAddr, u64)]| r.iter().map(|x| x.1).sum::<u64>();
    assert!(pages(&free) > (1 << 30) / page, "a 2 GiB guest at /init has more than 1 GiB free: {} pages", pages(&free));
    assert_eq!(difference(&free, &invalid, page), vec![], "free but mapped ({} free pages in {} ranges)", pages(&free), free.len());
    assert_eq!(difference(&difference(&invalid, &free, page), &image, page), vec![], "unmapped, not free, outside the image");
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
    let (c, side) = dump_and_check("baseline-pte");
    let regions: Vec<(u64, u64)> = side.memblock_memory.iter().map(|r| (r.base.0, r.base.0 + r.size)).collect();
    let logged = logged_memory_ranges(&c.console);
    assert!(!logged.is_empty(), "no memory ranges in the kernel log");
    assert_eq!(regions, logged);
    assert!(side.memblock_memory.iter().all(|r| r.flags & oracle::linux_side::memblock::MEMBLOCK_NOMAP == 0));
    // The swiotlb pool is where the kernel said it mapped it:
    // "software IO TLB: mapped [mem START-END] (2MB)", END being defpool.end itself.
    let pool = side.swiotlb.expect("a swiotlb pool");
    let logged = linux_harness::console::lines(&c.console).find_map(|l| l.strip_prefix("software IO TLB: mapped [mem ")).expect("the kernel logs its swiotlb pool");
    assert_eq!(logged.split(']').next().unwrap(), format!("{}-{}", pool.start, pool.end));
    // Every byte of memblock.memory is mapped in the linear map.
    let mapped: u64 = side.linear_map.lines.iter().map(|l| l.size()).sum();
    assert_eq!(mapped, regions.iter().map(|(a, b)| b - a).sum::<u64>());
}

#[test]
fn granule_16k_walk_matches_ptdump() {
    let (_, side) = dump_and_check("pte-16k");
    assert_eq!(side.config.granule, rust_impl::granule::Granule::G16K);
    let lm = &side.linear_map;
    assert!(lm.lines.iter().all(|l| l.level == Level::Pte && !l.cont), "{lm}");
}

#[test]
fn granule_64k_walk_matches_ptdump() {
    let (_, side) = dump_and_check("bbml3-64k");
    assert_eq!(side.config.granule, rust_impl::granule::Granule::G64K);
    let lm = &side.linear_map;
    // 512M PMD blocks and 2M CONT PTE groups; no PUD level with 64K pages.
    assert!(lm.lines.iter().any(|l| l.level == Level::Pmd), "{lm}");
    assert!(lm.lines.iter().any(|l| l.level == Level::Pte && l.cont), "{lm}");
    assert!(lm.lines.iter().all(|l| l.level != Level::Pud), "{lm}");
}

#[test]
fn every_checkpoint_is_hit_in_timeline_order() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let capture = capture_checkpoints(&p, &Checkpoint::ALL, false).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(capture.checkpoints(), Checkpoint::ALL.to_vec(), "checkpoints are hit in timeline order");
    assert!(capture.ptdump.as_ref().unwrap().mismatches.is_empty());
}

#[test]
fn a_source_line_checkpoint() {
    // init.c:386 is swiotlb_update_mem_attributes() in mem_init(), right after
    // page_alloc_available = true (Linux 7.3.4).
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let addrs = oracle::linux_side::dwarf::line_addresses(&p.kernel.vmlinux, "arch/arm64/mm/init.c", 386).unwrap();
    let syms = &p.kernel_info().unwrap().symbols;
    assert!(addrs.iter().all(|a| syms.symbolize(*a).starts_with("mem_init+")), "{:?}", addrs.iter().map(|a| syms.symbolize(*a)).collect::<Vec<_>>());
    assert!(oracle::linux_side::dwarf::line_addresses(&p.kernel.vmlinux, "arch/arm64/mm/no-such-file.c", 1).unwrap_err().to_string().contains("no code for"));

    let line = StopPoint::parse("line:arch/arm64/mm/init.c:386").unwrap();
    let after_map_mem = StopPoint::Checkpoint(Checkpoint::AfterMapMem);
    let capture = capture(&p, &[after_map_mem.clone(), line.clone()], false).unwrap();
    assert_eq!(capture.order, vec![after_map_mem.clone(), line.clone()]);
    // Outside a realm nothing touches the linear map between the two points.
    assert_eq!(capture.sides[&after_map_mem].linear_map, capture.sides[&line].linear_map);
}

/// KFENCE objects count as protected only in the state whose page 7.3 protects, with
/// the state's value read from the kernel's DWARF: an object of a SLAB_TYPESAFE_BY_RCU
/// cache is RCU_FREEING, its page still mapped, until its grace period ends
/// (mm/kfence/core.c:1254-1256, 599-604). Every object page the reader counts as
/// protected is invalid in the kernel's own tables at end-of-boot.
#[test]
fn kfence_counts_only_the_objects_7_3_protects() {
    use oracle::linux_side::kfence::{OBJECT_STATE, PROTECTED_STATE};
    let p = prepare(&common::scenario("kfence-early")).unwrap_or_else(|e| panic!("{e:#}"));
    let states = oracle::linux_side::dwarf::read_layouts(&p.kernel.vmlinux, &[OBJECT_STATE]).unwrap();
    let states = &states[OBJECT_STATE].members;
    assert_eq!((states["KFENCE_OBJECT_RCU_FREEING"], states[PROTECTED_STATE]), (2, 3), "{states:?}");
    let (_, side) = dump_and_check("kfence-early");
    let pool = side.kfence.as_ref().expect("an early pool");
    assert!(!pool.freed_object_pages.is_empty(), "no object freed by end-of-boot");
    for pa in &pool.freed_object_pages {
        let line = side.linear_map.lines.iter().find(|l| l.pa <= *pa && pa.0 < l.pa.0 + (l.end.0 - l.start.0)).unwrap_or_else(|| panic!("{pa} not in the linear map"));
        assert!(!line.valid, "object page {pa} counted as protected, but the kernel maps it: {line:?}");
    }
}
