//! The walker against the model on the same bytes, in every VA geometry Linux arm64
//! builds: rust-impl maps a bank (blocks, CONT ranges, then a split) into its own
//! tables, the tables are laid out as guest RAM, and the walker must read back exactly
//! the map rust-impl's own walk reports. Plus LPA2's address bits 51:50.

use super::*;
use crate::linux_side::guest_memory::VecMemory;
use rust_impl::address::VirtAddr;
use rust_impl::linear_map::LinearMap;
use rust_impl::mmu::{MapFlags, Mmu};
use rust_impl::pgtable::HostEnv;
use rust_impl::pgtable_prot::PAGE_KERNEL;

const TABLES: u64 = 0x1_0000_0000;
const BANK: (u64, u64) = (0x4000_0000, 0xc000_0000);

/// The model's tables as guest RAM starting at [`TABLES`].
fn as_guest_ram(mmu: &Mmu<HostEnv>) -> VecMemory {
    let page = mmu.granule.page_size() as usize;
    let mut bytes = vec![0u8; mmu.env.allocated() * page];
    for (pa, entries) in mmu.env.tables() {
        let off = (pa.0 - TABLES) as usize;
        for (i, e) in entries.iter().enumerate() {
            bytes[off + i * 8..off + i * 8 + 8].copy_from_slice(&e.to_le_bytes());
        }
    }
    VecMemory { base: PhysAddr(TABLES), bytes }
}

fn walker_map(mmu: &Mmu<HostEnv>) -> LinearMap {
    let mem = as_guest_ram(mmu);
    let cfg = WalkConfig { granule: mmu.granule, va_bits: mmu.va_bits, root: mmu.root, shared_mask: 0 };
    assert_eq!((cfg.page_offset(), cfg.page_end()), (mmu.linear_start(), mmu.page_end()), "{:?} {}-bit: linear region", mmu.granule, mmu.va_bits);
    let visits = walk(&mem, cfg, cfg.page_offset(), cfg.page_end()).unwrap_or_else(|e| panic!("{:?} {}-bit: {e}", mmu.granule, mmu.va_bits));
    LinearMap::from_leaves(leaves(&visits))
}

fn check(granule: Granule, va_bits: u32, kernel_va_bits: u32) {
    let what = format!("{granule:?} {va_bits}-bit (VA_BITS {kernel_va_bits})");
    // arm64_memblock_init() moves memstart_addr when a 52-bit kernel runs with fewer bits.
    let memstart = BANK.0.wrapping_sub(((!0u64) << va_bits).wrapping_sub((!0u64) << kernel_va_bits));
    let env = HostEnv::new(granule, PhysAddr(TABLES), 64 << 20).without_write_log();
    let mut mmu = Mmu::new(env, granule, va_bits, PhysAddr(memstart)).and_then(|m| m.with_kernel_va_bits(kernel_va_bits)).unwrap();
    mmu.map_memblock(PhysAddr(BANK.0), PhysAddr(BANK.1), PAGE_KERNEL, MapFlags::NONE).unwrap();
    // Pages in the middle of the bank: CONT PTE groups and plain PTEs next to blocks.
    let mid = mmu.lm(PhysAddr(BANK.0 + (1 << 30)));
    mmu.range_split_to_ptes(mid, VirtAddr(mid.0 + 3 * granule.page_size())).unwrap();
    let model = rust_impl::walk::linear_map(&mmu, 0);
    assert!(model.lines.len() >= 3, "{what}: {model:?}");
    assert_eq!(walker_map(&mmu), model, "{what}");
}

#[test]
fn the_walker_reads_the_models_tables_in_every_geometry() {
    for (g, va) in [
        (Granule::G4K, 39),
        (Granule::G4K, 48),
        (Granule::G4K, 52),
        (Granule::G16K, 36),
        (Granule::G16K, 47),
        (Granule::G16K, 48),
        (Granule::G16K, 52),
        (Granule::G64K, 42),
        (Granule::G64K, 48),
        (Granule::G64K, 52),
    ] {
        check(g, va, va);
    }
    // 52-bit kernels that dropped to VA_BITS_MIN at boot.
    check(Granule::G4K, 48, 52);
    check(Granule::G16K, 47, 52);
    check(Granule::G64K, 48, 52);
}

#[test]
fn lpa2_address_bits_51_50_are_in_bits_9_8() {
    // A 4K, 52-bit (5-level) walk: root (16 entries) -> P4D -> PUD -> PMD with one
    // block whose output address has bit 50 set.
    let mut bytes = vec![0u8; 5 * 4096];
    let mut set = |table: u64, index: u64, desc: u64| {
        let off = (table * 4096 + index * 8) as usize;
        bytes[off..off + 8].copy_from_slice(&desc.to_le_bytes());
    };
    let pa = |n: u64| TABLES + n * 4096;
    for level in 0..3 {
        set(level, 0, pa(level + 1) | PMD_TYPE_TABLE);
    }
    let block = (1u64 << 50) | 0x4000_0000;
    let desc = (block & ((1 << 50) - 1)) | ((block >> 42) & PTE_SHARED) | PTE_AF | PTE_PXN | PTE_UXN | PMD_TYPE_SECT;
    set(3, 1, desc);
    let mem = VecMemory { base: PhysAddr(TABLES), bytes };
    let cfg = WalkConfig { granule: Granule::G4K, va_bits: 52, root: PhysAddr(TABLES), shared_mask: 0 };
    assert!(cfg.lpa2());
    let l: Vec<Leaf> = leaves(&walk(&mem, cfg, cfg.page_offset(), cfg.page_end()).unwrap()).collect();
    assert_eq!(l.len(), 1);
    assert_eq!((l[0].va.0, l[0].level, l[0].pa.0), (0xfff0_0000_0020_0000, Level::Pmd, block));
    // Bits 9:8 are address, not shareability.
    assert_eq!(l[0].attrs & PTE_SHARED, 0);
}

#[test]
fn all_ones_tables_end_in_an_error_or_a_walk_in_every_geometry() {
    // Every entry 0xffff_ffff_ffff_ffff: a table pointing outside RAM at the upper levels,
    // a page whose LPA2 or 64K address bits are all set at the last one. Never a panic.
    for (g, va) in [(Granule::G4K, 52), (Granule::G16K, 52), (Granule::G64K, 52), (Granule::G64K, 42), (Granule::G16K, 36)] {
        let page = g.page_size() as usize;
        let mem = VecMemory { base: PhysAddr(TABLES), bytes: vec![0xff; 2 * page] };
        let cfg = WalkConfig { granule: g, va_bits: va, root: PhysAddr(TABLES), shared_mask: 0 };
        let _ = walk(&mem, cfg, cfg.page_offset(), cfg.page_end());
        // The last level alone: a table of all-ones pages (the run fast path wraps).
        let last = WalkConfig { root: PhysAddr(TABLES), ..cfg };
        let mut mem2 = VecMemory { base: PhysAddr(TABLES), bytes: vec![0; 2 * page] };
        // Root entry 0 -> the second page, as a table, down to the PTE level.
        mem2.bytes[..8].copy_from_slice(&((TABLES + page as u64) | PMD_TYPE_TABLE).to_le_bytes());
        for b in &mut mem2.bytes[page..] {
            *b = 0xff;
        }
        let _ = walk(&mem2, last, last.page_offset(), last.page_end());
    }
}
