//! Test helpers shared by the model's unit tests: example boot inputs, a host `Mmu`,
//! leaf collection and the invariants every built map must keep (translation,
//! well-formed contiguous groups, leaf boundaries).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::address::{PhysAddr, VirtAddr};
use crate::granule::{Granule, Level};
use crate::linear_map::{Leaf, LinearMap, MapLine};
use crate::map_mem::{MapMemInputs, MemblockRegion};
use crate::mmu::Mmu;
use crate::pgtable::HostEnv;
use crate::split::BootState;
use crate::walk::walk_leaves;

/// `memstart_addr` of the examples (DRAM at 1 GiB).
pub const MEMSTART: u64 = 0x4000_0000;
/// Where the host env allocates page tables (outside the example banks).
pub const TABLES: u64 = 0x10_0000_0000;

/// A kernel image layout: `_text`, `__init_begin`, `__init_end`, `__bss_stop` (PAs).
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    pub text: u64,
    pub init_begin: u64,
    pub init_end: u64,
    pub bss_stop: u64,
}

/// The brief's example: 960K of text/rodata at 2M, data/bss crossing the next 2M
/// boundary and ending off a 64K boundary.
pub const LAYOUT_SMALL: Layout = Layout { text: 0x4020_0000, init_begin: 0x402f_0000, init_end: 0x4034_0000, bss_stop: 0x4045_3000 };

/// Text/rodata of 2M + 960K, as in the real 7.3 BBML3 dump ("2M PMD ro" then
/// "960K PTE CONT ro").
pub const LAYOUT_2M_TEXT: Layout = Layout { text: 0x4020_0000, init_begin: 0x404f_0000, init_end: 0x4058_0000, bss_stop: 0x4069_3000 };

/// One 2 GiB bank at 1 GiB.
pub fn bank_2g() -> Vec<MemblockRegion> {
    alloc::vec![MemblockRegion::new(0x4000_0000, 0x8000_0000, 0)]
}

/// `map_mem` inputs with every switch off (docs/map-mem.md#row-c).
pub fn inputs(layout: Layout, memblock: Vec<MemblockRegion>) -> MapMemInputs {
    MapMemInputs {
        memblock,
        text: (PhysAddr(layout.text), PhysAddr(layout.init_begin)),
        data: (PhysAddr(layout.init_end), PhysAddr(layout.bss_stop)),
        kfence_pool: None,
        debug_pagealloc: false,
        rodata_full: false,
        kfence_late: false,
        boot_cpu_bbml3: false,
        realm: false,
    }
}

/// An empty `swapper_pg_dir` for `granule` with 48-bit VAs.
pub fn new_mmu(granule: Granule) -> Mmu<HostEnv> {
    new_mmu_va(granule, 48)
}

pub fn new_mmu_va(granule: Granule, va_bits: u32) -> Mmu<HostEnv> {
    let env = HostEnv::new(granule, PhysAddr(TABLES), 256 << 20);
    Mmu::new(env, granule, va_bits, PhysAddr(MEMSTART)).expect("root table")
}

/// Every leaf with its descriptor, in VA order.
pub fn leaves(mmu: &Mmu<HostEnv>) -> Vec<(Leaf, u64)> {
    let mut out = Vec::new();
    walk_leaves(mmu, mmu.linear_start(), mmu.page_end(), 0, |leaf, desc| out.push((leaf, desc)));
    out
}

/// Every leaf with its descriptor, in VA order, with the realm shared bit
/// `shared_mask` taken out of the output address.
pub fn leaves_shared(mmu: &Mmu<HostEnv>, shared_mask: u64) -> Vec<(Leaf, u64)> {
    let mut out = Vec::new();
    walk_leaves(mmu, mmu.linear_start(), mmu.page_end(), shared_mask, |leaf, desc| out.push((leaf, desc)));
    out
}

/// `map_mem` inputs of a BBML3 boot CPU with `rodata=full` (docs/map-mem.md#row-e and
/// #row-f) on the 2 GiB bank.
pub fn bbml3_inputs(layout: Layout) -> MapMemInputs {
    MapMemInputs { rodata_full: true, boot_cpu_bbml3: true, ..inputs(layout, bank_2g()) }
}

/// `inputs` booted on a fresh 4K/48-bit map by `map_mem`, with the [`BootState`] it
/// leaves (docs/boot-timeline.md#map_mem) and an empty event log.
pub fn boot_at_map_mem(inputs: &MapMemInputs) -> (Mmu<HostEnv>, BootState) {
    let mut mmu = new_mmu(Granule::G4K);
    let requires = crate::map_mem::map_mem(&mut mmu, inputs).expect("map_mem");
    mmu.env.take_events();
    (mmu, BootState::at_map_mem(requires, inputs.policy()))
}

/// A leaf is legal for its level: a PUD block only with 4K pages, type bits 0b01
/// (block) or 0b11 (page) when valid, bit 0 clear with `PTE_PRESENT_INVALID` (and
/// the page's bit 1 kept) when present-invalid, an output address aligned to the leaf,
/// `PTE_CONT` only on PMDs and PTEs.
pub fn check_leaf_legal(mmu: &Mmu<HostEnv>, leaf: &Leaf, desc: u64) {
    use crate::descriptor::{PTE_PRESENT_INVALID, PTE_VALID};
    let ty = desc & 3;
    match leaf.level {
        Level::Pte => assert!(ty == 3 || (ty == 2 && desc & PTE_PRESENT_INVALID != 0), "PTE {leaf:?} desc {desc:#018x}"),
        Level::Pmd => assert!(ty == 1 || (ty == 0 && desc & PTE_PRESENT_INVALID != 0), "PMD {leaf:?} desc {desc:#018x}"),
        Level::Pud => {
            assert_eq!(mmu.granule, Granule::G4K, "PUD block with {:?}", mmu.granule);
            assert!(ty == 1 || (ty == 0 && desc & PTE_PRESENT_INVALID != 0), "PUD {leaf:?} desc {desc:#018x}");
        }
        _ => panic!("leaf at {:?}: {leaf:?}", leaf.level),
    }
    assert_eq!(leaf.valid, desc & PTE_VALID != 0);
    assert_eq!(leaf.pa.0 % leaf.size, 0, "{leaf:?} output address not aligned");
    assert!(!leaf.cont || leaf.level != Level::Pud, "{leaf:?}");
}

/// Every leaf translates VA to `VA - PAGE_OFFSET + memstart`.
pub fn check_translation(mmu: &Mmu<HostEnv>, leaves: &[(Leaf, u64)]) {
    for (leaf, desc) in leaves {
        assert_eq!(leaf.pa, mmu.lm_to_phys(leaf.va), "leaf {leaf:?} (desc {desc:#018x})");
    }
}

/// Every CONT leaf lies in a full, aligned group of CONT leaves of its level whose
/// output addresses continue each other and whose attributes agree.
pub fn check_cont_groups(mmu: &Mmu<HostEnv>, leaves: &[(Leaf, u64)]) {
    let by_va: BTreeMap<u64, &Leaf> = leaves.iter().map(|(l, _)| (l.va.0, l)).collect();
    for (leaf, _) in leaves.iter().filter(|(l, _)| l.cont) {
        let lvl = if leaf.level == Level::Pte { 3 } else { 2 };
        assert!(leaf.level == Level::Pte || leaf.level == Level::Pmd, "CONT at {:?}", leaf.level);
        let group = mmu.cont_size(lvl);
        let first = leaf.va.0 & !(group - 1);
        for k in 0..mmu.granule.cont_entries(lvl) {
            let va = first + k * leaf.size;
            let other = by_va.get(&va).unwrap_or_else(|| panic!("CONT group at {first:#x} misses {va:#x}"));
            assert!(
                other.cont && other.level == leaf.level && other.attrs == leaf.attrs && other.valid == leaf.valid && other.shared == leaf.shared,
                "{other:?} vs {leaf:?}"
            );
            assert_eq!(other.pa.0.wrapping_sub(leaf.pa.0), va.wrapping_sub(leaf.va.0), "CONT group at {first:#x}");
        }
    }
}

/// The VA extent of the translation unit a leaf belongs to (its CONT group if any).
pub fn extent(mmu: &Mmu<HostEnv>, leaf: &Leaf) -> (u64, u64) {
    if leaf.cont {
        let lvl = if leaf.level == Level::Pte { 3 } else { 2 };
        let group = mmu.cont_size(lvl);
        let first = leaf.va.0 & !(group - 1);
        (first, first + group)
    } else {
        (leaf.va.0, leaf.va.0 + leaf.size)
    }
}

/// No block or CONT group straddles `va`.
pub fn check_boundary(mmu: &Mmu<HostEnv>, leaves: &[(Leaf, u64)], va: VirtAddr) {
    for (leaf, _) in leaves {
        let (s, e) = extent(mmu, leaf);
        assert!(!(s < va.0 && va.0 < e), "{leaf:?} straddles {va}");
    }
}

/// The VA ranges covered by valid leaves, merged.
pub fn mapped_ranges(leaves: &[(Leaf, u64)]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (leaf, _) in leaves.iter().filter(|(l, _)| l.valid) {
        let (s, e) = (leaf.va.0, leaf.va.0 + leaf.size);
        match out.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
    out
}

/// An expected line of a map built from `memstart`: offsets from `PAGE_OFFSET`.
pub fn line(mmu: &Mmu<HostEnv>, start: u64, end: u64, level: Level, cont: bool, attrs: u64) -> MapLine {
    let base = mmu.page_offset().0;
    MapLine {
        start: VirtAddr(base + start),
        end: VirtAddr(base + end),
        level,
        cont,
        pa: PhysAddr(MEMSTART + start),
        attrs,
        valid: true,
        shared: false,
    }
}

/// Compares two maps as rendered text, so a failure shows both dumps.
pub fn assert_map_eq(got: &LinearMap, want: &[MapLine]) {
    let want = LinearMap { lines: want.to_vec() };
    assert_eq!(alloc::format!("{got}"), alloc::format!("{want}"));
}

pub const M: u64 = 1 << 20;
pub const G: u64 = 1 << 30;
/// The attributes of a freshly mapped linear-map leaf (`pgprot_tagged(PAGE_KERNEL)`).
pub const RW: u64 = crate::pgtable_prot::PAGE_KERNEL_TAGGED & crate::descriptor::LEAF_ATTR_MASK;

/// The LAYOUT_SMALL map below 6M, which the split and pageattr tests do not touch.
pub fn kernel_lines(mmu: &Mmu<HostEnv>) -> Vec<MapLine> {
    alloc::vec![
        line(mmu, 0, 2 * M, Level::Pmd, false, RW),
        line(mmu, 2 * M, 0x45_0000, Level::Pte, true, RW),
        line(mmu, 0x45_0000, 0x46_0000, Level::Pte, false, RW),
        line(mmu, 0x46_0000, 6 * M, Level::Pte, true, RW),
    ]
}

/// The map as built, with `rest` replacing the lines of `[6M, 2G)`.
pub fn expect(mmu: &Mmu<HostEnv>, rest: &[MapLine]) -> Vec<MapLine> {
    let mut want = kernel_lines(mmu);
    want.extend_from_slice(rest);
    want
}
