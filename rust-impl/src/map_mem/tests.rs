//! Tests of `map_mem` and `mark_linear_text_alias_ro` on the example boots: granularity
//! per decision-table row, exact normalised maps, NOMAP rounding, -ENOMEM, and the
//! order of barriers in the event log.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::*;
use crate::address::VirtAddr;
use crate::descriptor::*;
use crate::granule::{Granule, Level};
use crate::pgtable::{pmd_table, pte_valid, Event, HostEnv};
use crate::pgtable_prot::{PAGE_KERNEL_RO, PAGE_KERNEL_TAGGED};
use crate::testutil::*;
use crate::walk::linear_map;

const RW: u64 = PAGE_KERNEL_TAGGED & LEAF_ATTR_MASK;
const RO: u64 = PAGE_KERNEL_RO & LEAF_ATTR_MASK;

fn bbml3_rodata_full(layout: Layout) -> MapMemInputs {
    MapMemInputs { rodata_full: true, boot_cpu_bbml3: true, ..inputs(layout, bank_2g()) }
}

/// Boots `inputs` on a fresh 4K/48-bit `swapper_pg_dir`.
fn boot(inputs: &MapMemInputs) -> (Mmu<HostEnv>, bool) {
    let mut mmu = new_mmu(Granule::G4K);
    let requires = map_mem(&mut mmu, inputs).expect("map_mem");
    (mmu, requires)
}

fn check_kernel_boundaries(mmu: &Mmu<HostEnv>, leaves: &[(crate::linear_map::Leaf, u64)], layout: Layout) {
    // The mapping calls round the end up to a page (PAGE_ALIGN).
    let page = mmu.granule.page_size();
    for pa in [layout.text, layout.init_begin, layout.init_end, layout.bss_stop] {
        check_boundary(mmu, leaves, mmu.lm(PhysAddr(pa.next_multiple_of(page))));
    }
}

// (a) force_pte_mapping(): every leaf is a plain PTE.
#[test]
fn force_pte_mapping_gives_plain_ptes() {
    // docs/map-mem.md#row-a (debug_pagealloc, even on a BBML3 CPU) and #row-b (no BBML3,
    // rodata=full).
    let row_a = MapMemInputs { debug_pagealloc: true, boot_cpu_bbml3: true, rodata_full: true, ..inputs(LAYOUT_SMALL, bank_2g()) };
    let row_b = MapMemInputs { rodata_full: true, ..inputs(LAYOUT_SMALL, bank_2g()) };
    for inputs in [row_a, row_b] {
        let mut mmu = Mmu::new(HostEnv::new(Granule::G4K, PhysAddr(TABLES), 64 << 20).without_write_log(), Granule::G4K, 48, PhysAddr(MEMSTART)).unwrap();
        assert!(inputs.force_pte_mapping());
        assert!(!map_mem(&mut mmu, &inputs).unwrap());
        let leaves = leaves(&mmu);
        assert_eq!(leaves.len(), (2 << 30) / 4096);
        assert!(leaves.iter().all(|(l, _)| l.level == Level::Pte && !l.cont && l.valid && l.attrs == RW));
        check_translation(&mmu, &leaves);
        let base = mmu.page_offset().0;
        assert_eq!(mapped_ranges(&leaves), [(base, base + (2 << 30))]);
        let map = linear_map(&mmu, 0);
        assert_map_eq(&map, &[line(&mmu, 0, 2 << 30, Level::Pte, false, RW)]);
        // mark_linear_text_alias_ro keeps the granularity.
        mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
        let map = linear_map(&mmu, 0);
        assert_map_eq(
            &map,
            &[
                line(&mmu, 0, 0x20_0000, Level::Pte, false, RW),
                line(&mmu, 0x20_0000, 0x2f_0000, Level::Pte, false, RO),
                line(&mmu, 0x2f_0000, 2 << 30, Level::Pte, false, RW),
            ],
        );
    }
}

// (b) A BBML3 boot CPU with rodata=full: blocks and contiguous ranges, cut at the
// kernel alias boundaries.
#[test]
fn bbml3_blocks_and_cont_around_the_kernel() {
    let inputs = bbml3_rodata_full(LAYOUT_SMALL);
    let (mut mmu, requires) = boot(&inputs);
    assert!(requires);
    let leaves = leaves(&mmu);
    check_translation(&mmu, &leaves);
    check_cont_groups(&mmu, &leaves);
    check_kernel_boundaries(&mmu, &leaves, LAYOUT_SMALL);
    assert_map_eq(
        &linear_map(&mmu, 0),
        &[
            // CONT_PMD group 0 holds the kernel's PTE tables: no CONT there.
            line(&mmu, 0, 0x20_0000, Level::Pmd, false, RW),
            line(&mmu, 0x20_0000, 0x45_0000, Level::Pte, true, RW),
            // The 64K group holding __bss_stop already had plain PTEs.
            line(&mmu, 0x45_0000, 0x46_0000, Level::Pte, false, RW),
            line(&mmu, 0x46_0000, 0x60_0000, Level::Pte, true, RW),
            line(&mmu, 0x60_0000, 0x200_0000, Level::Pmd, false, RW),
            line(&mmu, 0x200_0000, 0x4000_0000, Level::Pmd, true, RW),
            line(&mmu, 0x4000_0000, 0x8000_0000, Level::Pud, false, RW),
        ],
    );

    mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
    let leaves = self::leaves(&mmu);
    check_translation(&mmu, &leaves);
    check_cont_groups(&mmu, &leaves);
    check_kernel_boundaries(&mmu, &leaves, LAYOUT_SMALL);
    assert_map_eq(
        &linear_map(&mmu, 0),
        &[
            line(&mmu, 0, 0x20_0000, Level::Pmd, false, RW),
            line(&mmu, 0x20_0000, 0x2f_0000, Level::Pte, true, RO),
            line(&mmu, 0x2f_0000, 0x45_0000, Level::Pte, true, RW),
            line(&mmu, 0x45_0000, 0x46_0000, Level::Pte, false, RW),
            line(&mmu, 0x46_0000, 0x60_0000, Level::Pte, true, RW),
            line(&mmu, 0x60_0000, 0x200_0000, Level::Pmd, false, RW),
            line(&mmu, 0x200_0000, 0x4000_0000, Level::Pmd, true, RW),
            line(&mmu, 0x4000_0000, 0x8000_0000, Level::Pud, false, RW),
        ],
    );
    assert_eq!(mmu.env.warnings().count(), 0);
}

// The real 7.3 BBML3 dump: "2M PMD ro" at _text, then "960K PTE CONT ro".
#[test]
fn bbml3_text_alias_keeps_block_and_cont_when_made_ro() {
    let inputs = bbml3_rodata_full(LAYOUT_2M_TEXT);
    let (mut mmu, _) = boot(&inputs);
    mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
    let leaves = leaves(&mmu);
    check_translation(&mmu, &leaves);
    check_cont_groups(&mmu, &leaves);
    check_kernel_boundaries(&mmu, &leaves, LAYOUT_2M_TEXT);
    let map = linear_map(&mmu, 0);
    assert_map_eq(
        &map,
        &[
            line(&mmu, 0, 0x20_0000, Level::Pmd, false, RW),
            line(&mmu, 0x20_0000, 0x40_0000, Level::Pmd, false, RO),
            line(&mmu, 0x40_0000, 0x4f_0000, Level::Pte, true, RO),
            line(&mmu, 0x4f_0000, 0x69_0000, Level::Pte, true, RW),
            line(&mmu, 0x69_0000, 0x6a_0000, Level::Pte, false, RW),
            line(&mmu, 0x6a_0000, 0x80_0000, Level::Pte, true, RW),
            line(&mmu, 0x80_0000, 0x200_0000, Level::Pmd, false, RW),
            line(&mmu, 0x200_0000, 0x4000_0000, Level::Pmd, true, RW),
            line(&mmu, 0x4000_0000, 0x8000_0000, Level::Pud, false, RW),
        ],
    );
    let text = alloc::format!("{map}");
    assert!(text.lines().nth(1).unwrap().contains("    2M PMD      pa=0x000040200000 ro NX UXN SHD AF MEM/NORMAL DIRTY"), "{text}");
    assert!(text.lines().nth(2).unwrap().contains("  960K PTE CONT pa=0x000040400000 ro NX UXN SHD AF MEM/NORMAL DIRTY"), "{text}");
}

// The early KFENCE pool is plain PTEs even when everything around it is blocks.
#[test]
fn kfence_pool_is_plain_ptes() {
    let pool = (PhysAddr(0x8000_0000), 2 << 20);
    let inputs = MapMemInputs { kfence_pool: Some(pool), ..bbml3_rodata_full(LAYOUT_SMALL) };
    let (mmu, requires) = boot(&inputs);
    assert!(requires);
    let leaves = leaves(&mmu);
    check_translation(&mmu, &leaves);
    check_cont_groups(&mmu, &leaves);
    let (start, end) = (mmu.lm(pool.0).0, mmu.lm(pool.0).0 + pool.1);
    let in_pool: Vec<_> = leaves.iter().filter(|(l, _)| l.va.0 >= start && l.va.0 < end).collect();
    assert_eq!(in_pool.len(), 512);
    assert!(in_pool.iter().all(|(l, _)| l.level == Level::Pte && !l.cont));
    // The pool's GiB (the second) gets no PUD block, as the kernel's (the first) does
    // not, and the pool's CONT_PMD group gets no CONT.
    assert!(leaves.iter().all(|(l, _)| l.level != Level::Pud));
    let group = |va: u64| va & !((32 << 20) - 1);
    assert!(leaves.iter().filter(|(l, _)| group(l.va.0) == group(start)).all(|(l, _)| !l.cont));
    check_boundary(&mmu, &leaves, VirtAddr(start));
    check_boundary(&mmu, &leaves, VirtAddr(end));
    // Contradictory inputs are refused.
    let bad = MapMemInputs { kfence_late: true, ..inputs };
    assert_eq!(map_mem(&mut new_mmu(Granule::G4K), &bad), Err(Errno::EINVAL));
}

// 7.2 (before 7ace06a01efa): banks as given, rounded outward by the mapping call, so
// the pages holding the ends of a NOMAP range that is not page-aligned are mapped.
#[test]
fn seven_two_maps_the_pages_at_the_ends_of_a_nomap_range() {
    let memblock = alloc::vec![
        MemblockRegion::new(0x4000_0000, 0x1000_0800, 0),
        MemblockRegion::new(0x5000_0800, 0x1000, MEMBLOCK_NOMAP),
        MemblockRegion::new(0x5000_1800, 0xc000_0000 - 0x5000_1800, 0),
    ];
    let inputs = MapMemInputs { rodata_full: true, ..inputs(LAYOUT_SMALL, memblock) };
    let mut mmu = new_mmu(Granule::G4K);
    mmu.rules = crate::version::Rules::V7_2;
    map_mem(&mut mmu, &inputs).expect("map_mem");
    let leaves = leaves(&mmu);
    let lm = |pa: u64| mmu.lm(PhysAddr(pa)).0;
    assert_eq!(mapped_ranges(&leaves), [(lm(0x4000_0000), lm(0xc000_0000))], "the carve-out's two pages hold mapped bytes");
}

// (c) Regions are rounded inward: a page holding a NOMAP byte stays unmapped.
#[test]
fn nomap_rounds_inward() {
    let memblock = alloc::vec![
        MemblockRegion::new(0x4000_0000, 0x1000_0800, 0),
        MemblockRegion::new(0x5000_0800, 0x1000, MEMBLOCK_NOMAP),
        MemblockRegion::new(0x5000_1800, 0xc000_0000 - 0x5000_1800, MEMBLOCK_HOTPLUG),
        // Less than a page once rounded inward: skipped.
        MemblockRegion::new(0xc000_0100, 0xe00, 0),
        // A whole NOMAP page.
        MemblockRegion::new(0xc000_1000, 0x1000, MEMBLOCK_NOMAP),
    ];
    for bbml3 in [false, true] {
        let inputs = MapMemInputs { rodata_full: true, boot_cpu_bbml3: bbml3, ..inputs(LAYOUT_SMALL, memblock.clone()) };
        let (mmu, _) = boot(&inputs);
        let leaves = leaves(&mmu);
        check_translation(&mmu, &leaves);
        check_cont_groups(&mmu, &leaves);
        let lm = |pa: u64| mmu.lm(PhysAddr(pa)).0;
        assert_eq!(mapped_ranges(&leaves), [(lm(0x4000_0000), lm(0x5000_0000)), (lm(0x5000_2000), lm(0xc000_0000))]);
        for pa in [0x5000_0000, 0x5000_1000, 0xc000_0000, 0xc000_1000] {
            let l = mmu.lookup(VirtAddr(lm(pa))).unwrap();
            assert!(!pte_valid(l.desc), "{pa:#x} mapped: {l:?}");
        }
        if bbml3 {
            // Blocks elsewhere, PTEs after the hole (before it, the rounded end is
            // 2M-aligned, so a block ends there).
            let at = |pa: u64| mmu.lookup(VirtAddr(lm(pa))).unwrap();
            assert_eq!(at(0x4fff_f000).level, Level::Pmd);
            assert_eq!(at(0x5000_2000).level, Level::Pte);
            assert_eq!(at(0x5100_0000).level, Level::Pmd);
            assert_eq!(at(0x8000_0000).level, Level::Pud);
        }
    }
}

// (d) -ENOMEM from the environment comes back out of map_mem.
#[test]
fn enomem_propagates() {
    let inputs = bbml3_rodata_full(LAYOUT_SMALL);
    // root, PUD table, PMD table, PTE tables for the 2M at 0x40200000 and 0x40400000.
    let mut count = 0;
    for limit in 1..=5 {
        let env = HostEnv::new(Granule::G4K, PhysAddr(TABLES), 64 << 20).with_alloc_limit(limit);
        let mut mmu = Mmu::new(env, Granule::G4K, 48, PhysAddr(MEMSTART)).unwrap();
        let r = map_mem(&mut mmu, &inputs);
        if limit < 5 {
            assert_eq!(r, Err(Errno::ENOMEM), "limit {limit}");
            assert_eq!(Errno::ENOMEM.to_errno(), Some(-12));
        } else {
            assert_eq!(r, Ok(true));
            count = mmu.env.allocated();
        }
    }
    assert_eq!(count, 5);
    // A table region that is too small fails the same way.
    let env = HostEnv::new(Granule::G4K, PhysAddr(TABLES), 3 * 4096);
    let mut mmu = Mmu::new(env, Granule::G4K, 48, PhysAddr(MEMSTART)).unwrap();
    assert_eq!(map_mem(&mut mmu, &inputs), Err(Errno::ENOMEM));
}

// (e) The event log: every table is allocated, cleared, made visible with dsb(ishst)
// and only then linked in; links and blocks are followed by dsb(ishst); isb(); PTE
// writes are made visible (the fixmap clear) before anything else is linked or the
// call returns; mark_linear_text_alias_ro flushes its range last and allocates nothing.
#[test]
fn barriers_before_tables_are_linked() {
    let inputs = bbml3_rodata_full(LAYOUT_SMALL);
    let (mut mmu, _) = boot(&inputs);
    let events = mmu.env.take_events();
    let root = mmu.root;

    let mut level_of: BTreeMap<u64, i32> = BTreeMap::new();
    level_of.insert(root.0, mmu.start_level());
    let mut allocated = BTreeSet::new();
    let mut linked = BTreeSet::new();
    let mut pte_writes_pending = false;
    let (mut links, mut blocks) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        match *e {
            Event::AllocTable { table } => {
                assert!(!pte_writes_pending, "event {i}: PTE writes not yet visible");
                allocated.insert(table.0);
            }
            Event::DsbIshst => pte_writes_pending = false,
            Event::Write { table, new, .. } => {
                let lvl = level_of[&table.0];
                if lvl == 3 {
                    pte_writes_pending = true;
                    continue;
                }
                assert!(!pte_writes_pending, "event {i}: PTE writes not yet visible");
                assert_eq!(&events[i + 1..i + 3], &[Event::DsbIshst, Event::Isb], "event {i}");
                if pte_valid(new) && pmd_table(new) {
                    let t = mmu.table_addr(new);
                    assert!(allocated.contains(&t.0) && linked.insert(t.0), "event {i}");
                    assert_eq!(&events[i - 3..i], &[Event::AllocTable { table: t }, Event::ClearTable { table: t }, Event::DsbIshst], "event {i}");
                    // UXNTable, AF, and PXNTable as map_mem passes NO_EXEC_MAPPINGS.
                    assert_eq!(new, t.0 | PUD_TYPE_TABLE | PMD_TABLE_UXN | PMD_TABLE_AF | PMD_TABLE_PXN);
                    level_of.insert(t.0, lvl + 1);
                    links += 1;
                } else {
                    blocks += 1;
                }
            }
            _ => {}
        }
    }
    assert!(!pte_writes_pending);
    assert_eq!(links, 4);
    assert_eq!(allocated.len(), 5);
    // 1G + 512 2M blocks except the two holding PTE tables.
    assert_eq!(blocks, 1 + 510);

    mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
    let events = mmu.env.take_events();
    assert!(!events.iter().any(|e| matches!(e, Event::AllocTable { .. })));
    let (text, init_begin) = (mmu.lm(inputs.text.0), mmu.lm(inputs.text.1));
    assert_eq!(events.last(), Some(&Event::FlushTlbKernelRange { start: text, end: init_begin }));
    let writes = events.iter().filter(|e| matches!(e, Event::Write { .. })).count();
    assert_eq!(writes, 0xf_0000 / 4096);
    // The PTE writes are visible before the flush.
    assert_eq!(&events[events.len() - 3..events.len() - 1], &[Event::DsbIshst, Event::Isb]);
}

// (f) The three predicates over the rows of docs/map-mem.md#decision-table, and the
// shape of the map.
#[test]
fn decision_table_rows() {
    struct Row {
        name: &'static str,
        dp: bool,
        rf: bool,
        kl: bool,
        b0: bool,
        force_pte: bool,
        can_set: bool,
        requires: bool,
    }
    let rows = [
        Row { name: "A", dp: true, rf: true, kl: false, b0: true, force_pte: true, can_set: true, requires: false },
        Row { name: "A", dp: true, rf: false, kl: false, b0: false, force_pte: true, can_set: true, requires: false },
        Row { name: "B", dp: false, rf: true, kl: false, b0: false, force_pte: true, can_set: true, requires: false },
        Row { name: "B", dp: false, rf: false, kl: true, b0: false, force_pte: true, can_set: true, requires: false },
        Row { name: "C", dp: false, rf: false, kl: false, b0: false, force_pte: false, can_set: false, requires: false },
        Row { name: "D", dp: false, rf: false, kl: false, b0: true, force_pte: false, can_set: false, requires: false },
        // E and F differ only in the secondaries (BA), which map_mem does not see.
        Row { name: "E/F", dp: false, rf: true, kl: false, b0: true, force_pte: false, can_set: true, requires: true },
        Row { name: "E/F", dp: false, rf: false, kl: true, b0: true, force_pte: false, can_set: true, requires: true },
    ];
    for r in rows {
        let inputs = MapMemInputs { debug_pagealloc: r.dp, rodata_full: r.rf, kfence_late: r.kl, boot_cpu_bbml3: r.b0, ..inputs(LAYOUT_SMALL, bank_2g()) };
        assert_eq!(inputs.force_pte_mapping(), r.force_pte, "row {}", r.name);
        assert_eq!(inputs.can_set_direct_map(), r.can_set, "row {}", r.name);
        assert_eq!(inputs.linear_map_requires_bbml3(), r.requires, "row {}", r.name);
        // The reduced form in docs/map-mem.md#predicates: !DP && B0 && (RF || KL).
        assert_eq!(r.requires, !r.dp && r.b0 && (r.rf || r.kl), "row {}", r.name);
        let env = HostEnv::new(Granule::G4K, PhysAddr(TABLES), 64 << 20).without_write_log();
        let mut mmu = Mmu::new(env, Granule::G4K, 48, PhysAddr(MEMSTART)).unwrap();
        assert_eq!(map_mem(&mut mmu, &inputs), Ok(r.requires), "row {}", r.name);
        let lines = linear_map(&mmu, 0).lines;
        let blocks_or_cont = lines.iter().any(|l| l.cont || l.level != Level::Pte);
        assert_eq!(blocks_or_cont, !r.force_pte, "row {}", r.name);
    }
    // A realm would force PTEs on a CPU without BBML3, which is why it matters that
    // is_realm_world() is still false when map_mem runs.
    let policy = DirectMapPolicy { realm: true, ..DirectMapPolicy::default() };
    assert!(policy.force_pte_mapping(false) && policy.can_set_direct_map() && policy.linear_map_requires_bbml3(true));
}

// 16K and 64K pages: no PUD blocks, CONT sizes from the granule.
#[test]
fn other_granules() {
    for (g, pmd, cont_pte, cont_pmd) in [(Granule::G16K, 32u64 << 20, 2u64 << 20, 1u64 << 30), (Granule::G64K, 512 << 20, 2 << 20, 16 << 30)] {
        let layout = LAYOUT_2M_TEXT;
        let inputs = MapMemInputs { rodata_full: true, boot_cpu_bbml3: true, ..inputs(layout, alloc::vec![MemblockRegion::new(0x4000_0000, 0x8000_0000, 0)]) };
        let mut mmu = new_mmu(g);
        assert!(map_mem(&mut mmu, &inputs).unwrap());
        mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
        let leaves = leaves(&mmu);
        check_translation(&mmu, &leaves);
        check_cont_groups(&mmu, &leaves);
        check_kernel_boundaries(&mmu, &leaves, layout);
        assert_eq!(mmu.entry_size(2), pmd);
        assert_eq!(mmu.cont_size(3), cont_pte);
        assert_eq!(mmu.cont_size(2), cont_pmd);
        assert!(leaves.iter().all(|(l, _)| l.level == Level::Pmd || l.level == Level::Pte));
        let base = mmu.page_offset().0;
        assert_eq!(mapped_ranges(&leaves), [(base, base + (2 << 30))]);
        let at = |off: u64| mmu.lookup(VirtAddr(base + off)).unwrap();
        match g {
            Granule::G16K => {
                // The second GiB is one CONT_PMD group; the first holds the kernel's table.
                assert!(at(1 << 30).level == Level::Pmd && crate::pgtable::pte_cont(at(1 << 30).desc));
                assert!(at(64 << 20).level == Level::Pmd && !crate::pgtable::pte_cont(at(64 << 20).desc));
                // The 2M CONT_PTE group at _text is all text: CONT, read-only. The next
                // one holds __init_begin: plain PTEs, read-only up to it.
                assert!(at(0x20_0000).level == Level::Pte && crate::pgtable::pte_cont(at(0x20_0000).desc));
                assert!(at(0x20_0000).desc & PTE_RDONLY != 0);
                assert!(at(0x4e_c000).level == Level::Pte && !crate::pgtable::pte_cont(at(0x4e_c000).desc));
                assert!(at(0x4e_c000).desc & PTE_RDONLY != 0 && at(0x4f_0000).desc & PTE_RDONLY == 0);
                assert!(crate::pgtable::pte_cont(at(0).desc));
            }
            _ => {
                // 512M blocks except where the kernel is; no CONT_PMD (16G groups).
                assert_eq!(at(512 << 20).level, Level::Pmd);
                assert_eq!(at(0).level, Level::Pte);
                assert!(leaves.iter().all(|(l, _)| !(l.cont && l.level == Level::Pmd)));
            }
        }
    }
}

// 4K pages with 39-bit VAs: 3 levels, the PUD folded into swapper_pg_dir.
#[test]
fn three_levels_pud_folded() {
    let mut mmu = new_mmu_va(Granule::G4K, 39);
    assert_eq!(mmu.levels(), 3);
    let inputs = bbml3_rodata_full(LAYOUT_SMALL);
    assert!(map_mem(&mut mmu, &inputs).unwrap());
    let leaves = leaves(&mmu);
    check_translation(&mmu, &leaves);
    check_cont_groups(&mmu, &leaves);
    // The 1G block sits in the root, named PGD as ptdump names it (the PUD is folded:
    // arch/arm64/mm/ptdump.c:199-202).
    let top = mmu.lookup(mmu.lm(PhysAddr(0x8000_0000))).unwrap();
    assert_eq!((top.level, top.entry.table), (Level::Pgd, mmu.root));
    assert_eq!(mmu.level_name(mmu.start_level()), Level::Pgd);
    assert_eq!(mmu.env.allocated(), 4);
}
