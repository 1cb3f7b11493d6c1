//! The kernel-half page-table builder of arch/arm64/mm/mmu.c (7.3): `__create_pgd_mapping`
//! and its per-level functions, `update_mapping_prot`, `mark_linear_text_alias_ro`, over
//! a [`PgtableEnv`]. Granule and VA size are parameters; 3 and 4 translation levels
//! (VA sizes 36-48 bits, no LPA2) are supported.
//!
//! Table slots are named by [`EntryRef`] (a table PA and an index, the kernel's
//! `p?d_t *`). Folded levels follow the kernel: with 4 levels the P4D is folded into the
//! PGD (level 0); with 3 levels the PUD is folded too, so the "PUD entry" is the root
//! entry at level 1. The PMD is never folded here.
//!
//! The fixmap the kernel maps each table through is not modelled, except for the
//! barriers its `clear_fixmap()` issues: those are what make `__set_pte_nosync()` writes
//! visible to the table walker (see `alloc_init_cont_pte`).

use core::ops::BitOr;

use crate::address::{PhysAddr, VirtAddr};
use crate::descriptor::*;
use crate::errno::{Bug, BugKind, Errno, Result};
use crate::granule::{Granule, Level};
use crate::pgtable::*;
use crate::pgtable_prot::*;
use crate::version::Rules;

/// The `flags` of `__create_pgd_mapping()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MapFlags(pub u32);

impl MapFlags {
    /// No restriction: blocks, contiguous ranges and executable tables allowed.
    pub const NONE: MapFlags = MapFlags(0);
    /// `NO_BLOCK_MAPPINGS`: no PUD or PMD blocks.
    pub const NO_BLOCK_MAPPINGS: MapFlags = MapFlags(1 << 0);
    /// `NO_CONT_MAPPINGS`: no `PTE_CONT`.
    pub const NO_CONT_MAPPINGS: MapFlags = MapFlags(1 << 1);
    /// `NO_EXEC_MAPPINGS`: new table entries get PXNTable.
    pub const NO_EXEC_MAPPINGS: MapFlags = MapFlags(1 << 2);

    pub const fn contains(self, other: MapFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn union(self, other: MapFlags) -> MapFlags {
        MapFlags(self.0 | other.0)
    }
}

impl BitOr for MapFlags {
    type Output = MapFlags;
    fn bitor(self, rhs: MapFlags) -> MapFlags {
        self.union(rhs)
    }
}

/// One table slot: the table page and the index in it (the kernel's `p?d_t *`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EntryRef {
    pub table: PhysAddr,
    pub index: usize,
}

impl EntryRef {
    /// The slot `n` entries further on in the same table (`ptep + n`).
    pub const fn add(self, n: usize) -> EntryRef {
        EntryRef { table: self.table, index: self.index + n }
    }
}

/// Where [`Mmu::lookup`] stopped for a VA: at a leaf or at a non-present entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lookup {
    /// Architectural level 0-3.
    pub arch_level: i32,
    pub level: Level,
    pub entry: EntryRef,
    pub desc: u64,
    /// First VA of the region this entry maps.
    pub va: VirtAddr,
    /// Bytes this one entry maps.
    pub size: u64,
}

/// Mirrors `pgattr_change_is_safe()` in arch/arm64/mm/mmu.c (7.3). Whether a live entry
/// may go from `old` to `new` without break-before-make.
pub const fn pgattr_change_is_safe(g: Granule, old: u64, new: u64) -> bool {
    // Attributes that may change on a live kernel mapping.
    let mut mask = PTE_PXN | PTE_RDONLY | PTE_WRITE | PTE_NG | PTE_SWBITS_MASK;

    // Creating or taking down a mapping is always safe.
    if !pte_valid(old) || !pte_valid(new) {
        return true;
    }
    // A live entry keeps its pfn. (Read without LPA2's bits 51:50: with LPA2 they are
    // descriptor bits 9:8, outside the mask below, so a change there is unsafe anyway.)
    if pte_pfn(g, false, old) != pte_pfn(g, false, new) {
        return false;
    }
    // nG -> global is unsafe.
    if old & !new & PTE_NG != 0 {
        return false;
    }
    // Normal <-> Normal-Tagged is a permission change as far as aliases go.
    const fn normal(desc: u64) -> bool {
        let idx = desc & PTE_ATTRINDX_MASK;
        idx == PTE_ATTRINDX(MT_NORMAL) || idx == PTE_ATTRINDX(MT_NORMAL_TAGGED)
    }
    if normal(old) && normal(new) {
        mask |= PTE_ATTRINDX_MASK;
    }
    (old ^ new) & !mask == 0
}

/// The kernel's `pgd/p4d/pud/pmd_addr_end()`: the end of the `size`-aligned span that
/// starts at `addr`, or `end` if that comes first (wrapping like the C).
pub(crate) const fn addr_end(addr: u64, end: u64, size: u64) -> u64 {
    let boundary = addr.wrapping_add(size) & !(size - 1);
    if boundary.wrapping_sub(1) < end.wrapping_sub(1) {
        boundary
    } else {
        end
    }
}

/// The model of `swapper_pg_dir` and the code that builds it.
#[derive(Clone, Debug)]
pub struct Mmu<E> {
    pub env: E,
    pub granule: Granule,
    /// `vabits_actual`: the VA size the tables are walked with (64 − TCR_EL1.T1SZ).
    /// `VA_BITS` itself unless a 52-bit kernel dropped to `VA_BITS_MIN` at boot.
    pub va_bits: u32,
    /// `VA_BITS` (`CONFIG_ARM64_VA_BITS`), which places `PAGE_OFFSET`.
    pub kernel_va_bits: u32,
    /// `swapper_pg_dir`.
    pub root: PhysAddr,
    /// `memstart_addr` (`PHYS_OFFSET`).
    pub memstart_addr: PhysAddr,
    /// The kernel version whose code this mirrors (7.3 unless set).
    pub rules: Rules,
}

impl<E: PgtableEnv> Mmu<E> {
    /// An empty `swapper_pg_dir` allocated (and cleared) in `env`, for a kernel built
    /// with `VA_BITS` = `va_bits` and running with it (see [`Mmu::with_kernel_va_bits`]
    /// for a 52-bit kernel that dropped to fewer). Fails with `-EINVAL` for a geometry
    /// Linux arm64 does not build (VA sizes outside 36-52 bits, fewer than 2 or more
    /// than 5 levels), or with the env's error.
    pub fn new(mut env: E, granule: Granule, va_bits: u32, memstart_addr: PhysAddr) -> Result<Mmu<E>> {
        Self::check_geometry(granule, va_bits)?;
        let root = env.alloc_table()?;
        env.clear_table(root, granule.entries() as usize);
        Ok(Mmu { env, granule, va_bits, kernel_va_bits: va_bits, root, memstart_addr, rules: Rules::V7_3 })
    }

    /// An `Mmu` over an existing root table.
    pub fn with_root(env: E, granule: Granule, va_bits: u32, root: PhysAddr, memstart_addr: PhysAddr) -> Result<Mmu<E>> {
        Self::check_geometry(granule, va_bits)?;
        Ok(Mmu { env, granule, va_bits, kernel_va_bits: va_bits, root, memstart_addr, rules: Rules::V7_3 })
    }

    /// The same tables for a kernel built with `VA_BITS` = `kernel_va_bits`: equal to
    /// `vabits_actual`, or 52 for a kernel that dropped to `VA_BITS_MIN` on a CPU without
    /// LPA2 (4K, 16K pages) or FEAT_LVA (64K). `-EINVAL` for any other pair.
    pub fn with_kernel_va_bits(mut self, kernel_va_bits: u32) -> Result<Mmu<E>> {
        if !self.granule.runs_with(kernel_va_bits, self.va_bits) {
            return Err(Errno::EINVAL);
        }
        self.kernel_va_bits = kernel_va_bits;
        Ok(self)
    }

    fn check_geometry(granule: Granule, va_bits: u32) -> Result<()> {
        if !(36..=52).contains(&va_bits) || !(2..=5).contains(&granule.levels(va_bits)) || va_bits <= granule.page_shift() + granule.bits_per_level() {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }

    pub fn into_env(self) -> E {
        self.env
    }

    // -----------------------------------------------------------------------------
    // Geometry.

    /// Translation levels in use: `CONFIG_PGTABLE_LEVELS`, less the levels a 52-bit
    /// kernel folds at boot on a CPU without LPA2 (`pgtable_l5_enabled()`,
    /// `pgtable_l4_enabled()`).
    pub fn levels(&self) -> u32 {
        self.granule.levels(self.va_bits)
    }

    /// Architectural level of the root (`swapper_pg_dir`): -1 to 2.
    pub fn start_level(&self) -> i32 {
        self.granule.start_level(self.va_bits)
    }

    /// Whether Linux's level at `arch_level` (0 P4D, 1 PUD, 2 PMD, 3 PTE) has tables
    /// of its own below the root; when not, its entries are the root's (folded).
    pub fn has_own_tables(&self, arch_level: i32) -> bool {
        arch_level > self.start_level()
    }

    /// The architectural level of the entries Linux's level `arch_level` works on: the
    /// level itself, or the root's when it is folded into the root.
    pub fn entry_level(&self, arch_level: i32) -> i32 {
        arch_level.max(self.start_level())
    }

    /// `lpa2_is_enabled()`: 52-bit VAs with 4K or 16K pages (TCR_EL1.DS). Descriptors
    /// then hold address bits 51:50 where the shareability field was, and carry no
    /// shareability (`PTE_MAYBE_SHARED` is 0).
    pub fn lpa2(&self) -> bool {
        self.granule.lpa2(self.va_bits)
    }

    /// The Linux name of architectural level `arch_level`.
    pub fn level_name(&self, arch_level: i32) -> Level {
        self.granule.linux_level(arch_level, self.levels())
    }

    /// Bytes mapped by one entry at `arch_level` (`PGDIR_SIZE`, `PUD_SIZE`, `PMD_SIZE`,
    /// `PAGE_SIZE`).
    pub fn entry_size(&self, arch_level: i32) -> u64 {
        self.granule.entry_size(arch_level)
    }

    /// Bytes of a contiguous group at `arch_level` (`CONT_PMD_SIZE`, `CONT_PTE_SIZE`).
    pub fn cont_size(&self, arch_level: i32) -> u64 {
        self.granule.cont_entries(arch_level) * self.entry_size(arch_level)
    }

    /// `pgd_index()` / `p4d_index()` / `pud_index()` / `pmd_index()` / `pte_index()` of
    /// `va` at `arch_level`.
    pub fn index(&self, arch_level: i32, va: u64) -> usize {
        let shift = self.granule.level_shift(arch_level);
        let bits = if arch_level == self.start_level() { self.va_bits - shift } else { self.granule.bits_per_level() };
        ((va >> shift) & ((1u64 << bits) - 1)) as usize
    }

    /// The slot for `va` in the `arch_level` table at `table`.
    pub fn entry_ref(&self, table: PhysAddr, arch_level: i32, va: u64) -> EntryRef {
        EntryRef { table, index: self.index(arch_level, va) }
    }

    /// The table a table descriptor points to (`p?d_page_paddr()`).
    pub fn table_addr(&self, desc: u64) -> PhysAddr {
        PhysAddr(pte_to_phys(self.granule, self.lpa2(), desc))
    }

    /// The output address of a leaf descriptor (`__pte_to_phys()`).
    pub fn pte_to_phys(&self, desc: u64) -> u64 {
        pte_to_phys(self.granule, self.lpa2(), desc)
    }

    /// `PAGE_OFFSET` (`_PAGE_OFFSET(VA_BITS)`): what `__phys_to_virt()` ORs in.
    pub fn page_offset(&self) -> VirtAddr {
        VirtAddr((!0u64) << self.kernel_va_bits)
    }

    /// `_PAGE_OFFSET(vabits_actual)`: the lowest TTBR1 address and the start of the
    /// linear region (above `PAGE_OFFSET` when a 52-bit kernel dropped to fewer bits).
    pub fn linear_start(&self) -> VirtAddr {
        VirtAddr((!0u64) << self.va_bits)
    }

    /// `PAGE_END` (`_PAGE_END(VA_BITS_MIN)`, no KASAN): end of the linear map.
    pub fn page_end(&self) -> VirtAddr {
        VirtAddr((!0u64) << (self.granule.va_bits_min(self.kernel_va_bits) - 1))
    }

    /// `__phys_to_virt(pa)`: `(pa - PHYS_OFFSET) | PAGE_OFFSET`.
    pub fn lm(&self, pa: PhysAddr) -> VirtAddr {
        VirtAddr(pa.0.wrapping_sub(self.memstart_addr.0) | self.page_offset().0)
    }

    /// `__lm_to_phys(va)`: `(va - PAGE_OFFSET) + PHYS_OFFSET`.
    pub fn lm_to_phys(&self, va: VirtAddr) -> PhysAddr {
        PhysAddr(va.0.wrapping_sub(self.page_offset().0).wrapping_add(self.memstart_addr.0))
    }

    /// `READ_ONCE(*entry)`.
    pub fn read(&self, entry: EntryRef) -> u64 {
        self.env.read_entry(entry.table, entry.index)
    }

    /// Follows the tables for `va` down to a leaf or a non-present entry. Present-invalid
    /// entries are leaves (bits 1:0 = 0b11 only means "table" when valid). `None` when
    /// `va` is outside the TTBR1 half.
    pub fn lookup(&self, va: VirtAddr) -> Option<Lookup> {
        if va.0 < self.linear_start().0 {
            return None;
        }
        let mut table = self.root;
        let mut lvl = self.start_level();
        loop {
            let entry = self.entry_ref(table, lvl, va.0);
            let desc = self.read(entry);
            let size = self.entry_size(lvl);
            // A leaf is named as ptdump names it, an empty entry by its table's level.
            let level = if pte_present(desc) { Level::of_leaf(lvl, self.levels()) } else { self.level_name(lvl) };
            let here = Lookup { arch_level: lvl, level, entry, desc, va: VirtAddr(va.0 & !(size - 1)), size };
            if lvl == 3 || !pte_valid(desc) || !pmd_table(desc) {
                return Some(here);
            }
            table = self.table_addr(desc);
            lvl += 1;
        }
    }

    // -----------------------------------------------------------------------------
    // Small kernel helpers.

    fn bug(&self, kind: BugKind, va: u64, arch_level: i32, old: u64, new: u64) -> Errno {
        Errno::BUG(Bug { kind, va: VirtAddr(va), level: self.level_name(arch_level), old, new })
    }

    /// Mirrors `set_pmd()` in arch/arm64/include/asm/pgtable.h (7.3). Also `set_pud()`,
    /// `set_p4d()`, and `set_swapper_pgd()` (arch/arm64/mm/mmu.c) for an entry in
    /// `swapper_pg_dir`: the write, then `dsb(ishst); isb()` when the entry is valid
    /// (always for `set_p4d` and for the root).
    fn set_entry(&mut self, entry: EntryRef, arch_level: i32, desc: u64) {
        self.env.write_entry(entry.table, entry.index, desc);
        if entry.table == self.root || arch_level <= 0 || pte_valid(desc) {
            // queue_pte_barriers() outside lazy MMU mode: emit_pte_barriers().
            self.env.dsb_ishst();
            self.env.isb();
        }
    }

    /// Mirrors `init_clear_pgtable()` in arch/arm64/mm/mmu.c (7.3).
    fn init_clear_pgtable(&mut self, table: PhysAddr) {
        self.env.clear_table(table, self.granule.entries() as usize);
        // Ensure the zeroing is observed by page table walks.
        self.env.dsb_ishst();
    }

    /// `p?d_clear_fixmap()`: `clear_fixmap()` ends in `flush_tlb_kernel_range()` of the
    /// fixmap slot, whose `dsb(ishst)` makes every earlier table write visible to the
    /// walker, and whose `isb()` ends it. The TLBI itself is for the fixmap, not the
    /// linear map, and is not reported.
    fn clear_fixmap(&mut self) {
        self.env.dsb_ishst();
        self.env.isb();
    }

    /// `pgtable_alloc(level)` after `BUG_ON(!pgtable_alloc)`.
    fn pgtable_alloc(&mut self, pgtable_alloc: bool, va: u64, arch_level: i32, old: u64) -> Result<PhysAddr> {
        if !pgtable_alloc {
            return Err(self.bug(BugKind::NoPgtableAlloc, va, arch_level, old, 0));
        }
        self.env.alloc_table()
    }

    /// Allocates, clears and links a new next-level table into `entry` (at
    /// `arch_level`), with `TYPE_TABLE | TABLE_UXN | TABLE_AF`, plus `TABLE_PXN` under
    /// `NO_EXEC_MAPPINGS`: the `p?d_none()` branch of the per-level functions.
    fn populate(&mut self, entry: EntryRef, arch_level: i32, va: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<PhysAddr> {
        let mut val = PUD_TYPE_TABLE | PMD_TABLE_UXN | PMD_TABLE_AF;
        if flags.contains(MapFlags::NO_EXEC_MAPPINGS) {
            val |= PMD_TABLE_PXN;
        }
        let table = self.pgtable_alloc(pgtable_alloc, va, arch_level, 0)?;
        self.init_clear_pgtable(table);
        // __p?d_populate(): the table is empty and the zeroing is visible (dsb above)
        // before it is linked in; its address is encoded as an output address is
        // (`__phys_to_p?d_val()`).
        self.set_entry(entry, arch_level, pfn_pte(self.granule, self.lpa2(), table.0, val));
        Ok(table)
    }

    /// Mirrors `pmd_set_huge()` in arch/arm64/mm/mmu.c (7.3). Also `pud_set_huge()`, and
    /// the `WARN_ON(!p?d_set_huge()); BUG_ON(!pgattr_change_is_safe())` around their calls:
    /// writes a block unless that is an unsafe change of a live entry, in which case the
    /// entry is left as it was and a WARN is reported.
    fn set_huge(&mut self, entry: EntryRef, arch_level: i32, addr: u64, phys: u64, prot: u64) -> Result<()> {
        let old = self.read(entry);
        let new = pfn_pte(self.granule, self.lpa2(), phys, mk_pmd_sect_prot(prot));
        if pgattr_change_is_safe(self.granule, old, new) {
            self.set_entry(entry, arch_level, new);
        } else {
            let level = self.level_name(arch_level);
            self.env.warn(Warning { kind: WarnKind::SetHugeRefused, va: VirtAddr(addr), level, old, new });
        }
        // After the entry has been populated once, only permission changes.
        let cur = self.read(entry);
        if !pgattr_change_is_safe(self.granule, old, cur) {
            return Err(self.bug(BugKind::PgattrChangeUnsafe, addr, arch_level, old, cur));
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------
    // The per-level functions.

    /// Mirrors `init_pte()` in arch/arm64/mm/mmu.c (7.3).
    fn init_pte(&mut self, mut ptep: EntryRef, mut addr: u64, end: u64, mut phys: u64, prot: u64) -> Result<()> {
        let page = self.granule.page_size();
        loop {
            let old = self.read(ptep);
            // __set_pte_nosync(): the barriers come at the end of alloc_init_cont_pte().
            self.env.write_entry(ptep.table, ptep.index, pfn_pte(self.granule, self.lpa2(), phys, prot));
            // After the PTE has been populated once, only permission changes.
            let cur = self.read(ptep);
            if !pgattr_change_is_safe(self.granule, old, cur) {
                return Err(self.bug(BugKind::PgattrChangeUnsafe, addr, 3, old, cur));
            }
            phys = phys.wrapping_add(page);
            ptep = ptep.add(1);
            addr = addr.wrapping_add(page);
            if addr == end {
                return Ok(());
            }
        }
    }

    /// Whether any entry of the contiguous group starting at `first` (architectural
    /// level `arch_level`) is valid and not contiguous.
    fn group_has_valid_noncont(&self, first: EntryRef, arch_level: i32) -> bool {
        (0..self.granule.cont_entries(arch_level) as usize).any(|i| {
            let entry = self.read(first.add(i));
            pte_valid(entry) && !pte_cont(entry)
        })
    }

    /// Mirrors `pte_range_has_valid_noncont()` in arch/arm64/mm/mmu.c (7.3).
    fn pte_range_has_valid_noncont(&self, ptep: EntryRef) -> bool {
        self.group_has_valid_noncont(ptep, 3)
    }

    /// The table holding the entries of Linux level `arch_level` under `upper`, the
    /// entry one level up: the `p?d_none()` branch of the per-level functions (a new
    /// table, cleared and linked in), or `p?d_set_fixmap_offset()`. When `arch_level`
    /// is the root's level or folded above it, `upper` is already an entry of the root
    /// standing for it (the kernel's `p?d_offset()` of a folded level is a cast) and the
    /// root is returned: there is no table of its own and nothing to check. Otherwise
    /// `leaf_check` is the per-level `BUG_ON(p?d_leaf())` (PUD and PMD), then a non-table
    /// entry is `BUG_ON(p?d_bad())`.
    #[allow(clippy::too_many_arguments)]
    fn lower_table(&mut self, upper: EntryRef, arch_level: i32, addr: u64, pgtable_alloc: bool, flags: MapFlags, leaf_check: bool) -> Result<PhysAddr> {
        if !self.has_own_tables(arch_level) {
            return Ok(upper.table);
        }
        let upper_level = arch_level - 1;
        let desc = self.read(upper);
        let leaf = if upper_level == 2 { pmd_leaf(desc) } else { pud_leaf(self.granule, desc) };
        if leaf_check && leaf {
            return Err(self.bug(BugKind::LeafInTheWay, addr, upper_level, desc, desc));
        }
        if pmd_none(desc) {
            return self.populate(upper, upper_level, addr, pgtable_alloc, flags);
        }
        if pud_bad(desc) {
            return Err(self.bug(BugKind::BadTable, addr, upper_level, desc, desc));
        }
        Ok(self.table_addr(desc))
    }

    /// The `p?d_clear_fixmap()` after a level's loop: a no-op for a level with no table
    /// of its own.
    fn clear_level_fixmap(&mut self, arch_level: i32) {
        if self.has_own_tables(arch_level) {
            self.clear_fixmap();
        }
    }

    /// Mirrors `alloc_init_cont_pte()` in arch/arm64/mm/mmu.c (7.3).
    #[allow(clippy::too_many_arguments)]
    fn alloc_init_cont_pte(&mut self, pmdp: EntryRef, mut addr: u64, end: u64, mut phys: u64, prot: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<()> {
        // BUG_ON(pmd_leaf(pmd)), then the PTE table (the PTE level is never folded).
        let pte_table = self.lower_table(pmdp, 3, addr, pgtable_alloc, flags, true)?;

        let cont_size = self.cont_size(3);
        loop {
            let mut prot_ = prot;
            let next = addr_end(addr, end, cont_size);
            let ptep = self.entry_ref(pte_table, 3, addr);
            // A contiguous range if suitably aligned, allowed, and not over live
            // non-contiguous PTEs.
            if (addr | next | phys) & (cont_size - 1) == 0
                && !flags.contains(MapFlags::NO_CONT_MAPPINGS)
                && !self.pte_range_has_valid_noncont(ptep)
            {
                prot_ |= PTE_CONT;
            }
            self.init_pte(ptep, addr, next, phys, prot_)?;
            phys = phys.wrapping_add(next.wrapping_sub(addr));
            addr = next;
            if addr == end {
                break;
            }
        }
        // pte_clear_fixmap(): its barriers make the PTE writes above visible.
        self.clear_fixmap();
        Ok(())
    }

    /// Mirrors `init_pmd()` in arch/arm64/mm/mmu.c (7.3). `pmd_table_pa` holds the PMD
    /// entries (the root with 2 levels).
    #[allow(clippy::too_many_arguments)]
    fn init_pmd(&mut self, pmd_table_pa: PhysAddr, mut addr: u64, end: u64, mut phys: u64, prot: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<()> {
        let pmd_size = self.entry_size(2);
        loop {
            let pmdp = self.entry_ref(pmd_table_pa, 2, addr);
            let old_pmd = self.read(pmdp);
            let next = addr_end(addr, end, pmd_size);
            // Try a section mapping first.
            if (addr | next | phys) & (pmd_size - 1) == 0
                && !flags.contains(MapFlags::NO_BLOCK_MAPPINGS)
                && !pmd_table(old_pmd)
            {
                self.set_huge(pmdp, 2, addr, phys, prot)?;
            } else {
                self.alloc_init_cont_pte(pmdp, addr, next, phys, prot, pgtable_alloc, flags)?;
                // VM_WARN_ON_ONCE (CONFIG_DEBUG_VM only) on a changed non-empty PMD: not modelled.
            }
            phys = phys.wrapping_add(next.wrapping_sub(addr));
            addr = next;
            if addr == end {
                return Ok(());
            }
        }
    }

    /// Mirrors `pmd_range_has_valid_noncont()` in arch/arm64/mm/mmu.c (7.3). A table
    /// entry is valid and not contiguous, so it counts.
    fn pmd_range_has_valid_noncont(&self, pmdp: EntryRef) -> bool {
        self.group_has_valid_noncont(pmdp, 2)
    }

    /// Mirrors `alloc_init_cont_pmd()` in arch/arm64/mm/mmu.c (7.3). With 2 levels the
    /// PUD is folded and `pudp` is the PMD entry itself, in the root.
    #[allow(clippy::too_many_arguments)]
    fn alloc_init_cont_pmd(&mut self, pudp: EntryRef, mut addr: u64, end: u64, mut phys: u64, prot: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<()> {
        // Check for initial section mappings in the pgd/pud (BUG_ON(pud_sect(pud))).
        let pmd_table_pa = self.lower_table(pudp, 2, addr, pgtable_alloc, flags, true)?;

        let cont_size = self.cont_size(2);
        let mut ret = Ok(());
        loop {
            let mut prot_ = prot;
            let next = addr_end(addr, end, cont_size);
            let pmdp = self.entry_ref(pmd_table_pa, 2, addr);
            // A contiguous range if suitably aligned, allowed, and not over live
            // non-contiguous PMDs (a table counts).
            if (addr | next | phys) & (cont_size - 1) == 0
                && !flags.contains(MapFlags::NO_CONT_MAPPINGS)
                && !self.pmd_range_has_valid_noncont(pmdp)
            {
                prot_ |= PTE_CONT;
            }
            if let Err(e) = self.init_pmd(pmd_table_pa, addr, next, phys, prot_, pgtable_alloc, flags) {
                ret = Err(e);
                break;
            }
            phys = phys.wrapping_add(next.wrapping_sub(addr));
            addr = next;
            if addr == end {
                break;
            }
        }
        // pmd_clear_fixmap(), also on the error path.
        self.clear_level_fixmap(2);
        ret
    }

    /// Mirrors `alloc_init_pud()` in arch/arm64/mm/mmu.c (7.3). With 4 or 5 levels
    /// `p4dp` is a level-0 entry and the PUD table hangs below it; with 3 levels the PUD
    /// is folded and `p4dp` is itself the PUD entry (level 1, in the root); with 2 the
    /// PUD's only entry is the root's PMD entry and the loop runs once.
    #[allow(clippy::too_many_arguments)]
    fn alloc_init_pud(&mut self, p4dp: EntryRef, mut addr: u64, end: u64, mut phys: u64, prot: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<()> {
        let pud_table_pa = self.lower_table(p4dp, 1, addr, pgtable_alloc, flags, false)?;
        let pud_level = self.entry_level(1);
        let pud_size = self.entry_size(pud_level);
        let mut ret = Ok(());
        loop {
            let pudp = self.entry_ref(pud_table_pa, pud_level, addr);
            let old_pud = self.read(pudp);
            let next = addr_end(addr, end, pud_size);
            // For 4K granule only, attempt to put down a 1GB block.
            if pud_sect_supported(self.granule)
                && pud_level == 1
                && (addr | next | phys) & (pud_size - 1) == 0
                && !flags.contains(MapFlags::NO_BLOCK_MAPPINGS)
                && !pud_table(self.granule, old_pud)
            {
                self.set_huge(pudp, 1, addr, phys, prot)?;
            } else if let Err(e) = self.alloc_init_cont_pmd(pudp, addr, next, phys, prot, pgtable_alloc, flags) {
                ret = Err(e);
                break;
            }
            phys = phys.wrapping_add(next.wrapping_sub(addr));
            addr = next;
            if addr == end {
                break;
            }
        }
        // pud_clear_fixmap(): a no-op when the PUD is folded.
        self.clear_level_fixmap(1);
        ret
    }

    /// Mirrors `alloc_init_p4d()` in arch/arm64/mm/mmu.c (7.3). With 5 levels the P4D
    /// table hangs below the level -1 root entry `pgdp`; otherwise the P4D is folded
    /// (`pgd_none()` is 0, the P4D entry is the PGD entry) and the loop runs once.
    #[allow(clippy::too_many_arguments)]
    fn alloc_init_p4d(&mut self, pgdp: EntryRef, mut addr: u64, end: u64, mut phys: u64, prot: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<()> {
        let p4d_table_pa = self.lower_table(pgdp, 0, addr, pgtable_alloc, flags, false)?;
        let p4d_level = self.entry_level(0);
        let p4d_size = self.entry_size(p4d_level);
        let mut ret = Ok(());
        loop {
            let p4dp = self.entry_ref(p4d_table_pa, p4d_level, addr);
            let next = addr_end(addr, end, p4d_size);
            if let Err(e) = self.alloc_init_pud(p4dp, addr, next, phys, prot, pgtable_alloc, flags) {
                ret = Err(e);
                break;
            }
            phys = phys.wrapping_add(next.wrapping_sub(addr));
            addr = next;
            if addr == end {
                break;
            }
        }
        // p4d_clear_fixmap(): a no-op when the P4D is folded.
        self.clear_level_fixmap(0);
        ret
    }

    /// Mirrors `__create_pgd_mapping_locked()` in arch/arm64/mm/mmu.c (7.3). Maps
    /// `[virt, virt + size)` to `phys` in `swapper_pg_dir` with `prot`. `pgtable_alloc`
    /// false mirrors passing a NULL allocator (a missing table is then a BUG).
    ///
    /// The kernel's boot-time callers (`early_create_pgd_mapping`) panic on any error;
    /// the model returns it.
    pub fn create_pgd_mapping(&mut self, phys: PhysAddr, virt: VirtAddr, size: u64, prot: u64, pgtable_alloc: bool, flags: MapFlags) -> Result<()> {
        let page_mask = !(self.granule.page_size() - 1);
        let start_level = self.start_level();
        // Phys and virt must share their offset within a page.
        if (phys.0 ^ virt.0) & !page_mask != 0 {
            let w = Warning { kind: WarnKind::PhysVirtOffset, va: virt, level: self.level_name(start_level), old: phys.0, new: 0 };
            self.env.warn(w);
            return Err(Errno::EINVAL);
        }
        // The model's protections carry PTE_SHARED; the kernel's PTE_MAYBE_SHARED and
        // PMD_MAYBE_SHARED are 0 with LPA2 (asm/pgtable-prot.h).
        let prot = if self.lpa2() { prot & !PTE_SHARED } else { prot };
        let mut phys = phys.0 & page_mask;
        let mut addr = virt.0 & page_mask;
        // PAGE_ALIGN(virt + size).
        let end = virt.0.wrapping_add(size).wrapping_add(!page_mask) & page_mask;
        if addr == end {
            return Err(self.bug(BugKind::EmptyRange, addr, start_level, 0, 0));
        }
        if addr < self.linear_start().0 || (end != 0 && end < addr) {
            return Err(self.bug(BugKind::OutsideTtbr1, addr, start_level, 0, 0));
        }

        let pgdir_size = self.entry_size(start_level);
        loop {
            let next = addr_end(addr, end, pgdir_size);
            let pgdp = self.entry_ref(self.root, start_level, addr);
            self.alloc_init_p4d(pgdp, addr, next, phys, prot, pgtable_alloc, flags)?;
            phys = phys.wrapping_add(next.wrapping_sub(addr));
            addr = next;
            if addr == end {
                return Ok(());
            }
        }
    }

    /// Mirrors `__map_memblock()` in arch/arm64/mm/mmu.c (7.3). Maps PA `[start, end)` at
    /// its linear address, allocating tables (`early_pgtable_alloc`).
    pub fn map_memblock(&mut self, start: PhysAddr, end: PhysAddr, prot: u64, flags: MapFlags) -> Result<()> {
        let virt = self.lm(start);
        self.create_pgd_mapping(start, virt, end.0.wrapping_sub(start.0), prot, true, flags)
    }

    /// Mirrors `update_mapping_prot()` in arch/arm64/mm/mmu.c (7.3). Re-runs the mapping
    /// walk over a live range with `prot`, flags 0 and no table allocator, then flushes
    /// the TLB over it. Flags 0 lets an existing CONT group keep `PTE_CONT` (none of its
    /// entries is valid and non-contiguous), and existing tables stop blocks, so the
    /// granularity is unchanged. 6.12 passes `NO_CONT_MAPPINGS`
    /// ([`Rules::update_mapping_prot_no_cont`]).
    pub fn update_mapping_prot(&mut self, phys: PhysAddr, virt: VirtAddr, size: u64, prot: u64) -> Result<()> {
        if virt.0 < self.page_offset().0 {
            let level = self.level_name(self.start_level());
            self.env.warn(Warning { kind: WarnKind::OutsideKernelRange, va: virt, level, old: phys.0, new: prot });
            return Ok(());
        }
        let flags = if self.rules.update_mapping_prot_no_cont() { MapFlags::NO_CONT_MAPPINGS } else { MapFlags::NONE };
        self.create_pgd_mapping(phys, virt, size, prot, false, flags)?;
        // Flush the TLBs after updating live kernel mappings.
        self.env.flush_tlb_kernel_range(virt, VirtAddr(virt.0.wrapping_add(size)));
        Ok(())
    }

    /// Mirrors `mark_linear_text_alias_ro()` in arch/arm64/mm/mmu.c (7.3). The linear
    /// alias of `[_text, __init_begin)` becomes `PAGE_KERNEL_RO`. (The hibernation
    /// notifier it registers is not modelled.)
    pub fn mark_linear_text_alias_ro(&mut self, text: PhysAddr, init_begin: PhysAddr) -> Result<()> {
        let virt = self.lm(text);
        self.update_mapping_prot(text, virt, init_begin.0.wrapping_sub(text.0), PAGE_KERNEL_RO)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_geometry;
