//! Lazy MMU mode (`lazy_mmu_mode_enable/disable()`, include/linux/pgtable.h, 7.3) and
//! the arm64 entry setters whose barriers it defers (`__set_pte()`, `set_pmd()`,
//! `set_pud()`, `set_p4d()` in arch/arm64/include/asm/pgtable.h, 7.3).
//!
//! Outside lazy MMU mode a setter that writes a valid kernel entry issues
//! `dsb(ishst); isb()` at once (`emit_pte_barriers()`); inside it only marks
//! `TIF_LAZY_MMU_PENDING`, and leaving the mode issues the pair once. Every public
//! entry point of the split and attribute code opens and closes its own lazy section,
//! so a [`LazyMmu`] lives for one call.

use crate::errno::Result;
use crate::mmu::{EntryRef, Mmu};
use crate::pgtable::{pte_valid, pte_valid_not_user, PgtableEnv};

/// `swapper_pg_dir` plus the current task's `lazy_mmu_state` and
/// `TIF_LAZY_MMU_PENDING`.
pub(crate) struct LazyMmu<'a, E> {
    pub(crate) mmu: &'a mut Mmu<E>,
    /// `lazy_mmu_state.enable_count`.
    enable_count: u32,
    /// `TIF_LAZY_MMU_PENDING`.
    pending: bool,
}

impl<'a, E: PgtableEnv> LazyMmu<'a, E> {
    /// Lazy MMU mode off, nothing pending.
    pub(crate) fn new(mmu: &'a mut Mmu<E>) -> LazyMmu<'a, E> {
        LazyMmu { mmu, enable_count: 0, pending: false }
    }

    /// Mirrors `lazy_mmu_mode_enable()` in include/linux/pgtable.h (7.3);
    /// `arch_enter_lazy_mmu_mode()` is empty on arm64.
    pub(crate) fn lazy_mmu_mode_enable(&mut self) {
        self.enable_count += 1;
    }

    /// Mirrors `lazy_mmu_mode_disable()` in include/linux/pgtable.h (7.3): both the
    /// outermost exit (`arch_leave_lazy_mmu_mode()`) and a nested one
    /// (`arch_flush_lazy_mmu_mode()`) emit the pending barriers.
    pub(crate) fn lazy_mmu_mode_disable(&mut self) {
        self.enable_count = self.enable_count.saturating_sub(1);
        // arch_flush_lazy_mmu_mode(): test_and_clear_thread_flag(TIF_LAZY_MMU_PENDING).
        if core::mem::take(&mut self.pending) {
            self.emit_pte_barriers();
        }
    }

    /// Mirrors `emit_pte_barriers()` in arch/arm64/include/asm/pgtable.h (7.3).
    fn emit_pte_barriers(&mut self) {
        self.mmu.env.dsb_ishst();
        self.mmu.env.isb();
    }

    /// Mirrors `queue_pte_barriers()` in arch/arm64/include/asm/pgtable.h (7.3).
    fn queue_pte_barriers(&mut self) {
        if self.enable_count > 0 {
            self.pending = true;
        } else {
            self.emit_pte_barriers();
        }
    }

    /// `READ_ONCE(*entry)`.
    pub(crate) fn read(&self, entry: EntryRef) -> u64 {
        self.mmu.read(entry)
    }

    /// Mirrors `__set_pte()` in arch/arm64/include/asm/pgtable.h (7.3): barriers only
    /// for a valid kernel entry.
    pub(crate) fn set_pte(&mut self, ptep: EntryRef, pte: u64) {
        self.mmu.env.write_entry(ptep.table, ptep.index, pte);
        if pte_valid_not_user(pte) {
            self.queue_pte_barriers();
        }
    }

    /// Mirrors `set_pmd()` in arch/arm64/include/asm/pgtable.h (7.3). With 2 levels the
    /// PMD entry is in `swapper_pg_dir` and goes through `set_swapper_pgd()`.
    pub(crate) fn set_pmd(&mut self, pmdp: EntryRef, pmd: u64) {
        if pmdp.table == self.mmu.root {
            self.set_swapper_pgd(pmdp, pmd);
            return;
        }
        self.mmu.env.write_entry(pmdp.table, pmdp.index, pmd);
        if pte_valid(pmd) {
            self.queue_pte_barriers();
        }
    }

    /// Mirrors `set_pud()` in arch/arm64/include/asm/pgtable.h (7.3). With 3 levels (or
    /// 2) the PUD entry is in `swapper_pg_dir` and goes through `set_swapper_pgd()`,
    /// whose barriers are immediate, lazy mode or not.
    pub(crate) fn set_pud(&mut self, pudp: EntryRef, pud: u64) {
        if pudp.table == self.mmu.root {
            self.set_swapper_pgd(pudp, pud);
            return;
        }
        self.mmu.env.write_entry(pudp.table, pudp.index, pud);
        if pte_valid(pud) {
            self.queue_pte_barriers();
        }
    }

    /// Mirrors `set_p4d()` in arch/arm64/include/asm/pgtable.h (7.3): with 4 levels (or
    /// fewer) the P4D entry is in `swapper_pg_dir`; with 5 it is in a P4D table and the
    /// barriers are queued whatever it holds.
    pub(crate) fn set_p4d(&mut self, p4dp: EntryRef, p4d: u64) {
        if p4dp.table == self.mmu.root {
            self.set_swapper_pgd(p4dp, p4d);
            return;
        }
        self.mmu.env.write_entry(p4dp.table, p4dp.index, p4d);
        self.queue_pte_barriers();
    }

    /// Mirrors `set_pgd()` in arch/arm64/include/asm/pgtable.h (7.3): the root entry.
    pub(crate) fn set_pgd(&mut self, pgdp: EntryRef, pgd: u64) {
        self.set_swapper_pgd(pgdp, pgd);
    }

    /// Mirrors `set_swapper_pgd()` in arch/arm64/mm/mmu.c (7.3): the write, then
    /// `dsb(ishst); isb()` (directly, or through `pgd_clear_fixmap()` once
    /// `swapper_pg_dir` is read-only).
    fn set_swapper_pgd(&mut self, pgdp: EntryRef, pgd: u64) {
        self.mmu.env.write_entry(pgdp.table, pgdp.index, pgd);
        self.mmu.env.dsb_ishst();
        self.mmu.env.isb();
    }

    /// Runs `f` in a lazy MMU section: `lazy_mmu_mode_enable(); f(); lazy_mmu_mode_disable()`.
    pub(crate) fn lazy<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.lazy_mmu_mode_enable();
        let ret = f(self);
        self.lazy_mmu_mode_disable();
        ret
    }
}
