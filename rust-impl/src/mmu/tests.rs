//! Unit tests of the page-table builder: `pgattr_change_is_safe`, the CONT and block
//! decisions over existing entries, table descriptors, and every BUG / WARN / errno path.

use super::*;
use crate::pgtable::{Event, HostEnv};
use crate::testutil::*;

const PO: u64 = 0xffff_0000_0000_0000;

fn mmu() -> Mmu<HostEnv> {
    new_mmu(Granule::G4K)
}

/// Maps PA `MEMSTART + off .. + size` at its linear address.
fn map(mmu: &mut Mmu<HostEnv>, off: u64, size: u64, prot: u64, flags: MapFlags) -> Result<()> {
    mmu.create_pgd_mapping(PhysAddr(MEMSTART + off), VirtAddr(PO + off), size, prot, true, flags)
}

fn at(mmu: &Mmu<HostEnv>, off: u64) -> Lookup {
    mmu.lookup(VirtAddr(PO + off)).unwrap()
}

#[test]
fn pgattr_change_is_safe_cases() {
    let g = Granule::G4K;
    let page = 0x4020_0000 | PAGE_KERNEL_TAGGED;
    // Creating and tearing down.
    assert!(pgattr_change_is_safe(g, 0, page));
    assert!(pgattr_change_is_safe(g, page, 0));
    assert!(pgattr_change_is_safe(g, page, (page & !PTE_VALID) | PTE_PRESENT_INVALID));
    // Permission changes, including Normal-Tagged -> Normal.
    assert!(pgattr_change_is_safe(g, page, 0x4020_0000 | PAGE_KERNEL_RO));
    assert!(pgattr_change_is_safe(g, page, page | PTE_NG));
    // Not allowed: new pfn, nG -> global, CONT, AF, device memory, UXN.
    assert!(!pgattr_change_is_safe(g, page, page + 0x1000));
    assert!(!pgattr_change_is_safe(g, page | PTE_NG, page));
    assert!(!pgattr_change_is_safe(g, page, page | PTE_CONT));
    assert!(!pgattr_change_is_safe(g, page, page & !PTE_AF));
    assert!(!pgattr_change_is_safe(g, page, (page & !PTE_ATTRINDX_MASK) | PTE_ATTRINDX(MT_DEVICE_nGnRE)));
    assert!(!pgattr_change_is_safe(g, page, page & !PTE_UXN));
    // A block over a table (different type bits and address).
    assert!(!pgattr_change_is_safe(g, 0x10_0000_0000 | 3, 0x4000_0000 | mk_pmd_sect_prot(PAGE_KERNEL)));
}

#[test]
fn addr_end_wraps_like_the_kernel() {
    assert_eq!(addr_end(0x1000, 0x5000, 0x2000), 0x2000);
    assert_eq!(addr_end(0x1000, 0x1800, 0x2000), 0x1800);
    // The top of the address space: the boundary wraps to 0 and `end - 1` compares.
    assert_eq!(addr_end(0xffff_ffff_ffe0_0000, 0, 0x20_0000), 0);
}

#[test]
fn geometry() {
    // Other geometries: tests_geometry.rs.
    let m = mmu();
    assert_eq!(m.page_offset(), VirtAddr(PO));
    assert_eq!(m.page_end(), VirtAddr(0xffff_8000_0000_0000));
    assert_eq!(m.lm(PhysAddr(0x4020_0000)), VirtAddr(PO + 0x20_0000));
    assert_eq!(m.lm_to_phys(VirtAddr(PO + 0x20_0000)), PhysAddr(0x4020_0000));
    assert_eq!(m.index(0, PO), 0);
    assert_eq!(m.index(0, 0xffff_8000_0000_0000), 256);
    assert_eq!(m.cont_size(2), 32 << 20);
}

#[test]
fn table_descriptors_follow_no_exec() {
    for (flags, pxn) in [(MapFlags::NO_EXEC_MAPPINGS, PMD_TABLE_PXN), (MapFlags::NONE, 0)] {
        let mut m = mmu();
        map(&mut m, 0x1000, 0x1000, PAGE_KERNEL_TAGGED, flags).unwrap();
        let mut table = m.root;
        for lvl in 0..3 {
            let desc = m.read(m.entry_ref(table, lvl, PO + 0x1000));
            assert_eq!(desc & !pte_addr_low(Granule::G4K), PUD_TYPE_TABLE | PMD_TABLE_UXN | PMD_TABLE_AF | pxn, "level {lvl}");
            table = m.table_addr(desc);
        }
        let pte = at(&m, 0x1000);
        assert_eq!((pte.level, pte.desc), (Level::Pte, 0x4000_1000 | PAGE_KERNEL_TAGGED));
    }
}

#[test]
fn cont_pte_not_over_live_plain_ptes() {
    let mut m = mmu();
    // One plain page, then its whole 64K group: the group stays non-CONT.
    map(&mut m, 0x3000, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    map(&mut m, 0, 0x10000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    assert!((0..16).all(|i| !pte_cont(at(&m, i * 0x1000).desc)));
    // The next group, empty, gets CONT; present-invalid entries do not stop it.
    let invalid = ((MEMSTART + 0x1_0000) | PAGE_KERNEL_TAGGED) & !PTE_VALID | PTE_PRESENT_INVALID;
    let slot = at(&m, 0).entry.add(16);
    m.env.write_entry(slot.table, slot.index, invalid);
    map(&mut m, 0x1_0000, 0x1_0000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    assert!((16..32).all(|i| pte_cont(at(&m, i * 0x1000).desc) && pte_valid(at(&m, i * 0x1000).desc)));
}

#[test]
fn cont_pmd_not_over_a_table() {
    let mut m = mmu();
    map(&mut m, 0x40_0000, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    map(&mut m, 0, 64 << 20, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    assert_eq!(at(&m, 0x40_0000).level, Level::Pte);
    assert!(at(&m, 0).level == Level::Pmd && !pte_cont(at(&m, 0).desc));
    assert!(at(&m, 32 << 20).level == Level::Pmd && pte_cont(at(&m, 32 << 20).desc));
    // NO_BLOCK_MAPPINGS alone still allows CONT PTEs.
    let mut m = mmu();
    map(&mut m, 0, 2 << 20, PAGE_KERNEL_TAGGED, MapFlags::NO_BLOCK_MAPPINGS).unwrap();
    assert!(at(&m, 0).level == Level::Pte && pte_cont(at(&m, 0).desc));
}

#[test]
fn unsafe_pte_rewrite_is_a_bug() {
    let mut m = mmu();
    map(&mut m, 0x20_0000, 0x1_0000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    assert!(pte_cont(at(&m, 0x20_0000).desc));
    // A single page of the group: not CONT-aligned, so written without CONT.
    let old = at(&m, 0x20_0000).desc;
    let err = map(&mut m, 0x20_0000, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap_err();
    let bug = Bug { kind: BugKind::PgattrChangeUnsafe, va: VirtAddr(PO + 0x20_0000), level: Level::Pte, old, new: old & !PTE_CONT };
    assert_eq!(err, Errno::BUG(bug));
    assert_eq!(err.to_errno(), None);
}

#[test]
fn unsafe_block_rewrite_is_refused_with_a_warning() {
    let mut m = mmu();
    map(&mut m, 0x20_0000, 2 << 20, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    let old = at(&m, 0x20_0000).desc;
    // The same VA to another PA: p?d_set_huge() refuses, the entry stays.
    m.create_pgd_mapping(PhysAddr(0x9000_0000), VirtAddr(PO + 0x20_0000), 2 << 20, PAGE_KERNEL_TAGGED, true, MapFlags::NONE).unwrap();
    assert_eq!(at(&m, 0x20_0000).desc, old);
    let warnings: alloc::vec::Vec<_> = m.env.warnings().collect();
    let new = 0x9000_0000 | mk_pmd_sect_prot(PAGE_KERNEL_TAGGED);
    assert_eq!(warnings, [Warning { kind: WarnKind::SetHugeRefused, va: VirtAddr(PO + 0x20_0000), level: Level::Pmd, old, new }]);
    // A permission change goes through.
    map(&mut m, 0x20_0000, 2 << 20, PAGE_KERNEL_RO, MapFlags::NONE).unwrap();
    assert_eq!(at(&m, 0x20_0000).desc, 0x4020_0000 | mk_pmd_sect_prot(PAGE_KERNEL_RO));
}

#[test]
fn leaf_in_the_way_is_a_bug() {
    let mut m = mmu();
    map(&mut m, 0x20_0000, 2 << 20, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    let block = at(&m, 0x20_0000).desc;
    let err = map(&mut m, 0x20_1000, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap_err();
    assert_eq!(err, Errno::BUG(Bug { kind: BugKind::LeafInTheWay, va: VirtAddr(PO + 0x20_1000), level: Level::Pmd, old: block, new: block }));
    // A present-invalid block is in the way too.
    let slot = at(&m, 0x20_0000).entry;
    m.env.write_entry(slot.table, slot.index, (block & !PTE_VALID) | PTE_PRESENT_INVALID);
    assert!(matches!(map(&mut m, 0x20_1000, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE), Err(Errno::BUG(Bug { kind: BugKind::LeafInTheWay, .. }))));
}

#[test]
fn bad_table_is_a_bug() {
    let mut m = mmu();
    map(&mut m, 0, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    // A non-present, non-zero PMD where a table is needed.
    let pmd = at(&m, 0x20_0000).entry;
    m.env.write_entry(pmd.table, pmd.index, 0x4);
    let err = map(&mut m, 0x20_1000, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap_err();
    assert!(matches!(err, Errno::BUG(Bug { kind: BugKind::BadTable, level: Level::Pmd, old: 0x4, .. })), "{err}");
}

#[test]
fn update_mapping_prot_allocates_nothing() {
    let mut m = mmu();
    map(&mut m, 0, 0x1000, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    // No PTE table for the next 2M: NULL pgtable_alloc is a BUG.
    let err = m.update_mapping_prot(PhysAddr(MEMSTART + 0x20_0000), VirtAddr(PO + 0x20_0000), 0x1000, PAGE_KERNEL_RO).unwrap_err();
    assert!(matches!(err, Errno::BUG(Bug { kind: BugKind::NoPgtableAlloc, level: Level::Pmd, .. })), "{err}");
    // Below PAGE_OFFSET: a warning, nothing done.
    m.env.take_events();
    m.update_mapping_prot(PhysAddr(MEMSTART), VirtAddr(0xffff_ffc0_0000_0000 - (1 << 60)), 0x1000, PAGE_KERNEL_RO).unwrap();
    assert!(matches!(m.env.events(), [Event::Warn(Warning { kind: WarnKind::OutsideKernelRange, .. })]));
}

#[test]
fn bad_arguments() {
    let mut m = mmu();
    let r = m.create_pgd_mapping(PhysAddr(MEMSTART + 0x800), VirtAddr(PO), 0x1000, PAGE_KERNEL, true, MapFlags::NONE);
    assert_eq!(r, Err(Errno::EINVAL));
    assert!(matches!(m.env.events().last(), Some(Event::Warn(Warning { kind: WarnKind::PhysVirtOffset, .. }))));
    let r = m.create_pgd_mapping(PhysAddr(MEMSTART), VirtAddr(PO), 0, PAGE_KERNEL, true, MapFlags::NONE);
    assert!(matches!(r, Err(Errno::BUG(Bug { kind: BugKind::EmptyRange, .. }))));
    let r = m.create_pgd_mapping(PhysAddr(MEMSTART), VirtAddr(0x1000), 0x1000, PAGE_KERNEL, true, MapFlags::NONE);
    assert!(matches!(r, Err(Errno::BUG(Bug { kind: BugKind::OutsideTtbr1, .. }))));
    // Unaligned ends are rounded out to pages, as in the kernel.
    m.create_pgd_mapping(PhysAddr(MEMSTART + 0x10), VirtAddr(PO + 0x10), 0x1000, PAGE_KERNEL, true, MapFlags::NONE).unwrap();
    assert!(pte_valid(at(&m, 0x1000).desc) && !pte_valid(at(&m, 0x2000).desc));
}

#[test]
fn walk_reports_present_invalid_leaves() {
    let mut m = mmu();
    map(&mut m, 0, 4 << 20, PAGE_KERNEL_TAGGED, MapFlags::NONE).unwrap();
    let slot = at(&m, 0x20_0000).entry;
    let block = m.read(slot);
    m.env.write_entry(slot.table, slot.index, (block & !PTE_VALID) | PTE_PRESENT_INVALID);
    let lines = crate::walk::linear_map(&m, 0).lines;
    assert_eq!(lines.len(), 2);
    assert!(lines[0].valid && !lines[1].valid);
    assert_eq!(lines[1].start, VirtAddr(PO + 0x20_0000));
    assert_eq!(lines[1].level, Level::Pmd);
    // The shared bit comes out of the output address.
    let shared = 1 << 47;
    m.env.write_entry(slot.table, slot.index, block | shared);
    let lines = crate::walk::linear_map(&m, shared).lines;
    assert!(lines[1].shared && lines[1].pa == PhysAddr(MEMSTART + 0x20_0000));
}
