//! The kernel page-table walker of mm/pagewalk.c (7.3) as `split_to_ptes_ops` and
//! `pageattr_ops` use it: `walk_kernel_page_table_range_lockless()` over `init_mm`
//! (`swapper_pg_dir`), with no VMA, no `pte_hole` and no `install_pte`, and with
//! `pud_entry`, `pmd_entry` and `pte_entry` callbacks.
//!
//! What matters for the linear map, all as in the C:
//! * a `none` (zero) PUD or PMD is skipped without a callback;
//! * `pud_entry`/`pmd_entry` run on any other entry, leaf or table, with the span
//!   `[addr, next)` the range covers of it;
//! * after the callback the entry is **read again**: a leaf the callback turned into a
//!   table is descended into, a leaf that stayed a leaf is not;
//! * `pte_entry` runs on **every** PTE slot in range, empty ones included;
//! * the first error stops the whole walk and is returned; nothing is undone.

use crate::address::PhysAddr;
use crate::descriptor::{PUD_TYPE_MASK, PUD_TYPE_TABLE};
use crate::errno::{Errno, Result};
use crate::lazy_mmu::LazyMmu;
use crate::mmu::{addr_end, EntryRef};
use crate::pgtable::{pmd_leaf, pmd_none, pte_present, pud_leaf, PgtableEnv};

/// `walk->action` after a `p?d_entry` callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WalkAction {
    /// `ACTION_SUBTREE`: descend if the entry (read again) is a table.
    Subtree,
    /// `ACTION_CONTINUE`: do not descend.
    Continue,
}

/// A `struct mm_walk_ops` with `pud_entry`, `pmd_entry` and `pte_entry` (the
/// `walk->private` data is the implementor).
pub(crate) trait MmWalkOps<E: PgtableEnv> {
    fn pud_entry(&mut self, k: &mut LazyMmu<'_, E>, pudp: EntryRef, addr: u64, next: u64) -> Result<WalkAction>;
    fn pmd_entry(&mut self, k: &mut LazyMmu<'_, E>, pmdp: EntryRef, addr: u64, next: u64) -> Result<WalkAction>;
    fn pte_entry(&mut self, k: &mut LazyMmu<'_, E>, ptep: EntryRef, addr: u64, next: u64) -> Result<()>;
}

/// Mirrors `walk_kernel_page_table_range_lockless()` in mm/pagewalk.c (7.3), with
/// `pgd == NULL` (walk `init_mm.pgd`). An empty or inverted range is `-EINVAL`.
pub(crate) fn walk_kernel_page_table_range_lockless<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, start: u64, end: u64, ops: &mut O) -> Result<()> {
    if start >= end {
        return Err(Errno::EINVAL);
    }
    walk_pgd_range(k, start, end, ops)
}

/// Mirrors `walk_pgd_range()` in mm/pagewalk.c (7.3). The P4D is always folded into
/// the PGD here, so `pgd_none_or_clear_bad()` is always false.
fn walk_pgd_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let root = k.mmu.root;
    let lvl = k.mmu.start_level();
    let pgdir_size = k.mmu.entry_size(lvl);
    loop {
        let next = addr_end(addr, end, pgdir_size);
        let pgdp = k.mmu.entry_ref(root, lvl, addr);
        walk_p4d_range(k, pgdp, addr, next, ops)?;
        addr = next;
        if addr == end {
            return Ok(());
        }
    }
}

/// Mirrors `walk_p4d_range()` in mm/pagewalk.c (7.3). The P4D entry is the PGD entry
/// and `p4d_addr_end()` is `end`. With 4 levels a zero entry is skipped and a
/// non-table one is cleared (`p4d_clear_bad()`); with 3 levels the PUD is folded too,
/// `p4d_none()`/`p4d_bad()` are 0 and the PUD entry is the PGD entry itself.
fn walk_p4d_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, p4dp: EntryRef, addr: u64, end: u64, ops: &mut O) -> Result<()> {
    if k.mmu.levels() < 4 {
        return walk_pud_range(k, p4dp.table, addr, end, ops);
    }
    let p4d = k.read(p4dp);
    if pmd_none(p4d) {
        return Ok(());
    }
    if p4d & PUD_TYPE_MASK != PUD_TYPE_TABLE {
        // p4d_clear_bad(): p4d_ERROR() (a pr_err) and p4d_clear().
        k.set_p4d(p4dp, 0);
        return Ok(());
    }
    let pud_table = k.mmu.table_addr(p4d);
    walk_pud_range(k, pud_table, addr, end, ops)
}

/// Mirrors `walk_pud_range()` in mm/pagewalk.c (7.3) for the no-VMA walk. `table` is
/// the table holding the PUD entries (the root with 3 levels, where the range never
/// leaves one entry).
fn walk_pud_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, table: PhysAddr, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let g = k.mmu.granule;
    let pud_size = k.mmu.entry_size(1);
    loop {
        let next = addr_end(addr, end, pud_size);
        let pudp = k.mmu.entry_ref(table, 1, addr);
        'entry: {
            if pmd_none(k.read(pudp)) {
                break 'entry;
            }
            if ops.pud_entry(k, pudp, addr, next)? == WalkAction::Continue {
                break 'entry;
            }
            // Read again: the callback may have replaced a leaf by a table.
            let pud = k.read(pudp);
            if pud_leaf(g, pud) || !pte_present(pud) {
                break 'entry;
            }
            walk_pmd_range(k, pudp, addr, next, ops)?;
        }
        addr = next;
        if addr == end {
            return Ok(());
        }
    }
}

/// Mirrors `walk_pmd_range()` in mm/pagewalk.c (7.3) for the no-VMA walk.
fn walk_pmd_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, pudp: EntryRef, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let g = k.mmu.granule;
    let pudval = k.read(pudp);
    if !pte_present(pudval) || pud_leaf(g, pudval) {
        // ACTION_AGAIN makes walk_pud_range() run pud_entry again. The caller has just
        // checked this entry and nothing runs concurrently in the model.
        return Ok(());
    }
    let table = k.mmu.table_addr(pudval);
    let pmd_size = k.mmu.entry_size(2);
    loop {
        let next = addr_end(addr, end, pmd_size);
        let pmdp = k.mmu.entry_ref(table, 2, addr);
        'entry: {
            if pmd_none(k.read(pmdp)) {
                break 'entry;
            }
            if ops.pmd_entry(k, pmdp, addr, next)? == WalkAction::Continue {
                break 'entry;
            }
            let pmd = k.read(pmdp);
            if pmd_leaf(pmd) || !pte_present(pmd) {
                break 'entry;
            }
            walk_pte_range(k, pmdp, addr, next, ops)?;
        }
        addr = next;
        if addr == end {
            return Ok(());
        }
    }
}

/// Mirrors `walk_pte_range()` and `walk_pte_range_inner()` in mm/pagewalk.c (7.3):
/// `pte_entry` on every slot of `[addr, end)`.
fn walk_pte_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, pmdp: EntryRef, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let page = k.mmu.granule.page_size();
    // pte_offset_kernel() reads the PMD again.
    let table = k.mmu.table_addr(k.read(pmdp));
    loop {
        let ptep = k.mmu.entry_ref(table, 3, addr);
        ops.pte_entry(k, ptep, addr, addr.wrapping_add(page))?;
        if addr >= end.wrapping_sub(page) {
            return Ok(());
        }
        addr += page;
    }
}
