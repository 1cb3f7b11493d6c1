//! The model side of the comparison: walks the model's own tables over a VA range
//! (normally the linear region `[_PAGE_OFFSET(vabits_actual), PAGE_END)`) and reports every leaf, valid or present-invalid,
//! in VA order; [`linear_map`] merges them into the normalised [`LinearMap`] the Linux
//! side is rendered as.

use crate::address::{PhysAddr, VirtAddr};
use crate::descriptor::leaf_attrs_lpa2;
use crate::granule::Level;
use crate::linear_map::{Leaf, LinearMap};
use crate::mmu::Mmu;
use crate::pgtable::*;

/// Calls `f(leaf, desc)` for every leaf of `mmu`'s tables in `[start, end)`, in VA order.
/// `shared_mask` is the realm shared bit (`prot_ns_shared`, 0 outside a realm): it is
/// removed from the output address and reported as [`Leaf::shared`].
///
/// An entry is present if valid or present-invalid; at levels 0-2 a valid entry with
/// bits[1:0] = 0b11 is a table, any other present entry a leaf.
pub fn walk_leaves<E: PgtableEnv, F: FnMut(Leaf, u64)>(mmu: &Mmu<E>, start: VirtAddr, end: VirtAddr, shared_mask: u64, mut f: F) {
    let lowest = mmu.linear_start().0;
    let start = start.0.max(lowest);
    if end.0 <= start {
        return;
    }
    walk_table(mmu, mmu.root, mmu.start_level(), lowest, start, end.0, shared_mask, &mut f);
}

#[allow(clippy::too_many_arguments)]
fn walk_table<E: PgtableEnv, F: FnMut(Leaf, u64)>(mmu: &Mmu<E>, table: PhysAddr, lvl: i32, table_va: u64, start: u64, end: u64, shared_mask: u64, f: &mut F) {
    let size = mmu.entry_size(lvl);
    let entries = if lvl == mmu.start_level() { 1u64 << (mmu.va_bits - mmu.granule.level_shift(lvl)) } else { mmu.granule.entries() };
    // This table covers [table_va, table_va + entries * size); stay inside it.
    let table_end = table_va.saturating_add(entries * size);
    let end = end.min(table_end);
    let mut va = start.max(table_va) & !(size - 1);
    while va < end {
        let entry = mmu.entry_ref(table, lvl, va);
        let desc = mmu.read(entry);
        if pte_present(desc) {
            if lvl < 3 && pte_valid(desc) && pmd_table(desc) {
                walk_table(mmu, mmu.table_addr(desc), lvl + 1, va, start, end, shared_mask, f);
            } else {
                let field = mmu.pte_to_phys(desc);
                let leaf = Leaf {
                    va: VirtAddr(va),
                    size,
                    level: Level::of_leaf(lvl, mmu.levels()),
                    pa: PhysAddr(field & !shared_mask),
                    attrs: leaf_attrs_lpa2(desc, mmu.lpa2()),
                    valid: pte_valid(desc),
                    cont: pte_cont(desc),
                    shared: field & shared_mask != 0,
                };
                f(leaf, desc);
            }
        }
        match va.checked_add(size) {
            Some(next) => va = next,
            None => break,
        }
    }
}

/// The normalised linear map of `mmu` over `[_PAGE_OFFSET(vabits_actual), PAGE_END)`.
pub fn linear_map<E: PgtableEnv>(mmu: &Mmu<E>, shared_mask: u64) -> LinearMap {
    let mut map = LinearMap::default();
    walk_leaves(mmu, mmu.linear_start(), mmu.page_end(), shared_mask, |leaf, _| map.push(leaf));
    map
}
