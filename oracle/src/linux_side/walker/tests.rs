//! Walker unit tests on synthetic 4K/48-bit tables: every leaf kind, present-invalid
//! entries, the shared bit, and each error with its message.

use super::*;
use crate::linux_side::guest_memory::VecMemory;
use rust_impl::granule::Level;
use rust_impl::linear_map::LinearMap;

const RAM: u64 = 0x4000_0000;
const PAGE_OFFSET: u64 = 0xffff_0000_0000_0000;
/// PAGE_KERNEL-like leaf attributes: AF, inner shareable, PXN, UXN, DBM, Normal-Tagged.
const KERNEL: u64 = PTE_AF | PTE_SHARED | PTE_PXN | PTE_UXN | PTE_WRITE | (1 << 2);

/// Guest RAM of 64 pages with page tables built in it, bump-allocated.
struct Tables {
    mem: VecMemory,
    next: u64,
    root: u64,
}

impl Tables {
    fn new() -> Self {
        let mut t = Tables { mem: VecMemory { base: PhysAddr(RAM), bytes: vec![0; 64 * 4096] }, next: RAM, root: 0 };
        t.root = t.table();
        t
    }
    fn table(&mut self) -> u64 {
        let pa = self.next;
        self.next += 4096;
        pa
    }
    fn set(&mut self, table: u64, index: u64, desc: u64) {
        let off = (table - RAM + index * 8) as usize;
        self.mem.bytes[off..off + 8].copy_from_slice(&desc.to_le_bytes());
    }
    /// A table descriptor pointing at `next`.
    fn link(&mut self, table: u64, index: u64, next: u64) {
        self.set(table, index, next | PMD_TYPE_TABLE);
    }
    /// Root → PUD table → PMD table for the first GiB of the linear map.
    fn pmd_table(&mut self) -> u64 {
        let (pud, pmd) = (self.table(), self.table());
        self.link(self.root, 0, pud);
        self.link(pud, 0, pmd);
        pmd
    }
    fn cfg(&self) -> WalkConfig {
        WalkConfig { granule: Granule::G4K, va_bits: 48, root: PhysAddr(self.root), shared_mask: 0 }
    }
    fn walk(&self) -> Result<Vec<Visit>, WalkError> {
        let cfg = self.cfg();
        walk(&self.mem, cfg, cfg.page_offset(), cfg.page_end())
    }
    fn leaves(&self) -> Vec<Leaf> {
        leaves(&self.walk().unwrap()).collect()
    }
}

#[test]
fn linear_map_bounds_for_48_bits() {
    let cfg = Tables::new().cfg();
    assert_eq!(cfg.page_offset(), VirtAddr(PAGE_OFFSET));
    assert_eq!(cfg.page_end(), VirtAddr(0xffff_8000_0000_0000));
}

#[test]
fn pud_block() {
    let mut t = Tables::new();
    let pud = t.table();
    t.link(t.root, 0, pud);
    t.set(pud, 1, 0x4000_0000 | KERNEL | PMD_TYPE_SECT);
    let l = t.leaves();
    assert_eq!(l.len(), 1);
    assert_eq!((l[0].va.0, l[0].size, l[0].level, l[0].pa.0), (PAGE_OFFSET + (1 << 30), 1 << 30, Level::Pud, 0x4000_0000));
    assert!(l[0].valid && !l[0].cont && !l[0].shared);
    assert_eq!(l[0].attrs, KERNEL);
}

#[test]
fn cont_pmd_and_pmd_blocks() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    for i in 0..16 {
        t.set(pmd, i, (0x4000_0000 + (i << 21)) | KERNEL | PTE_CONT | PMD_TYPE_SECT);
    }
    t.set(pmd, 16, (0x4000_0000 + (16 << 21)) | KERNEL | PMD_TYPE_SECT);
    let m = LinearMap::from_leaves(t.leaves());
    assert_eq!(m.lines.len(), 2);
    assert_eq!((m.lines[0].level, m.lines[0].cont, m.lines[0].size()), (Level::Pmd, true, 32 << 20));
    assert_eq!((m.lines[1].level, m.lines[1].cont, m.lines[1].size()), (Level::Pmd, false, 2 << 20));
    assert_eq!(m.lines[1].pa.0, 0x4000_0000 + (32 << 20));
}

#[test]
fn cont_pte_and_pte() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    let pte = t.table();
    t.link(pmd, 0, pte);
    for i in 0..17 {
        let cont = if i < 16 { PTE_CONT } else { 0 };
        t.set(pte, i, (0x4020_0000 + (i << 12)) | KERNEL | cont | PMD_TYPE_TABLE);
    }
    let m = LinearMap::from_leaves(t.leaves());
    assert_eq!(m.lines.len(), 2);
    assert_eq!((m.lines[0].level, m.lines[0].cont, m.lines[0].size()), (Level::Pte, true, 64 << 10));
    assert_eq!((m.lines[1].level, m.lines[1].cont, m.lines[1].size()), (Level::Pte, false, 4 << 10));
}

#[test]
fn present_invalid_entries_are_leaves() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    // A present-invalid PMD block: bit 0 clear, PTE_PRESENT_INVALID set, type bits 0b00.
    t.set(pmd, 0, 0x4000_0000 | KERNEL | PTE_PRESENT_INVALID);
    let pte = t.table();
    t.link(pmd, 1, pte);
    // A present-invalid page keeps its page type bit.
    t.set(pte, 0, 0x4020_0000 | KERNEL | PTE_PRESENT_INVALID | PTE_TYPE_BIT);
    // A hole with stray bits is not present.
    t.set(pte, 1, 0x4020_1000 | PTE_AF);
    let visits = t.walk().unwrap();
    let l: Vec<_> = leaves(&visits).collect();
    assert_eq!(l.len(), 2);
    assert_eq!((l[0].level, l[0].valid), (Level::Pmd, false));
    assert_eq!((l[1].level, l[1].valid), (Level::Pte, false));
    assert!(visits.iter().any(|v| matches!(v, Visit::Hole { level: Level::Pte, desc, .. } if *desc == 0x4020_1000 | PTE_AF)));
    let text = LinearMap::from_leaves(l).to_string();
    assert!(text.lines().all(|line| line.contains("INVALID") && !line.contains(" NG")), "{text}");
}

#[test]
fn shared_bit_is_stripped_and_reported() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    let pte = t.table();
    t.link(pmd, 0, pte);
    t.set(pte, 0, (1 << 47) | 0x4020_0000 | KERNEL | PMD_TYPE_TABLE);
    t.set(pte, 1, 0x4020_1000 | KERNEL | PMD_TYPE_TABLE);
    let cfg = WalkConfig { shared_mask: 1 << 47, ..t.cfg() };
    let visits = walk(&t.mem, cfg, cfg.page_offset(), cfg.page_end()).unwrap();
    let l: Vec<_> = leaves(&visits).collect();
    assert_eq!((l[0].pa.0, l[0].shared), (0x4020_0000, true));
    assert_eq!((l[1].pa.0, l[1].shared), (0x4020_1000, false));
    assert!(LinearMap::from_leaves(l).to_string().lines().next().unwrap().ends_with(" shared"));
}

#[test]
fn holes_carry_their_level() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    t.set(pmd, 0, 0x4000_0000 | KERNEL | PMD_TYPE_SECT);
    let visits = t.walk().unwrap();
    // 1 block + 511 empty PMDs + 511 empty PUDs + 255 empty PGD entries in the lower half.
    assert_eq!(visits.len(), 1 + 511 + 511 + 255);
    assert!(matches!(visits.last(), Some(Visit::Hole { level: Level::Pgd, size, .. }) if *size == 1 << 39));
}

fn walk_error(t: &Tables) -> String {
    t.walk().unwrap_err().to_string()
}

#[test]
fn table_outside_ram() {
    let mut t = Tables::new();
    t.link(t.root, 2, 0x1_0000_0000);
    assert_eq!(
        walk_error(&t),
        "VA 0xffff010000000000, level PGD: descriptor 0x0000000100000003: table at 0x0000000100000000 is outside guest RAM"
    );
}

#[test]
fn loop_back_to_root() {
    let mut t = Tables::new();
    let pud = t.table();
    t.link(t.root, 0, pud);
    t.link(pud, 0, t.root);
    let e = t.walk().unwrap_err();
    let (_, level, reason) = e.descriptor().unwrap();
    assert_eq!((level, reason), (Level::Pud, WalkErrorKind::Loop(PhysAddr(RAM))));
    assert!(e.to_string().contains("is one of its own ancestors (loop)"));
}

/// Regression: tables shared between descriptors made the walk visit the product of
/// their entries (256 × 512 × 512 leaves from three pages of RAM: out of memory).
#[test]
fn shared_table_is_refused() {
    let mut t = Tables::new();
    let (pud, pmd) = (t.table(), t.table());
    t.link(t.root, 0, pud);
    t.link(pud, 0, pmd);
    t.link(pud, 1, pmd);
    t.set(pmd, 0, 0x4000_0000 | KERNEL | PMD_TYPE_SECT);
    let e = t.walk().unwrap_err();
    let (va, level, reason) = e.descriptor().unwrap();
    assert_eq!((va, level, reason), (VirtAddr(PAGE_OFFSET + (1 << 30)), Level::Pud, WalkErrorKind::SharedTable(PhysAddr(pmd))));
    assert!(e.to_string().contains("already walked through another descriptor"), "{e}");
}

#[test]
fn block_at_root_is_refused() {
    let mut t = Tables::new();
    t.set(t.root, 0, 0x4000_0000 | KERNEL | PMD_TYPE_SECT);
    assert_eq!(
        walk_error(&t),
        "VA 0xffff000000000000, level PGD: descriptor 0x0068000000000705: block descriptor at a level that has no blocks for this granule"
            .replace("0x0068000000000705", &format!("{:#018x}", 0x4000_0000 | KERNEL | PMD_TYPE_SECT))
    );
}

#[test]
fn reserved_page_encoding() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    let pte = t.table();
    t.link(pmd, 0, pte);
    t.set(pte, 3, 0x4020_3000 | KERNEL | PMD_TYPE_SECT);
    let e = t.walk().unwrap_err();
    assert_eq!(e.descriptor(), Some((VirtAddr(PAGE_OFFSET + 0x3000), Level::Pte, WalkErrorKind::ReservedPage)));
}

#[test]
fn misaligned_block_output() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    t.set(pmd, 0, 0x4000_1000 | KERNEL | PMD_TYPE_SECT);
    let e = t.walk().unwrap_err();
    assert_eq!(e.descriptor().unwrap().2, WalkErrorKind::MisalignedOutput(2 << 20));
    assert!(e.to_string().ends_with("output address has bits set below the 0x200000-byte entry size"));
}

#[test]
fn high_address_bits() {
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    t.set(pmd, 0, (1 << 48) | 0x4000_0000 | KERNEL | PMD_TYPE_SECT);
    assert_eq!(t.walk().unwrap_err().descriptor().unwrap().2, WalkErrorKind::HighAddressBits);
}

#[test]
fn root_outside_ram_and_bad_config() {
    let t = Tables::new();
    let cfg = WalkConfig { root: PhysAddr(0x10), ..t.cfg() };
    let e = walk(&t.mem, cfg, cfg.page_offset(), cfg.page_end()).unwrap_err();
    assert_eq!(e.descriptor().unwrap().2, WalkErrorKind::RootOutsideRam(PhysAddr(0x10)));
    let bad = WalkConfig { va_bits: 60, ..t.cfg() };
    assert_eq!(walk(&t.mem, bad, VirtAddr(PAGE_OFFSET), VirtAddr(PAGE_OFFSET + 1)).unwrap_err(), WalkError::VaBits(60));
    let e = walk(&t.mem, t.cfg(), VirtAddr(0x1000), VirtAddr(0x2000)).unwrap_err();
    assert!(matches!(e, WalkError::Range(..)));
    assert_eq!(e.to_string(), "range 0x0000000000001000..0x0000000000002000 is not inside the TTBR1 half of a 48-bit VA space");
}

#[test]
fn streaming_normaliser_equals_merging_every_visit() {
    // PTE tables with runs broken by an attribute change, a hole, a present-invalid
    // page, a PA jump, a CONT group and a shared page.
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    for table in 0..3u64 {
        let pte = t.table();
        t.link(pmd, table, pte);
        for i in 0..512u64 {
            let pa = 0x4000_0000 + (table << 21) + (i << 12);
            let mut desc = pa | KERNEL | PMD_TYPE_TABLE;
            match i {
                7 => desc |= PTE_RDONLY,
                100 => desc = 0,
                200..=203 => desc = (desc & !PTE_VALID) | PTE_PRESENT_INVALID,
                300 => desc += 1 << 30,
                320..=335 => desc |= PTE_CONT,
                400 => desc |= 1 << 47,
                _ => {}
            }
            t.set(pte, i, desc);
        }
    }
    for shared_mask in [0, 1 << 47] {
        let cfg = WalkConfig { shared_mask, ..t.cfg() };
        let visits = walk(&t.mem, cfg, cfg.page_offset(), cfg.page_end()).unwrap();
        let mut n = Normaliser::default();
        walk_with(&t.mem, cfg, cfg.page_offset(), cfg.page_end(), &mut n).unwrap();
        assert_eq!(n.map, LinearMap::from_leaves(leaves(&visits)));
        assert_eq!(n.leaves, leaves(&visits).count() as u64);
        assert_eq!(n.leaves, 3 * 512 - 3);
    }
}

#[test]
fn runs_do_not_cross_the_shared_bit() {
    // Two pages whose output addresses straddle bit 47: with bit 47 as the shared bit
    // the second is a shared alias of PA 0, not a continuation.
    let mut t = Tables::new();
    let pmd = t.pmd_table();
    let pte = t.table();
    t.link(pmd, 0, pte);
    t.set(pte, 0, ((1 << 47) - 0x1000) | KERNEL | PMD_TYPE_TABLE);
    t.set(pte, 1, (1 << 47) | KERNEL | PMD_TYPE_TABLE);
    let cfg = WalkConfig { shared_mask: 1 << 47, ..t.cfg() };
    let visits = walk(&t.mem, cfg, cfg.page_offset(), cfg.page_end()).unwrap();
    let l: Vec<_> = leaves(&visits).collect();
    assert_eq!((l[1].pa.0, l[1].shared), (0, true));
}

#[test]
fn run_length_counts_exact_continuations() {
    let words = |v: &[u64]| v.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<u8>>();
    let seq: Vec<u64> = (0..20).map(|i| 0x1000 + i * 0x1000).collect();
    assert_eq!(run_length(&words(&seq), 0x1000, 0x1000), 20);
    for broken in [0, 3, 7, 8, 9, 16, 19] {
        let mut v = seq.clone();
        v[broken] ^= 1 << 7;
        assert_eq!(run_length(&words(&v), 0x1000, 0x1000), broken as u64, "broken at {broken}");
    }
    assert_eq!(run_length(&[], 0, 0x1000), 0);
}
