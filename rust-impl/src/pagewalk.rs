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

/// `p?d_none_or_clear_bad()` on `entry`, the entry above a level with tables of its
/// own: true (skip it) when zero, or when not a table, which is cleared first
/// (`p?d_clear_bad()`: a `p?d_ERROR()` pr_err and `p?d_clear()`). A level folded into
/// the one below has neither (`p?d_none()` and `p?d_bad()` are 0).
fn none_or_clear_bad<E: PgtableEnv>(k: &mut LazyMmu<'_, E>, entry: EntryRef, entry_level: i32) -> bool {
    let desc = k.read(entry);
    if pmd_none(desc) {
        return true;
    }
    if desc & PUD_TYPE_MASK != PUD_TYPE_TABLE {
        if entry_level < 0 {
            k.set_pgd(entry, 0);
        } else {
            k.set_p4d(entry, 0);
        }
        return true;
    }
    false
}

/// The table and architectural level holding the entries of Linux level `lvl` under
/// `upper` (`p?d_offset()`): the table `upper` points to, or, for a level folded into
/// the root, the root itself (the level's entry is `upper`).
fn entries_below<E: PgtableEnv>(k: &LazyMmu<'_, E>, upper: EntryRef, lvl: i32) -> (PhysAddr, i32) {
    if k.mmu.has_own_tables(lvl) {
        (k.mmu.table_addr(k.read(upper)), lvl)
    } else {
        (upper.table, k.mmu.entry_level(lvl))
    }
}

/// Mirrors `walk_pgd_range()` in mm/pagewalk.c (7.3). `pgd_none_or_clear_bad()` only
/// exists with 5 levels; otherwise the P4D is folded into the PGD.
fn walk_pgd_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let root = k.mmu.root;
    let lvl = k.mmu.start_level();
    let pgdir_size = k.mmu.entry_size(lvl);
    loop {
        let next = addr_end(addr, end, pgdir_size);
        let pgdp = k.mmu.entry_ref(root, lvl, addr);
        if !(k.mmu.has_own_tables(0) && none_or_clear_bad(k, pgdp, lvl)) {
            walk_p4d_range(k, pgdp, addr, next, ops)?;
        }
        addr = next;
        if addr == end {
            return Ok(());
        }
    }
}

/// Mirrors `walk_p4d_range()` in mm/pagewalk.c (7.3). With 5 levels the P4D entries
/// are in a table of their own; otherwise the P4D entry is the PGD entry and
/// `p4d_addr_end()` is `end`. With 4 or 5 levels a zero P4D entry is skipped and a
/// non-table one is cleared (`p4d_clear_bad()`); with 3 or 2 the PUD is folded too,
/// `p4d_none()`/`p4d_bad()` are 0 and the PUD entry is the P4D entry itself.
fn walk_p4d_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, pgdp: EntryRef, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let (table, lvl) = entries_below(k, pgdp, 0);
    let p4d_size = k.mmu.entry_size(lvl);
    loop {
        let next = addr_end(addr, end, p4d_size);
        let p4dp = k.mmu.entry_ref(table, lvl, addr);
        if !(k.mmu.has_own_tables(1) && none_or_clear_bad(k, p4dp, lvl)) {
            walk_pud_range(k, p4dp, addr, next, ops)?;
        }
        addr = next;
        if addr == end {
            return Ok(());
        }
    }
}

/// Mirrors `walk_pud_range()` in mm/pagewalk.c (7.3) for the no-VMA walk. The PUD
/// entries are in a table below `p4dp` with 4 or 5 levels, in the root with 3 (where
/// the range never leaves one entry); with 2 levels the PUD is folded above the root:
/// `pud_none()` and `pud_leaf()` are 0, the callback finds nothing to do (its
/// `pud_leaf()`/`pud_sect()` are 0 too) and is not run, and the PMD entry is the PUD
/// entry.
fn walk_pud_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, p4dp: EntryRef, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let g = k.mmu.granule;
    let (table, lvl) = entries_below(k, p4dp, 1);
    let folded = lvl != 1;
    let pud_size = k.mmu.entry_size(lvl);
    loop {
        let next = addr_end(addr, end, pud_size);
        let pudp = k.mmu.entry_ref(table, lvl, addr);
        'entry: {
            if folded {
                walk_pmd_range(k, pudp, addr, next, ops)?;
                break 'entry;
            }
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

/// Mirrors `walk_pmd_range()` in mm/pagewalk.c (7.3) for the no-VMA walk. With 2
/// levels `pudp` is the root's PMD entry itself (`pmd_offset()` is a cast).
fn walk_pmd_range<E: PgtableEnv, O: MmWalkOps<E>>(k: &mut LazyMmu<'_, E>, pudp: EntryRef, mut addr: u64, end: u64, ops: &mut O) -> Result<()> {
    let g = k.mmu.granule;
    if k.mmu.has_own_tables(2) {
        let pudval = k.read(pudp);
        if !pte_present(pudval) || pud_leaf(g, pudval) {
            // ACTION_AGAIN makes walk_pud_range() run pud_entry again. The caller has
            // just checked this entry and nothing runs concurrently in the model.
            return Ok(());
        }
    }
    // With 2 levels the PMD entries are the root's and `pudp` is one of them.
    let (table, lvl) = entries_below(k, pudp, 2);
    let pmd_size = k.mmu.entry_size(lvl);
    loop {
        let next = addr_end(addr, end, pmd_size);
        let pmdp = k.mmu.entry_ref(table, lvl, addr);
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
