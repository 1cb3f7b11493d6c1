//! Every VA geometry Linux arm64 builds (asm/pgtable-hwdef.h, arch/arm64/Kconfig, 7.3):
//! 4K pages with 39, 48 and 52 bits, 16K with 36, 47, 48 and 52, 64K with 42, 48 and 52,
//! and a 52-bit kernel that dropped to `VA_BITS_MIN` at boot. Each is mapped, split and
//! walked by the same code, with the levels folded as the kernel folds them.

use super::*;
use crate::lazy_mmu::LazyMmu;
use crate::pgtable::HostEnv;
use crate::testutil::*;
use crate::walk::walk_leaves;

/// (granule, vabits_actual, levels, root entries).
const GEOMETRIES: [(Granule, u32, u32, usize); 10] = [
    (Granule::G4K, 39, 3, 512),
    (Granule::G4K, 48, 4, 512),
    (Granule::G4K, 52, 5, 16),
    (Granule::G16K, 36, 2, 2048),
    (Granule::G16K, 47, 3, 2048),
    (Granule::G16K, 48, 4, 2),
    (Granule::G16K, 52, 4, 32),
    (Granule::G64K, 42, 2, 8192),
    (Granule::G64K, 48, 3, 64),
    (Granule::G64K, 52, 3, 1024),
];

const BANK: u64 = 2 << 30;

fn mmu_for(granule: Granule, va_bits: u32) -> Mmu<HostEnv> {
    let env = HostEnv::new(granule, PhysAddr(TABLES), 256 << 20);
    Mmu::new(env, granule, va_bits, PhysAddr(MEMSTART)).expect("a geometry Linux builds")
}

fn leaves_of(mmu: &Mmu<HostEnv>) -> alloc::vec::Vec<(Leaf, u64)> {
    let mut out = alloc::vec::Vec::new();
    walk_leaves(mmu, mmu.linear_start(), mmu.page_end(), 0, |leaf, desc| out.push((leaf, desc)));
    out
}

use crate::linear_map::Leaf;

/// The leaves cover the bank exactly, in order, each at its linear address.
fn assert_covers_bank(mmu: &Mmu<HostEnv>, what: &str) -> alloc::vec::Vec<(Leaf, u64)> {
    let leaves = leaves_of(mmu);
    let mut va = mmu.lm(PhysAddr(MEMSTART)).0;
    for (leaf, _) in &leaves {
        assert_eq!(leaf.va.0, va, "{what}: hole or overlap at {:#x}", leaf.va.0);
        assert_eq!(mmu.lm(leaf.pa), leaf.va, "{what}: leaf at {:#x} maps {:#x}", leaf.va.0, leaf.pa.0);
        assert!(leaf.valid, "{what}");
        va += leaf.size;
    }
    assert_eq!(va - mmu.lm(PhysAddr(MEMSTART)).0, BANK, "{what}: the leaves do not end with the bank");
    leaves
}

#[test]
fn every_geometry_maps_splits_and_walks() {
    for (g, va_bits, levels, root_entries) in GEOMETRIES {
        let what = alloc::format!("{g:?} {va_bits}-bit");
        let mut mmu = mmu_for(g, va_bits);
        assert_eq!(mmu.levels(), levels, "{what}");
        assert_eq!(mmu.start_level(), 4 - levels as i32, "{what}");
        assert_eq!(mmu.level_name(mmu.start_level()), Level::Pgd, "{what}");
        // The root resolves exactly the bits above the next level.
        let root_shift = g.level_shift(mmu.start_level());
        assert_eq!(1usize << (va_bits - root_shift), root_entries, "{what}");
        assert_eq!(mmu.lpa2(), va_bits == 52 && g != Granule::G64K, "{what}");

        // Blocks and contiguous ranges where the granule allows them.
        mmu.map_memblock(PhysAddr(MEMSTART), PhysAddr(MEMSTART + BANK), PAGE_KERNEL, MapFlags::NONE).unwrap();
        let leaves = assert_covers_bank(&mmu, &what);
        let biggest = leaves.iter().map(|(l, _)| l.size).max().unwrap();
        let expected_biggest = if g == Granule::G4K { 1 << 30 } else { g.entry_size(2) };
        assert_eq!(biggest, expected_biggest, "{what}: largest block");
        // A block is named as ptdump names it: PMD in a 2-level root, PGD in a 3-level
        // 4K root (the PUD folded), PUD below 4 or 5 levels.
        let biggest_level = leaves.iter().find(|(l, _)| l.size == biggest).unwrap().0.level;
        let expected_level = match (g, levels) {
            (Granule::G4K, 3) => Level::Pgd,
            (Granule::G4K, _) => Level::Pud,
            _ => Level::Pmd,
        };
        assert_eq!(biggest_level, expected_level, "{what}");
        for (leaf, desc) in &leaves {
            // No shareability field with LPA2 (PTE_MAYBE_SHARED is 0); inner shareable otherwise.
            let sh = desc & PTE_SHARED;
            assert_eq!(sh, if mmu.lpa2() { 0 } else { PTE_SHARED }, "{what}: {desc:#x}");
            let looked = mmu.lookup(leaf.va).unwrap();
            assert_eq!((looked.size, looked.level, looked.desc), (leaf.size, leaf.level, *desc), "{what}");
        }

        // A boundary in the middle of the first block: split_kernel_leaf_mapping_locked()
        // goes down through every level, folded or not, to a PTE boundary.
        let first = leaves[0].0;
        let mid = first.va.0 + first.size / 2 + g.page_size();
        LazyMmu::new(&mut mmu).split_kernel_leaf_mapping_locked(mid).unwrap();
        assert_covers_bank(&mmu, &what);
        let at = mmu.lookup(VirtAddr(mid)).unwrap();
        assert_eq!((at.level, at.va.0), (Level::Pte, mid), "{what}: {mid:#x} is not a page boundary");

        // The repaint's walk: everything becomes plain pages.
        mmu.range_split_to_ptes(mmu.linear_start(), mmu.page_end()).unwrap();
        let leaves = assert_covers_bank(&mmu, &what);
        assert!(leaves.iter().all(|(l, d)| l.size == g.page_size() && l.level == Level::Pte && d & PTE_CONT == 0), "{what}: not all plain pages");
    }
}

#[test]
fn a_52_bit_kernel_that_dropped_to_va_bits_min() {
    for (g, actual) in [(Granule::G4K, 48), (Granule::G16K, 47), (Granule::G64K, 48)] {
        let what = alloc::format!("{g:?} 52-bit kernel at {actual} bits");
        // arm64_memblock_init(): memstart_addr -= _PAGE_OFFSET(vabits_actual) - _PAGE_OFFSET(52).
        let memstart = MEMSTART.wrapping_sub(((!0u64) << actual).wrapping_sub((!0u64) << 52));
        let env = HostEnv::new(g, PhysAddr(TABLES), 256 << 20);
        let mut mmu = Mmu::new(env, g, actual, PhysAddr(memstart)).unwrap().with_kernel_va_bits(52).unwrap();
        assert!(!mmu.lpa2(), "{what}");
        assert_eq!(mmu.page_offset(), VirtAddr(0xfff0_0000_0000_0000), "{what}");
        assert_eq!(mmu.linear_start(), VirtAddr((!0u64) << actual), "{what}");
        assert_eq!(mmu.page_end(), VirtAddr((!0u64) << (actual - 1)), "{what}");
        // The bank lands at the bottom of the linear region the tables can translate.
        assert_eq!(mmu.lm(PhysAddr(MEMSTART)), mmu.linear_start(), "{what}");
        mmu.map_memblock(PhysAddr(MEMSTART), PhysAddr(MEMSTART + BANK), PAGE_KERNEL, MapFlags::NONE).unwrap();
        assert_covers_bank(&mmu, &what);
    }
    // Only VA_BITS_MIN is a size a 52-bit kernel drops to.
    let env = HostEnv::new(Granule::G4K, PhysAddr(TABLES), 1 << 20);
    let m = Mmu::new(env, Granule::G4K, 39, PhysAddr(MEMSTART)).unwrap();
    assert_eq!(m.with_kernel_va_bits(52).err(), Some(Errno::EINVAL));
}

#[test]
fn geometries_linux_does_not_build_are_refused() {
    for (g, va_bits) in [(Granule::G4K, 53), (Granule::G4K, 21), (Granule::G64K, 28), (Granule::G16K, 25)] {
        let env = HostEnv::new(g, PhysAddr(TABLES), 1 << 20);
        assert_eq!(Mmu::new(env, g, va_bits, PhysAddr(MEMSTART)).err(), Some(Errno::EINVAL), "{g:?} {va_bits}");
    }
}

#[test]
fn high_output_address_bits() {
    // LPA2: bits 51:50 in descriptor bits 9:8; 64K pages: bits 51:48 in 15:12.
    let pa = 0x000c_0000_4020_0000;
    let d = pfn_pte(Granule::G4K, true, pa, PAGE_KERNEL & !PTE_SHARED);
    assert_eq!(d & PTE_SHARED, PTE_SHARED);
    assert_eq!(pte_to_phys(Granule::G4K, true, d), pa);
    let pa64 = 0x000f_0000_4020_0000 & !0xffff;
    let d = pfn_pte(Granule::G64K, false, pa64, PAGE_KERNEL);
    assert_eq!(d & (0xf << 12), 0xf << 12);
    assert_eq!(pte_to_phys(Granule::G64K, false, d), pa64);
    // Without LPA2 bits 9:8 are shareability, not address.
    assert_eq!(pte_to_phys(Granule::G4K, false, 0x4020_0000 | PAGE_KERNEL), 0x4020_0000);
}

#[test]
fn lpa2_tables_above_2_to_the_50() {
    // Table pages with address bit 50 set: __p?d_populate() encodes it in bits 9:8 as
    // for any output address, and the walk decodes it back (4K and 16K, LPA2).
    for g in [Granule::G4K, Granule::G16K] {
        let env = HostEnv::new(g, PhysAddr((1 << 50) | TABLES), 256 << 20);
        let mut mmu = Mmu::new(env, g, 52, PhysAddr(MEMSTART)).unwrap();
        mmu.map_memblock(PhysAddr(MEMSTART), PhysAddr(MEMSTART + BANK), PAGE_KERNEL, MapFlags::NONE).unwrap();
        let root_entry = mmu.read(mmu.entry_ref(mmu.root, mmu.start_level(), mmu.lm(PhysAddr(MEMSTART)).0));
        assert_eq!(root_entry & PTE_SHARED, 1 << 8, "{g:?}: bit 50 of the table address in bit 8");
        assert_eq!(root_entry & (1 << 50), 0, "{g:?}: bit 50 of the descriptor is GP, not address");
        assert_covers_bank(&mmu, &alloc::format!("{g:?} 52-bit, tables above 2^50"));
    }
}
