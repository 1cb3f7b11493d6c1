//! Splitting live linear-map leaves (arch/arm64/mm/mmu.c, 7.3; docs/split.md): the boot
//! state the split gate reads ([`BootState`]), `split_kernel_leaf_mapping()` with its
//! gate, the per-address split and its helpers (`split_pud`, `split_pmd`,
//! `split_contpmd`, `split_contpte`), and the stop_machine repaint to PTEs
//! (`range_split_to_ptes`, `linear_map_split_to_ptes`,
//! `linear_map_maybe_split_to_ptes`).
//!
//! Splits allocate tables from the env (`-ENOMEM` when it runs out, with no
//! rollback), issue `dsb(ishst)` before linking a new table, and never touch the TLB.

use crate::address::{PhysAddr, VirtAddr};
use crate::descriptor::*;
use crate::errno::{Bug, BugKind, Errno, Result};
use crate::lazy_mmu::LazyMmu;
use crate::map_mem::DirectMapPolicy;
use crate::mmu::{EntryRef, Mmu};
use crate::pagewalk::{walk_kernel_page_table_range_lockless, MmWalkOps, WalkAction};
use crate::pgtable::*;

/// The kernel state the split gate and the attribute code read, as boot proceeds
/// (docs/boot-timeline.md). A plain value: the caller updates it between calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootState {
    /// `linear_map_requires_bbml3`, as `map_mem()` set it.
    pub linear_map_requires_bbml3: bool,
    /// `page_alloc_available`: set by `mem_init()` (docs/boot-timeline.md#mem_init).
    pub page_alloc_available: bool,
    /// `num_online_cpus()`.
    pub online_cpus: u32,
    /// `system_capabilities_finalized()`: true from `apply_alternatives_all()`
    /// (docs/boot-timeline.md#setup_system_features).
    pub caps_finalized: bool,
    /// `system_supports_bbml3()`: false until the capabilities are finalized, then
    /// whether every early CPU had BBML3.
    pub system_supports_bbml3: bool,
    /// `system_supports_bti_kernel()`, for `PTE_MAYBE_GP` in `set_memory_nx/x`.
    pub bti_kernel: bool,
    /// `(__kfence_pool, KFENCE_POOL_SIZE)` when there is a pool.
    pub kfence_pool: Option<(VirtAddr, u64)>,
    /// `rodata_full`, `debug_pagealloc_enabled()`, `arm64_kfence_can_set_direct_map()`
    /// and `is_realm_world()` **now** (realm becomes true at `arm64_rsi_init`, after
    /// `map_mem`).
    pub policy: DirectMapPolicy,
    /// `prot_ns_shared`: the realm's shared bit in descriptor form (0 outside a realm).
    pub prot_ns_shared: u64,
}

impl BootState {
    /// The state right after `map_mem()` (docs/boot-timeline.md#map_mem): one CPU, no
    /// page allocator, capabilities not finalized, no realm yet.
    pub const fn at_map_mem(linear_map_requires_bbml3: bool, policy: DirectMapPolicy) -> BootState {
        BootState {
            linear_map_requires_bbml3,
            page_alloc_available: false,
            online_cpus: 1,
            caps_finalized: false,
            system_supports_bbml3: false,
            bti_kernel: false,
            kfence_pool: None,
            policy: DirectMapPolicy { realm: false, ..policy },
            prot_ns_shared: 0,
        }
    }

    /// `arm64_rsi_init()` found a realm (docs/boot-timeline.md#arm64_rsi_init):
    /// `prot_ns_shared` and `rsi_present`.
    pub fn rsi_init(&mut self, prot_ns_shared: u64) {
        self.prot_ns_shared = prot_ns_shared;
        self.policy.realm = true;
    }

    /// `mem_init()` (docs/boot-timeline.md#mem_init): `page_alloc_available = true`.
    pub fn mem_init(&mut self) {
        self.page_alloc_available = true;
    }

    /// A secondary CPU marked itself online (arch/arm64/kernel/smp.c:258;
    /// docs/boot-timeline.md#smp_init).
    pub fn set_cpu_online(&mut self) {
        self.online_cpus += 1;
    }

    /// `apply_alternatives_all()` in `setup_system_features()`
    /// (docs/boot-timeline.md#setup_system_features): the
    /// capabilities are final, and `system_supports_bbml3()` is whether every early CPU
    /// had BBML3.
    pub fn finalize_caps(&mut self, all_cpus_bbml3: bool) {
        self.caps_finalized = true;
        self.system_supports_bbml3 = all_cpus_bbml3;
    }

    /// Mirrors `is_kfence_address()` in include/linux/kfence.h (7.3).
    pub const fn is_kfence_address(&self, addr: VirtAddr) -> bool {
        match self.kfence_pool {
            Some((pool, size)) => addr.0.wrapping_sub(pool.0) < size && pool.0 != 0,
            None => false,
        }
    }

    /// `PROT_NS_SHARED` (asm/pgtable-prot.h): `prot_ns_shared` in a realm, else 0.
    #[allow(non_snake_case)]
    pub const fn PROT_NS_SHARED(&self) -> u64 {
        if self.policy.realm {
            self.prot_ns_shared
        } else {
            0
        }
    }
}

impl<E: PgtableEnv> LazyMmu<'_, E> {
    /// Mirrors `split_contpte()` in arch/arm64/mm/mmu.c (7.3): clears `PTE_CONT` on
    /// every PTE of the aligned group holding `ptep`.
    pub(crate) fn split_contpte(&mut self, ptep: EntryRef) {
        let n = self.mmu.granule.cont_entries(3) as usize;
        let first = EntryRef { table: ptep.table, index: ptep.index & !(n - 1) };
        for i in 0..n {
            let pte = self.read(first.add(i));
            self.set_pte(first.add(i), pte & !PTE_CONT);
        }
    }

    /// Mirrors `split_contpmd()` in arch/arm64/mm/mmu.c (7.3): clears `PTE_CONT` on
    /// every PMD of the aligned group holding `pmdp`.
    pub(crate) fn split_contpmd(&mut self, pmdp: EntryRef) {
        let n = self.mmu.granule.cont_entries(2) as usize;
        let first = EntryRef { table: pmdp.table, index: pmdp.index & !(n - 1) };
        for i in 0..n {
            let pmd = self.read(first.add(i));
            self.set_pmd(first.add(i), pmd & !PTE_CONT);
        }
    }

    /// Mirrors `split_pmd()` in arch/arm64/mm/mmu.c (7.3): replaces the PMD leaf `pmd`
    /// at `pmdp` by a table of PTEs with the same attributes (present-invalid stays
    /// present-invalid), `PTE_CONT` on all of them iff `to_cont`. The output address
    /// keeps every bit of the old one, the realm NS bit included.
    pub(crate) fn split_pmd(&mut self, pmdp: EntryRef, pmd: u64, to_cont: bool) -> Result<()> {
        let g = self.mmu.granule;
        let mut tableprot = PMD_TYPE_TABLE | PMD_TABLE_UXN | PMD_TABLE_AF;
        // pmd_pfn() and pmd_pgprot(): the output address down to PMD_SIZE, and
        // everything else.
        let lpa2 = self.mmu.lpa2();
        let phys = pte_to_phys(g, lpa2, pmd) & !(self.mmu.entry_size(2) - 1);
        let mut prot = pmd ^ pfn_pte(g, lpa2, phys, 0);

        // pgd_pgtable_alloc_init_mm_gfp(): not zeroed, every entry is written below.
        let pte_phys = self.mmu.env.alloc_table()?;

        if prot & PMD_SECT_PXN != 0 {
            tableprot |= PMD_TABLE_PXN;
        }
        prot = (prot & !PTE_TYPE_MASK) | PTE_TYPE_PAGE;
        if !pte_valid(pmd) {
            // pte_pgprot(pte_mkinvalid(pfn_pte(0, prot))).
            prot = (prot | PTE_PRESENT_INVALID) & !PTE_VALID;
        }
        prot &= !PTE_CONT;
        if to_cont {
            prot |= PTE_CONT;
        }
        let page = g.page_size();
        for i in 0..g.entries() {
            let ptep = EntryRef { table: pte_phys, index: i as usize };
            self.set_pte(ptep, pfn_pte(g, lpa2, phys.wrapping_add(i * page), prot));
        }

        // Ensure the pte entries are visible to the table walker by the time the pmd
        // entry that points to the ptes is visible.
        self.mmu.env.dsb_ishst();
        // __pmd_populate().
        self.set_pmd(pmdp, pfn_pte(g, lpa2, pte_phys.0, tableprot));
        Ok(())
    }

    /// Mirrors `split_pud()` in arch/arm64/mm/mmu.c (7.3): replaces the PUD leaf `pud`
    /// at `pudp` by a table of PMD blocks with the same attributes, `PTE_CONT` on all
    /// of them iff `to_cont`.
    pub(crate) fn split_pud(&mut self, pudp: EntryRef, pud: u64, to_cont: bool) -> Result<()> {
        let g = self.mmu.granule;
        let mut tableprot = PUD_TYPE_TABLE | PUD_TABLE_UXN | PUD_TABLE_AF;
        let pmd_size = self.mmu.entry_size(2);
        // pud_pfn() and pud_pgprot().
        let lpa2 = self.mmu.lpa2();
        let phys = pte_to_phys(g, lpa2, pud) & !(self.mmu.entry_size(1) - 1);
        let mut prot = pud ^ pfn_pte(g, lpa2, phys, 0);

        let pmd_phys = self.mmu.env.alloc_table()?;

        if prot & PMD_SECT_PXN != 0 {
            tableprot |= PUD_TABLE_PXN;
        }
        prot = (prot & !PMD_TYPE_MASK) | PMD_TYPE_SECT;
        if !pte_valid(pud) {
            // pmd_pgprot(pmd_mkinvalid(pfn_pmd(0, prot))).
            prot = (prot | PTE_PRESENT_INVALID) & !PTE_VALID;
        }
        prot &= !PTE_CONT;
        if to_cont {
            prot |= PTE_CONT;
        }
        for i in 0..g.entries() {
            let pmdp = EntryRef { table: pmd_phys, index: i as usize };
            self.set_pmd(pmdp, pfn_pte(g, lpa2, phys.wrapping_add(i * pmd_size), prot));
        }

        // Ensure the pmd entries are visible to the table walker by the time the pud
        // entry that points to the pmds is visible.
        self.mmu.env.dsb_ishst();
        // __pud_populate().
        self.set_pud(pudp, pfn_pte(g, lpa2, pmd_phys.0, tableprot));
        Ok(())
    }

    /// Mirrors `split_kernel_leaf_mapping_locked()` in arch/arm64/mm/mmu.c (7.3): makes
    /// `addr` a leaf boundary, splitting a PUD leaf to CONT PMDs, a CONT PMD group to
    /// PMDs, a PMD leaf to CONT PTEs and a CONT PTE group to PTEs, as far as needed.
    pub(crate) fn split_kernel_leaf_mapping_locked(&mut self, addr: u64) -> Result<()> {
        let g = self.mmu.granule;
        let aligned = |size: u64| addr & !(size - 1) == addr;
        let start_level = self.mmu.start_level();

        // PGD: if addr is PGD aligned then addr already describes a leaf boundary.
        if aligned(self.mmu.entry_size(start_level)) {
            return Ok(());
        }
        // P4D, then PUD: if addr is aligned to the level's size then addr already
        // describes a leaf boundary; if the entry above is not present there is nothing
        // to split. A folded level (p?d_offset() is a cast) has the size of the level it
        // is folded into, is always present and has the same entry.
        let mut upper = self.mmu.entry_ref(self.mmu.root, start_level, addr);
        for lvl in [0, 1] {
            if aligned(self.mmu.entry_size(self.mmu.entry_level(lvl))) {
                return Ok(());
            }
            if self.mmu.has_own_tables(lvl) {
                // p?d_present() is !p?d_none(): any non-zero value.
                let desc = self.read(upper);
                if pmd_none(desc) {
                    return Ok(());
                }
                if desc & PUD_TYPE_MASK != PUD_TYPE_TABLE {
                    // p?d_offset() would follow it as a table anyway.
                    let bug = Bug { kind: BugKind::BadTable, va: VirtAddr(addr), level: self.mmu.level_name(lvl - 1), old: desc, new: desc };
                    return Err(Errno::BUG(bug));
                }
                upper = self.mmu.entry_ref(self.mmu.table_addr(desc), lvl, addr);
            }
        }
        let pudp = upper;

        // PUD: if not present then there is nothing to split. Otherwise, if we have a
        // pud leaf, split to contpmd. (With 2 levels the PUD is folded above the root:
        // pud_present() is 1 and pud_leaf() 0.)
        if self.mmu.entry_level(1) == 1 {
            let pud = self.read(pudp);
            if !pte_present(pud) {
                return Ok(());
            }
            if pud_leaf(g, pud) {
                self.split_pud(pudp, pud, true)?;
            }
        }

        // CONTPMD: if addr is CONTPMD aligned then addr already describes a leaf
        // boundary. If not present then there is nothing to split. Otherwise, if we have
        // a contpmd leaf, split to pmd.
        if aligned(self.mmu.cont_size(2)) {
            return Ok(());
        }
        // pmd_offset() reads the PUD again (with 2 levels it is the PUD entry itself).
        let pmdp = if self.mmu.has_own_tables(2) { self.mmu.entry_ref(self.mmu.table_addr(self.read(pudp)), 2, addr) } else { pudp };
        let pmd = self.read(pmdp);
        if !pte_present(pmd) {
            return Ok(());
        }
        if pmd_leaf(pmd) {
            if pte_cont(pmd) {
                self.split_contpmd(pmdp);
            }
            // PMD: if addr is PMD aligned then addr already describes a leaf boundary.
            // Otherwise, split to contpte. (split_pmd() gets the value read before
            // split_contpmd(); it clears PTE_CONT itself.)
            if aligned(self.mmu.entry_size(2)) {
                return Ok(());
            }
            self.split_pmd(pmdp, pmd, true)?;
        }

        // CONTPTE: if addr is CONTPTE aligned then addr already describes a leaf
        // boundary. If not present then there is nothing to split. Otherwise, if we have
        // a contpte leaf, split to pte.
        if aligned(self.mmu.cont_size(3)) {
            return Ok(());
        }
        let ptep = self.mmu.entry_ref(self.mmu.table_addr(self.read(pmdp)), 3, addr);
        let pte = self.read(ptep);
        if !pte_present(pte) {
            return Ok(());
        }
        if pte_cont(pte) {
            self.split_contpte(ptep);
        }
        Ok(())
    }

    /// Mirrors `range_split_to_ptes()` in arch/arm64/mm/mmu.c (7.3): every leaf the
    /// walk of `[start, end)` touches becomes plain PTEs, whole.
    pub(crate) fn range_split_to_ptes(&mut self, start: u64, end: u64) -> Result<()> {
        self.lazy(|k| walk_kernel_page_table_range_lockless(k, start, end, &mut SplitToPtesOps))
    }
}

/// `split_to_ptes_ops` in arch/arm64/mm/mmu.c (7.3).
struct SplitToPtesOps;

impl<E: PgtableEnv> MmWalkOps<E> for SplitToPtesOps {
    /// Mirrors `split_to_ptes_pud_entry()` in arch/arm64/mm/mmu.c (7.3): a PUD leaf
    /// becomes non-contiguous PMDs, which the walk then visits.
    fn pud_entry(&mut self, k: &mut LazyMmu<'_, E>, pudp: EntryRef, _addr: u64, _next: u64) -> Result<WalkAction> {
        let pud = k.read(pudp);
        if pud_leaf(k.mmu.granule, pud) {
            k.split_pud(pudp, pud, false)?;
        }
        Ok(WalkAction::Subtree)
    }

    /// Mirrors `split_to_ptes_pmd_entry()` in arch/arm64/mm/mmu.c (7.3): a PMD leaf
    /// loses `PTE_CONT` on its whole group and becomes non-contiguous PTEs, which the
    /// walk does not visit.
    fn pmd_entry(&mut self, k: &mut LazyMmu<'_, E>, pmdp: EntryRef, _addr: u64, _next: u64) -> Result<WalkAction> {
        let pmd = k.read(pmdp);
        if pmd_leaf(pmd) {
            if pte_cont(pmd) {
                k.split_contpmd(pmdp);
            }
            k.split_pmd(pmdp, pmd, false)?;
            // We have split the pmd directly to ptes so there is no need to visit each
            // pte to check if they are contpte.
            return Ok(WalkAction::Continue);
        }
        Ok(WalkAction::Subtree)
    }

    /// Mirrors `split_to_ptes_pte_entry()` in arch/arm64/mm/mmu.c (7.3).
    fn pte_entry(&mut self, k: &mut LazyMmu<'_, E>, ptep: EntryRef, _addr: u64, _next: u64) -> Result<()> {
        if pte_cont(k.read(ptep)) {
            k.split_contpte(ptep);
        }
        Ok(())
    }
}

impl<E: PgtableEnv> Mmu<E> {
    /// Mirrors `split_kernel_leaf_mapping()` in arch/arm64/mm/mmu.c (7.3): makes `start`
    /// and `end` leaf boundaries of the linear map, behind the gate (docs/split.md#gate)
    /// in the kernel's order:
    ///
    /// 1. `!linear_map_requires_bbml3` or `is_kfence_address(start)`: `Ok`, no split;
    /// 2. without `system_supports_bbml3()`: finalized capabilities give `Ok` with no
    ///    split; no page allocator yet, or more than one CPU online, gives a WARN and
    ///    `-EBUSY`;
    /// 3. `start` or `end` not page-aligned: `-EINVAL`;
    /// 4. a single page splits only at the less aligned end (smaller `__ffs`; `end` on a
    ///    tie), anything else at `start` and then at `end`.
    ///
    /// A table allocation failure gives `-ENOMEM` and leaves the splits done so far.
    /// No TLB maintenance. (`pgtable_split_lock` is not modelled: one thread.)
    pub fn split_kernel_leaf_mapping(&mut self, boot: &BootState, start: VirtAddr, end: VirtAddr) -> Result<()> {
        // If the region is within a pte-mapped area there is no need to split, and the
        // always-pte-mapped atomic callers (DEBUG_PAGEALLOC, KFENCE) must not reach the
        // mutex below.
        if !boot.linear_map_requires_bbml3 || boot.is_kfence_address(start) {
            return Ok(());
        }

        if !boot.system_supports_bbml3 {
            // Finalized without BBML3: the map was repainted to PTEs (or is about to
            // be); let the permission change code warn if something is not.
            if boot.caps_finalized {
                return Ok(());
            }
            // Boot-time: the split allocates from the page allocator.
            if !boot.page_alloc_available {
                self.warn_gate(WarnKind::SplitBeforePageAlloc, start, 0);
                return Err(Errno::EBUSY);
            }
            // Boot-time: secondaries started, and may lack BBML3.
            if boot.online_cpus > 1 {
                self.warn_gate(WarnKind::SplitWithSecondariesOnline, start, u64::from(boot.online_cpus));
                return Err(Errno::EBUSY);
            }
        }

        // Page granularity is the finest a split reaches.
        let page = self.granule.page_size();
        let page_align = |x: u64| x.wrapping_add(page - 1) & !(page - 1);
        if start.0 != page_align(start.0) || end.0 != page_align(end.0) {
            return Err(Errno::EINVAL);
        }

        let mut k = LazyMmu::new(self);
        k.lazy(|k| {
            if end.0.wrapping_sub(start.0) == page {
                // A single page: split at the least aligned end only. The other end is
                // in the same contpte block, which that split reduces to ptes.
                let addr = if start.0.trailing_zeros() < end.0.trailing_zeros() { start } else { end };
                k.split_kernel_leaf_mapping_locked(addr.0)
            } else {
                k.split_kernel_leaf_mapping_locked(start.0)?;
                k.split_kernel_leaf_mapping_locked(end.0)
            }
        })
    }

    fn warn_gate(&mut self, kind: WarnKind, start: VirtAddr, old: u64) {
        let level = self.level_name(self.start_level());
        self.env.warn(Warning { kind, va: start, level, old, new: 0 });
    }

    /// Mirrors `range_split_to_ptes()` in arch/arm64/mm/mmu.c (7.3) on `[start, end)`:
    /// every PUD leaf the walk touches becomes 512 non-contiguous PMDs, every PMD leaf
    /// loses `PTE_CONT` on its group and becomes non-contiguous PTEs, every CONT PTE
    /// group loses `PTE_CONT`. A leaf straddling an end of the range is split whole.
    /// No TLB maintenance. An empty range is `-EINVAL`.
    pub fn range_split_to_ptes(&mut self, start: VirtAddr, end: VirtAddr) -> Result<()> {
        LazyMmu::new(self).range_split_to_ptes(start.0, end.0)
    }

    /// Mirrors `linear_map_split_to_ptes()` in arch/arm64/mm/mmu.c (7.3), the boot
    /// CPU's part (the secondaries wait in the idmap; `idmap_kpti_bbml3_flag` is not
    /// modelled): splits `[_PAGE_OFFSET(vabits_actual), lm_alias(_stext))` and
    /// `[lm_alias(__init_begin), PAGE_END)` to PTEs, then flushes the TLB over the
    /// whole linear range. `stext` and `init_begin` are `__pa_symbol(_stext)` and
    /// `__pa_symbol(__init_begin)`. An error is where the kernel panics ("Failed to
    /// split linear map"); nothing is flushed then.
    pub fn linear_map_split_to_ptes(&mut self, stext: PhysAddr, init_begin: PhysAddr) -> Result<()> {
        let lstart = self.linear_start();
        let lend = self.page_end();
        let kstart = self.lm(stext);
        let kend = self.lm(init_begin);
        {
            let mut k = LazyMmu::new(self);
            // The kernel alias [kstart, kend) never changes and may keep large mappings.
            k.range_split_to_ptes(lstart.0, kstart.0)?;
            k.range_split_to_ptes(kend.0, lend.0)?;
        }
        self.env.flush_tlb_kernel_range(lstart, lend);
        Ok(())
    }

    /// Mirrors `linear_map_maybe_split_to_ptes()` in arch/arm64/mm/mmu.c (7.3): the
    /// repaint runs iff `linear_map_requires_bbml3 && !system_supports_bbml3()`.
    /// Returns whether it ran.
    pub fn linear_map_maybe_split_to_ptes(&mut self, boot: &BootState, stext: PhysAddr, init_begin: PhysAddr) -> Result<bool> {
        if boot.linear_map_requires_bbml3 && !boot.system_supports_bbml3 {
            self.linear_map_split_to_ptes(stext, init_begin)?;
            return Ok(true);
        }
        Ok(false)
    }
}

#[cfg(test)]
mod tests;
