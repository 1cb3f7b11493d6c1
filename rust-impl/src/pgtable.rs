//! The environment the page-table code runs in, behind [`PgtableEnv`] (table memory,
//! allocation, barriers, TLB maintenance, WARN reports), the host implementation
//! `HostEnv` that records every event in order, and the descriptor predicates of
//! `asm/pgtable.h` (7.3) that the model uses (`pte_valid`, `pmd_table`, `pud_leaf`, ...).

#[cfg(any(test, feature = "alloc"))]
use alloc::{collections::BTreeMap, vec, vec::Vec};
use core::fmt;

use crate::address::{PhysAddr, VirtAddr};
use crate::descriptor::*;
use crate::errno::Result;
#[cfg(any(test, feature = "alloc"))]
use crate::errno::Errno;
use crate::granule::{Granule, Level};

/// What the page-table code needs from the machine: the kernel's `pgtable_alloc`,
/// `READ_ONCE`/`WRITE_ONCE` on table entries, `dsb(ishst)`, `isb()` and
/// `flush_tlb_kernel_range()`, plus a sink for `WARN()`s.
pub trait PgtableEnv {
    /// Allocates one page-table page (`early_pgtable_alloc` / `__pgd_pgtable_alloc`).
    /// The contents are undefined until [`PgtableEnv::clear_table`]. Fails with
    /// `Errno::ENOMEM` when memory runs out.
    fn alloc_table(&mut self) -> Result<PhysAddr>;
    /// `clear_page()` of a table page of `entries` entries.
    fn clear_table(&mut self, table: PhysAddr, entries: usize) {
        for i in 0..entries {
            self.write_entry(table, i, 0);
        }
    }
    /// `READ_ONCE(table[index])`.
    fn read_entry(&self, table: PhysAddr, index: usize) -> u64;
    /// `WRITE_ONCE(table[index], desc)`.
    fn write_entry(&mut self, table: PhysAddr, index: usize, desc: u64);
    /// `dsb(ishst)`: earlier table writes become visible to the table walker.
    fn dsb_ishst(&mut self);
    /// `isb()`.
    fn isb(&mut self) {}
    /// `flush_tlb_kernel_range(start, end)`.
    fn flush_tlb_kernel_range(&mut self, start: VirtAddr, end: VirtAddr);
    /// A `WARN()` (or `pr_warn("BUG: ...")`) the kernel would print.
    fn warn(&mut self, _warning: Warning) {}
}

/// Which `WARN` fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarnKind {
    /// `WARN_ON(!p?d_set_huge())`: the block rewrite failed `pgattr_change_is_safe` and
    /// the entry was left unchanged.
    SetHugeRefused,
    /// `WARN_ON((phys ^ virt) & ~PAGE_MASK)` in `__create_pgd_mapping_locked`.
    PhysVirtOffset,
    /// `pr_warn("BUG: not updating mapping ... outside kernel range")` in
    /// `update_mapping_prot`.
    OutsideKernelRange,
    /// `WARN_ON(!page_alloc_available)` in `split_kernel_leaf_mapping`: black-out 1.
    /// `va` is `start`.
    SplitBeforePageAlloc,
    /// `WARN_ON(num_online_cpus() > 1)` in `split_kernel_leaf_mapping`: black-out 2.
    /// `va` is `start`, `old` the number of online CPUs.
    SplitWithSecondariesOnline,
    /// `WARN_ON_ONCE(ret)` in `update_range_prot` after a failed split. `va` is
    /// `start`, `old` the negative errno (two's complement).
    UpdateRangeProtSplitFailed,
    /// `WARN_ON_ONCE((next - addr) != P?D_SIZE)` in `pageattr_p?d_entry`: the
    /// attribute walk met a block it only partly covers. `old` is the block, `new`
    /// the span `next - addr` the walk asked for.
    PageattrPartialBlock,
    /// `WARN_ON_ONCE(1)` in `change_memory_common` for an address that is not
    /// page-aligned. `va` is the address as passed.
    ChangeMemoryUnaligned,
    /// `WARN_ON(!PAGE_ALIGNED(addr))` in `set_memory_{en,de}crypted`
    /// (arch/arm64/mm/mem_encrypt.c). `va` is the address.
    MemEncryptUnaligned,
    /// `WARN(ret, "Failed to encrypt memory, %d pages will be leaked")`. `old` is
    /// `numpages`, `new` the negative errno.
    EncryptFailed,
    /// `WARN(ret, "Failed to decrypt memory, %d pages will be leaked")`. `old` is
    /// `numpages`, `new` the negative errno.
    DecryptFailed,
}

impl WarnKind {
    /// Whether the kernel's site is `WARN_ON_ONCE()`: dmesg then shows only the first
    /// occurrence per boot, while the model reports every one.
    pub const fn is_once(self) -> bool {
        matches!(self, WarnKind::UpdateRangeProtSplitFailed | WarnKind::PageattrPartialBlock | WarnKind::ChangeMemoryUnaligned)
    }

    /// Where the kernel's WARN block for this warning comes from: the source file and
    /// the functions its header can name (the function holding the WARN, or one it is
    /// inlined into). `None` for a `pr_warn()`, which prints no WARN block.
    pub const fn kernel_site(self) -> Option<(&'static str, &'static [&'static str])> {
        const MMU: &str = "arch/arm64/mm/mmu.c";
        const PAGEATTR: &str = "arch/arm64/mm/pageattr.c";
        Some(match self {
            WarnKind::SetHugeRefused => (MMU, &["init_pmd", "alloc_init_cont_pmd", "alloc_init_pud", "__create_pgd_mapping_locked"]),
            WarnKind::PhysVirtOffset => (MMU, &["__create_pgd_mapping_locked", "__create_pgd_mapping"]),
            WarnKind::OutsideKernelRange => return None,
            WarnKind::SplitBeforePageAlloc | WarnKind::SplitWithSecondariesOnline => (MMU, &["split_kernel_leaf_mapping"]),
            WarnKind::UpdateRangeProtSplitFailed => (PAGEATTR, &["update_range_prot", "__change_memory_common", "change_memory_common", "__set_memory_enc_dec", "set_memory_valid"]),
            WarnKind::PageattrPartialBlock => (PAGEATTR, &["pageattr_pud_entry", "pageattr_pmd_entry"]),
            WarnKind::ChangeMemoryUnaligned => (PAGEATTR, &["change_memory_common"]),
            WarnKind::MemEncryptUnaligned => ("arch/arm64/mm/mem_encrypt.c", &["set_memory_encrypted", "set_memory_decrypted"]),
            WarnKind::EncryptFailed => (PAGEATTR, &["realm_set_memory_encrypted"]),
            WarnKind::DecryptFailed => (PAGEATTR, &["realm_set_memory_decrypted"]),
        })
    }
}

/// A `WARN` with the address, level and descriptors involved (for `SetHugeRefused`,
/// `old` is the entry kept and `new` the block that was refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Warning {
    pub kind: WarnKind,
    pub va: VirtAddr,
    pub level: Level,
    pub old: u64,
    pub new: u64,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            WarnKind::SetHugeRefused => "block rewrite refused (p?d_set_huge)",
            WarnKind::PhysVirtOffset => "phys and virt differ in page offset",
            WarnKind::OutsideKernelRange => "not updating mapping outside kernel range",
            WarnKind::SplitBeforePageAlloc => "split before page_alloc_available (split_kernel_leaf_mapping)",
            WarnKind::SplitWithSecondariesOnline => "split with secondary CPUs online (split_kernel_leaf_mapping)",
            WarnKind::UpdateRangeProtSplitFailed => "split failed (update_range_prot)",
            WarnKind::PageattrPartialBlock => "walk covers part of a block (pageattr_p?d_entry)",
            WarnKind::ChangeMemoryUnaligned => "address not page-aligned (change_memory_common)",
            WarnKind::MemEncryptUnaligned => "address not page-aligned (set_memory_{en,de}crypted)",
            WarnKind::EncryptFailed => "Failed to encrypt memory, pages will be leaked",
            WarnKind::DecryptFailed => "Failed to decrypt memory, pages will be leaked",
        };
        write!(f, "WARN: {what} at VA {}, level {}: old {:#018x}, new {:#018x}", self.va, self.level, self.old, self.new)
    }
}

// ---------------------------------------------------------------------------------
// Descriptor predicates, mirroring asm/pgtable.h (7.3).

/// `PTE_ADDR_LOW`: the output-address field, bits 49:`PAGE_SHIFT`.
pub const fn pte_addr_low(g: Granule) -> u64 {
    ((1u64 << (50 - g.page_shift())) - 1) << g.page_shift()
}

/// `PTE_ADDR_HIGH` and `PTE_ADDR_HIGH_SHIFT`: where a 52-bit output address keeps bits
/// 51:48 (64K pages, FEAT_LPA: descriptor bits 15:12) or 51:50 (4K and 16K pages with
/// LPA2 enabled, TCR_EL1.DS = 1: bits 9:8, where the shareability field is otherwise).
/// `None` when the descriptor has no such field (4K and 16K pages without LPA2).
pub const fn pte_addr_high(g: Granule, lpa2: bool) -> Option<(u64, u32)> {
    match g {
        Granule::G64K => Some((0xf << 12, 36)),
        _ if lpa2 => Some((0x3 << 8, 42)),
        _ => None,
    }
}

/// Mirrors `__pte_to_phys()` in arch/arm64/include/asm/pgtable.h (7.3). `lpa2` is
/// `lpa2_is_enabled()`: with it, bits 9:8 are address bits 51:50; without it they are
/// `PTE_MAYBE_SHARED`, which the kernel masks off first. With 64K pages bits 15:12 are
/// address bits 51:48 (`CONFIG_ARM64_PA_BITS_52`; RES0 and never set with 48-bit PAs).
pub const fn pte_to_phys(g: Granule, lpa2: bool, desc: u64) -> u64 {
    match pte_addr_high(g, lpa2) {
        Some((high, shift)) => (desc & pte_addr_low(g)) | ((desc & high) << shift),
        None => desc & pte_addr_low(g),
    }
}

/// Mirrors `pte_pfn()` in arch/arm64/include/asm/pgtable.h (7.3).
pub const fn pte_pfn(g: Granule, lpa2: bool, desc: u64) -> u64 {
    pte_to_phys(g, lpa2, desc) >> g.page_shift()
}

/// Mirrors `pfn_pte(__phys_to_pfn(phys), prot)` in arch/arm64/include/asm/pgtable.h (7.3):
/// `__phys_to_pte_val(phys)` folds address bits above 49 into `PTE_ADDR_HIGH`.
pub const fn pfn_pte(g: Granule, lpa2: bool, phys: u64, prot: u64) -> u64 {
    let page = phys & !(g.page_size() - 1);
    let val = match pte_addr_high(g, lpa2) {
        Some((high, shift)) => (page & pte_addr_low(g)) | ((page >> shift) & high),
        None => page,
    };
    val | prot
}

/// Mirrors `mk_pmd_sect_prot()` (and `mk_pud_sect_prot()`) in arch/arm64/include/asm/pgtable.h (7.3).
pub const fn mk_pmd_sect_prot(prot: u64) -> u64 {
    (prot & !PMD_TYPE_MASK) | PMD_TYPE_SECT
}

/// `pte_valid()`.
pub const fn pte_valid(desc: u64) -> bool {
    desc & PTE_VALID != 0
}
/// `pte_present_invalid()`: bit 0 clear, `PTE_PRESENT_INVALID` set.
pub const fn pte_present_invalid(desc: u64) -> bool {
    desc & (PTE_VALID | PTE_PRESENT_INVALID) == PTE_PRESENT_INVALID
}
/// `pte_present()` (also `pmd_present()`, `pud_present()`).
pub const fn pte_present(desc: u64) -> bool {
    pte_valid(desc) || pte_present_invalid(desc)
}
/// `pte_valid_not_user()`: a valid kernel entry (`PTE_VALID` and `PTE_UXN`, no `PTE_USER`).
pub const fn pte_valid_not_user(desc: u64) -> bool {
    desc & (PTE_VALID | PTE_USER | PTE_UXN) == PTE_VALID | PTE_UXN
}
/// `pte_cont()`.
pub const fn pte_cont(desc: u64) -> bool {
    desc & PTE_CONT != 0
}
/// `pmd_none()` (also `pud_none()`, and `p4d_none()` when level 4 is enabled).
pub const fn pmd_none(desc: u64) -> bool {
    desc == 0
}
/// `pmd_table()`.
pub const fn pmd_table(desc: u64) -> bool {
    desc & PMD_TYPE_MASK == PMD_TYPE_TABLE
}
/// `pmd_leaf()`: present and not a table (a present-invalid block is a leaf).
pub const fn pmd_leaf(desc: u64) -> bool {
    pte_present(desc) && !pmd_table(desc)
}
/// `pmd_bad()`.
pub const fn pmd_bad(desc: u64) -> bool {
    !pmd_table(desc)
}
/// `pud_table()`: always true with 64K pages (`CONFIG_ARM64_64K_PAGES`).
pub const fn pud_table(g: Granule, desc: u64) -> bool {
    matches!(g, Granule::G64K) || desc & PUD_TYPE_MASK == PUD_TYPE_TABLE
}
/// `pud_leaf()`.
pub const fn pud_leaf(g: Granule, desc: u64) -> bool {
    pte_present(desc) && !pud_table(g, desc)
}
/// `pud_bad()` (and `p4d_bad()`).
pub const fn pud_bad(desc: u64) -> bool {
    desc & PUD_TYPE_MASK != PUD_TYPE_TABLE
}
/// `pud_sect_supported()`: 1 GiB blocks exist only with 4K pages.
pub const fn pud_sect_supported(g: Granule) -> bool {
    matches!(g, Granule::G4K)
}

// ---------------------------------------------------------------------------------
// The host environment.

/// One thing [`HostEnv`] saw, in order.
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    AllocTable { table: PhysAddr },
    ClearTable { table: PhysAddr },
    Write { table: PhysAddr, index: usize, old: u64, new: u64 },
    DsbIshst,
    Isb,
    FlushTlbKernelRange { start: VirtAddr, end: VirtAddr },
    Warn(Warning),
}

/// A host [`PgtableEnv`]: table pages in a map keyed by PA, bump-allocated upwards from
/// the start of a PA region the caller names, with an optional cap on the number of
/// allocations to force `-ENOMEM`, and an ordered [`Event`] log.
///
/// A new table page is filled with [`HostEnv::POISON`] (memblock memory is not zeroed),
/// so a table used before `clear_page()` shows up. Reading a PA that is not a table
/// this env holds is a model bug and panics.
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Debug)]
pub struct HostEnv {
    granule: Granule,
    tables: BTreeMap<u64, Vec<u64>>,
    next: u64,
    region_end: u64,
    alloc_limit: Option<usize>,
    allocated: usize,
    record_writes: bool,
    events: Vec<Event>,
}

#[cfg(any(test, feature = "alloc"))]
impl HostEnv {
    /// What a freshly allocated table page holds before it is cleared.
    pub const POISON: u64 = 0xa5a5_a5a5_a5a5_a5a5;

    /// Tables are allocated from `[region_base, region_base + region_size)`, which must
    /// be page-aligned.
    pub fn new(granule: Granule, region_base: PhysAddr, region_size: u64) -> HostEnv {
        HostEnv {
            granule,
            tables: BTreeMap::new(),
            next: region_base.0,
            region_end: region_base.0.saturating_add(region_size),
            alloc_limit: None,
            allocated: 0,
            record_writes: true,
            events: Vec::new(),
        }
    }

    /// At most `n` table allocations succeed; the next one returns `-ENOMEM`.
    pub fn with_alloc_limit(mut self, n: usize) -> HostEnv {
        self.alloc_limit = Some(n);
        self
    }

    /// Do not log [`Event::Write`]s (large maps write hundreds of thousands of entries).
    pub fn without_write_log(mut self) -> HostEnv {
        self.record_writes = false;
        self
    }

    pub fn granule(&self) -> Granule {
        self.granule
    }

    /// The events so far, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Returns the events so far and starts a new log.
    pub fn take_events(&mut self) -> Vec<Event> {
        core::mem::take(&mut self.events)
    }

    /// Number of tables allocated.
    pub fn allocated(&self) -> usize {
        self.allocated
    }

    /// The table at `pa`, if this env holds one.
    pub fn table(&self, pa: PhysAddr) -> Option<&[u64]> {
        self.tables.get(&pa.0).map(|t| t.as_slice())
    }

    /// Every table page, by PA.
    pub fn tables(&self) -> impl Iterator<Item = (PhysAddr, &[u64])> {
        self.tables.iter().map(|(pa, t)| (PhysAddr(*pa), t.as_slice()))
    }

    /// The `WARN`s logged so far.
    pub fn warnings(&self) -> impl Iterator<Item = Warning> + '_ {
        self.events.iter().filter_map(|e| match e {
            Event::Warn(w) => Some(*w),
            _ => None,
        })
    }

    fn entries(&self) -> usize {
        self.granule.entries() as usize
    }

    fn table_mut(&mut self, table: PhysAddr) -> &mut Vec<u64> {
        match self.tables.get_mut(&table.0) {
            Some(t) => t,
            None => panic!("HostEnv: {table} is not a table page this env allocated"),
        }
    }
}

#[cfg(any(test, feature = "alloc"))]
impl PgtableEnv for HostEnv {
    fn alloc_table(&mut self) -> Result<PhysAddr> {
        if self.alloc_limit.is_some_and(|n| self.allocated >= n) {
            return Err(Errno::ENOMEM);
        }
        let size = self.granule.page_size();
        let pa = self.next;
        match pa.checked_add(size) {
            Some(end) if end <= self.region_end => self.next = end,
            _ => return Err(Errno::ENOMEM),
        }
        self.allocated += 1;
        self.tables.insert(pa, vec![Self::POISON; self.entries()]);
        self.events.push(Event::AllocTable { table: PhysAddr(pa) });
        Ok(PhysAddr(pa))
    }

    fn clear_table(&mut self, table: PhysAddr, entries: usize) {
        let t = self.table_mut(table);
        let n = entries.min(t.len());
        t[..n].fill(0);
        self.events.push(Event::ClearTable { table });
    }

    fn read_entry(&self, table: PhysAddr, index: usize) -> u64 {
        match self.tables.get(&table.0) {
            Some(t) => t[index],
            None => panic!("HostEnv: read of {table}, which is not a table page this env allocated"),
        }
    }

    fn write_entry(&mut self, table: PhysAddr, index: usize, desc: u64) {
        let record = self.record_writes;
        let slot = &mut self.table_mut(table)[index];
        let old = core::mem::replace(slot, desc);
        if record {
            self.events.push(Event::Write { table, index, old, new: desc });
        }
    }

    fn dsb_ishst(&mut self) {
        self.events.push(Event::DsbIshst);
    }

    fn isb(&mut self) {
        self.events.push(Event::Isb);
    }

    fn flush_tlb_kernel_range(&mut self, start: VirtAddr, end: VirtAddr) {
        self.events.push(Event::FlushTlbKernelRange { start, end });
    }

    fn warn(&mut self, warning: Warning) {
        self.events.push(Event::Warn(warning));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        let block = 0x0060_0000_4020_0705;
        assert!(pmd_leaf(block) && !pmd_table(block) && pmd_bad(block));
        let table = 0x1800_0000_bf00_0403;
        assert!(pmd_table(table) && !pmd_leaf(table));
        // A present-invalid block is still a leaf.
        let invalid = (block & !PTE_VALID) | PTE_PRESENT_INVALID;
        assert!(pmd_leaf(invalid) && !pte_valid(invalid));
        assert!(!pud_leaf(Granule::G64K, block));
        assert!(pud_leaf(Granule::G4K, block));
        assert_eq!(pte_addr_low(Granule::G4K), 0x0003_ffff_ffff_f000);
        assert_eq!(pte_pfn(Granule::G4K, false, block), 0x40200);
        assert_eq!(mk_pmd_sect_prot(0x0703), 0x0701);
    }

    #[test]
    fn host_env_allocates_logs_and_runs_out() {
        let mut env = HostEnv::new(Granule::G4K, PhysAddr(0x8000_0000), 0x2000).with_alloc_limit(5);
        let a = env.alloc_table().unwrap();
        assert_eq!(env.read_entry(a, 7), HostEnv::POISON);
        env.clear_table(a, 512);
        env.write_entry(a, 1, 0x42);
        env.dsb_ishst();
        let b = env.alloc_table().unwrap();
        assert_eq!(b, PhysAddr(0x8000_1000));
        // The region holds two pages.
        assert_eq!(env.alloc_table(), Err(Errno::ENOMEM));
        assert_eq!(
            env.events(),
            &[
                Event::AllocTable { table: a },
                Event::ClearTable { table: a },
                Event::Write { table: a, index: 1, old: 0, new: 0x42 },
                Event::DsbIshst,
                Event::AllocTable { table: b },
            ]
        );
        let mut env = HostEnv::new(Granule::G4K, PhysAddr(0x8000_0000), 1 << 20).with_alloc_limit(1);
        assert!(env.alloc_table().is_ok());
        assert_eq!(env.alloc_table(), Err(Errno::ENOMEM));
    }
}
