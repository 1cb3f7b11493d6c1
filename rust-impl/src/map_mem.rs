//! Building the linear map at boot: `map_mem()` of arch/arm64/mm/mmu.c (7.3) and the
//! predicates that pick its granularity (`force_pte_mapping()`, `can_set_direct_map()`,
//! `linear_map_requires_bbml3`): docs/map-mem.md#predicates and #mapping-calls.

#[cfg(any(test, feature = "alloc"))]
use alloc::vec::Vec;

use crate::address::PhysAddr;
#[cfg(any(test, feature = "alloc"))]
use crate::errno::{Errno, Result};
#[cfg(any(test, feature = "alloc"))]
use crate::mmu::{MapFlags, Mmu};
#[cfg(any(test, feature = "alloc"))]
use crate::pgtable::PgtableEnv;
#[cfg(any(test, feature = "alloc"))]
use crate::pgtable_prot::{PAGE_KERNEL, PAGE_KERNEL_TAGGED};

/// `MEMBLOCK_HOTPLUG`: hotpluggable region (mapped: `for_each_mem_range` asks for it).
pub const MEMBLOCK_HOTPLUG: u32 = 0x1;
/// `MEMBLOCK_MIRROR`: mirrored region.
pub const MEMBLOCK_MIRROR: u32 = 0x2;
/// `MEMBLOCK_NOMAP`: not part of the linear map.
pub const MEMBLOCK_NOMAP: u32 = 0x4;
/// `MEMBLOCK_DRIVER_MANAGED` (mapped: `for_each_mem_range` asks for it).
pub const MEMBLOCK_DRIVER_MANAGED: u32 = 0x8;

/// One `memblock.memory` region (`struct memblock_region`), byte-exact.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemblockRegion {
    pub base: PhysAddr,
    pub size: u64,
    /// `MEMBLOCK_*` flags.
    pub flags: u32,
}

impl MemblockRegion {
    pub const fn new(base: u64, size: u64, flags: u32) -> MemblockRegion {
        MemblockRegion { base: PhysAddr(base), size, flags }
    }
}

/// The switches the direct-map predicates read (inputs DP, RF, KL of
/// docs/map-mem.md#decision-table, plus realm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectMapPolicy {
    /// `debug_pagealloc_enabled()` (DP).
    pub debug_pagealloc: bool,
    /// `rodata_full` (RF).
    pub rodata_full: bool,
    /// `arm64_kfence_can_set_direct_map()`: CONFIG_KFENCE and `!kfence_early_init` (KL).
    pub kfence_late: bool,
    /// `is_realm_world()`: always false when `map_mem` runs in 7.3 (RSI is probed later).
    pub realm: bool,
}

impl DirectMapPolicy {
    /// Mirrors `force_pte_mapping()` in arch/arm64/mm/mmu.c (7.3). `bbml3` is what the
    /// kernel computes first: `cpu_supports_bbml3()` on the calling CPU before the
    /// capabilities are finalized (always the case in `map_mem`), else
    /// `system_supports_bbml3()`.
    pub const fn force_pte_mapping(&self, bbml3: bool) -> bool {
        if self.debug_pagealloc {
            return true;
        }
        if bbml3 {
            return false;
        }
        self.rodata_full || self.kfence_late || self.realm
    }

    /// Mirrors `can_set_direct_map()` in arch/arm64/mm/pageattr.c (7.3).
    pub const fn can_set_direct_map(&self) -> bool {
        self.rodata_full || self.debug_pagealloc || self.kfence_late || self.realm
    }

    /// Mirrors `map_mem()` in arch/arm64/mm/mmu.c (7.3). The assignment
    /// `linear_map_requires_bbml3 = !force_pte_mapping() && can_set_direct_map()`.
    pub const fn linear_map_requires_bbml3(&self, bbml3: bool) -> bool {
        !self.force_pte_mapping(bbml3) && self.can_set_direct_map()
    }
}

/// Everything `map_mem()` reads.
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapMemInputs {
    /// `memblock.memory`, in order.
    pub memblock: Vec<MemblockRegion>,
    /// `(__pa_symbol(_text), __pa_symbol(__init_begin))`.
    pub text: (PhysAddr, PhysAddr),
    /// `(__pa_symbol(__init_end), __pa_symbol(__bss_stop))`.
    pub data: (PhysAddr, PhysAddr),
    /// The early KFENCE pool `(PA, KFENCE_POOL_SIZE)` when CONFIG_KFENCE,
    /// `kfence_early_init` and the memblock allocation succeeded.
    pub kfence_pool: Option<(PhysAddr, u64)>,
    pub debug_pagealloc: bool,
    pub rodata_full: bool,
    /// CONFIG_KFENCE and `!kfence_early_init` (`kfence.sample_interval=0`, or the pool
    /// allocation failed). Contradicts `kfence_pool`.
    pub kfence_late: bool,
    /// `cpu_supports_bbml3()` on the boot CPU.
    pub boot_cpu_bbml3: bool,
    /// `is_realm_world()`: always false at `map_mem` in 7.3.
    pub realm: bool,
}

#[cfg(any(test, feature = "alloc"))]
impl MapMemInputs {
    pub fn policy(&self) -> DirectMapPolicy {
        DirectMapPolicy { debug_pagealloc: self.debug_pagealloc, rodata_full: self.rodata_full, kfence_late: self.kfence_late, realm: self.realm }
    }

    /// `force_pte_mapping()` as `map_mem` evaluates it (boot CPU, caps not finalized).
    pub fn force_pte_mapping(&self) -> bool {
        self.policy().force_pte_mapping(self.boot_cpu_bbml3)
    }

    /// `can_set_direct_map()` as `map_mem` evaluates it.
    pub fn can_set_direct_map(&self) -> bool {
        self.policy().can_set_direct_map()
    }

    /// `linear_map_requires_bbml3` as `map_mem` sets it.
    pub fn linear_map_requires_bbml3(&self) -> bool {
        self.policy().linear_map_requires_bbml3(self.boot_cpu_bbml3)
    }
}

/// Mirrors `map_mem()` in arch/arm64/mm/mmu.c (7.3). With `arm64_kfence_map_pool()`:
/// the KFENCE pool as plain PTEs, then the linear aliases of `[_text, __init_begin)` and
/// `[__init_end, __bss_stop)`, then every memblock region except NOMAP ones, rounded
/// inward to pages, all with `pgprot_tagged(PAGE_KERNEL)`. Returns
/// `linear_map_requires_bbml3`.
///
/// Fails with `-EINVAL` if `kfence_pool` and `kfence_late` are both set (no kernel state
/// has both), and otherwise with whatever the mapping calls return (the kernel panics).
/// Under 6.12's rules (`mmu.rules`) it is [`map_mem_6_12`].
#[cfg(any(test, feature = "alloc"))]
pub fn map_mem<E: PgtableEnv>(mmu: &mut Mmu<E>, inputs: &MapMemInputs) -> Result<bool> {
    if inputs.kfence_pool.is_some() && inputs.kfence_late {
        return Err(Errno::EINVAL);
    }
    if mmu.rules.text_alias_mapped_after_banks() {
        return map_mem_6_12(mmu, inputs);
    }
    let prot = PAGE_KERNEL_TAGGED;
    let mut flags = MapFlags::NO_EXEC_MAPPINGS;

    // arm64_kfence_map_pool(): the pool needs page-level mappings.
    if let Some((pool, size)) = inputs.kfence_pool {
        let no_block_cont = MapFlags::NO_BLOCK_MAPPINGS | MapFlags::NO_CONT_MAPPINGS | MapFlags::NO_EXEC_MAPPINGS;
        mmu.map_memblock(pool, PhysAddr(pool.0.wrapping_add(size)), prot, no_block_cont)?;
    }

    let linear_map_requires_bbml3 = inputs.linear_map_requires_bbml3();
    if inputs.force_pte_mapping() {
        flags = flags | MapFlags::NO_BLOCK_MAPPINGS | MapFlags::NO_CONT_MAPPINGS;
    }

    // The linear alias of [_text, __init_begin) first, so that making it read-only later
    // needs no split of blocks the bank loop would otherwise create.
    mmu.map_memblock(inputs.text.0, inputs.text.1, prot, flags)?;
    // The kernel data/bss, so it can be remapped later.
    mmu.map_memblock(inputs.data.0, inputs.data.1, prot, flags)?;

    // for_each_mem_range(): every region but NOMAP ones (HOTPLUG and DRIVER_MANAGED are
    // asked for explicitly), one by one.
    for region in inputs.memblock.iter().filter(|r| r.flags & MEMBLOCK_NOMAP == 0) {
        map_bank(mmu, region.base.0, region.base.0.wrapping_add(region.size), flags)?;
    }
    Ok(linear_map_requires_bbml3)
}

/// One `for_each_mem_range()` range of `map_mem()`'s bank loop, with
/// `pgprot_tagged(PAGE_KERNEL)`: rounded inward so that no page holding a NOMAP byte
/// gets mapped (7ace06a01efa), or in 7.2 as given (the mapping call rounds outward).
#[cfg(any(test, feature = "alloc"))]
fn map_bank<E: PgtableEnv>(mmu: &mut Mmu<E>, start: u64, end: u64, flags: MapFlags) -> Result<()> {
    if !mmu.rules.banks_rounded_inward() {
        return mmu.map_memblock(PhysAddr(start), PhysAddr(end), PAGE_KERNEL_TAGGED, flags);
    }
    let page_mask = !(mmu.granule.page_size() - 1);
    let (start, end) = (start.wrapping_add(!page_mask) & page_mask, end & page_mask);
    if start >= end {
        return Ok(());
    }
    mmu.map_memblock(PhysAddr(start), PhysAddr(end), PAGE_KERNEL_TAGGED, flags)
}

/// Mirrors 6.12's `map_mem()` (arch/arm64/mm/mmu.c:623-700 in 6.12): the early KFENCE
/// pool (`arm64_kfence_alloc_pool()`, :584-602) and `[_text, __init_begin)` are marked
/// NOMAP, so the bank loop maps every region around them with PTEs exactly when
/// `can_set_direct_map()` (no BBML in 6.12); then the text alias with `PAGE_KERNEL` and
/// `NO_CONT_MAPPINGS` only, so blocks wherever it is aligned, whatever the banks got
/// (:696-697); then the pool with `NO_BLOCK_MAPPINGS | NO_CONT_MAPPINGS`
/// (`arm64_kfence_map_pool()`, :604-615). The data/bss alias is part of a bank.
/// `linear_map_requires_bbml3` does not exist: always false.
#[cfg(any(test, feature = "alloc"))]
fn map_mem_6_12<E: PgtableEnv>(mmu: &mut Mmu<E>, inputs: &MapMemInputs) -> Result<bool> {
    let mut flags = MapFlags::NO_EXEC_MAPPINGS;
    if inputs.can_set_direct_map() {
        flags = flags | MapFlags::NO_BLOCK_MAPPINGS | MapFlags::NO_CONT_MAPPINGS;
    }
    // memblock_mark_nomap() on the pool and the text alias splits the regions at byte
    // precision; for_each_mem_range() then skips the NOMAP parts.
    let mut holes: Vec<(u64, u64)> = inputs.kfence_pool.iter().map(|(pa, size)| (pa.0, pa.0.wrapping_add(*size))).collect();
    holes.push((inputs.text.0 .0, inputs.text.1 .0));
    holes.sort_unstable();
    for region in inputs.memblock.iter().filter(|r| r.flags & MEMBLOCK_NOMAP == 0) {
        let (mut start, end) = (region.base.0, region.base.0.wrapping_add(region.size));
        for &(hole_start, hole_end) in &holes {
            if hole_end <= start || hole_start >= end {
                continue;
            }
            if hole_start > start {
                map_bank(mmu, start, hole_start, flags)?;
            }
            start = start.max(hole_end);
        }
        if start < end {
            map_bank(mmu, start, end, flags)?;
        }
    }
    mmu.map_memblock(inputs.text.0, inputs.text.1, PAGE_KERNEL, MapFlags::NO_CONT_MAPPINGS)?;
    if let Some((pool, size)) = inputs.kfence_pool {
        mmu.map_memblock(pool, PhysAddr(pool.0.wrapping_add(size)), PAGE_KERNEL_TAGGED, MapFlags::NO_BLOCK_MAPPINGS | MapFlags::NO_CONT_MAPPINGS)?;
    }
    Ok(false)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_6_12;
