//! The page allocator's free pages read from guest RAM: every page on a buddy free list
//! (`zone->free_area[order].free_list[migratetype]`) and on each CPU's per-CPU lists
//! (`zone->per_cpu_pageset`, `lists[pindex]`). Allocator state, like memblock: observed,
//! not decided by policy. With debug_pagealloc every one of them is unmapped from the
//! linear map: `free_pages_prepare()` ends with `debug_pagealloc_unmap_pages()`
//! (mm/page_alloc.c:1459 in 7.3) before a page reaches either list, and
//! `post_alloc_hook()` maps it again when it leaves them (:1835).
//!
//! Layouts (and `MIGRATE_TYPES`, `MIGRATE_PCPTYPES`, `__MAX_NR_ZONES`) come from DWARF; a
//! page's struct is found in the vmemmap through the kernel's own tables, and its linear
//! address from its index there (`page_to_virt()`, arch/arm64/include/asm/memory.h:409-413).

use rust_impl::address::{PhysAddr, VirtAddr};
use rust_impl::linear_map::Leaf;

use crate::error::{Error, Result};
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::GuestKernel;
use crate::linux_side::walker::{self, WalkConfig};

/// Structures and enumerations this module reads (only with CONFIG_DEBUG_PAGEALLOC).
pub const STRUCTS: &[&str] = &["pglist_data", "zone", "free_area", "per_cpu_pages", "page", "list_head", MIGRATETYPE, ZONE_TYPE];
const MIGRATETYPE: &str = "enum migratetype";
const ZONE_TYPE: &str = "enum zone_type";

/// `PAGE_ALLOC_COSTLY_ORDER` (include/linux/mmzone.h:63): per-CPU lists hold orders up
/// to it, `MIGRATE_PCPTYPES` lists per order (`order_to_pindex()`, mm/page_alloc.c:656).
const PAGE_ALLOC_COSTLY_ORDER: u64 = 3;

/// Free page ranges: `(first page's PA, pages)`, sorted and merged.
pub type FreeRanges = Vec<(PhysAddr, u64)>;

/// Reads every free page of the (single, `contig_page_data`) node.
pub fn free_pages<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>, walk: WalkConfig) -> Result<FreeRanges> {
    let info = gk.info;
    let page_size = info.granule.page_size();
    let enum_value = |e: &str, name: &str| -> Result<u64> { info.layout(e)?.offset(e, name) };
    let (migrate_types, pcp_types, nr_zones) = (enum_value(MIGRATETYPE, "MIGRATE_TYPES")?, enum_value(MIGRATETYPE, "MIGRATE_PCPTYPES")?, enum_value(ZONE_TYPE, "__MAX_NR_ZONES")?);
    let (pgdat, zone, area, pcp, page, list) =
        (info.layout("pglist_data")?, info.layout("zone")?, info.layout("free_area")?, info.layout("per_cpu_pages")?, info.layout("page")?, info.layout("list_head")?);
    let node_zones = pgdat.offset("pglist_data", "node_zones")?;
    let (free_area, pageset) = (zone.offset("zone", "free_area")?, zone.offset("zone", "per_cpu_pageset")?);
    let free_list = area.offset("free_area", "free_list")?;
    let (lists, lru) = (pcp.offset("per_cpu_pages", "lists")?, page.offset("page", "lru")?);
    let next = list.offset("list_head", "next")?;
    // NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1 (CONFIG_ARCH_FORCE_MAX_ORDER).
    let orders = info.config.get("CONFIG_ARCH_FORCE_MAX_ORDER").and_then(|v| v.parse::<u64>().ok()).map(|o| o + 1).unwrap_or(rust_impl::realm_shares::max_page_order(page_size) as u64 + 1);
    let thp = info.config.enabled("CONFIG_TRANSPARENT_HUGEPAGE");
    let low_lists = pcp_types * (PAGE_ALLOC_COSTLY_ORDER + 1);
    let pcp_lists = low_lists + if thp { 2 } else { 0 };
    // HPAGE_PMD_ORDER = PMD_SHIFT - PAGE_SHIFT: a table page of 8-byte entries.
    let pmd_order = (page_size.trailing_zeros() - 3) as u64;

    let memory = Memory::new(gk, walk, page.size)?;
    let pgdat_va = info.symbols.get("contig_page_data").map_err(|_| Error::Debuginfo("no contig_page_data: only single-node (!CONFIG_NUMA) kernels are read".into()))?;
    let nr_cpus = memory.read(VirtAddr(info.symbols.get("nr_cpu_ids")?))? & 0xffff_ffff;
    let per_cpu_offset = info.symbols.get("__per_cpu_offset")?;
    let mut blocks: Vec<(u64, u64)> = Vec::new();
    for z in 0..nr_zones {
        let zone_va = pgdat_va + node_zones + z * zone.size;
        for order in 0..orders {
            for mt in 0..migrate_types {
                let head = zone_va + free_area + order * area.size + free_list + mt * list.size;
                memory.list(head, next, lru, |page_va| blocks.push((page_va, 1 << order)))?;
            }
        }
        let pageset_ptr = memory.read(VirtAddr(zone_va + pageset))?;
        if pageset_ptr == 0 {
            continue;
        }
        for cpu in 0..nr_cpus {
            let pcp_va = pageset_ptr.wrapping_add(memory.read(VirtAddr(per_cpu_offset + cpu * 8))?);
            for pindex in 0..pcp_lists {
                let order = if pindex >= low_lists { pmd_order } else { pindex / pcp_types };
                memory.list(pcp_va + lists + pindex * list.size, next, lru, |page_va| blocks.push((page_va, 1 << order)))?;
            }
        }
    }
    let mut ranges: FreeRanges = Vec::new();
    for (page_va, pages) in blocks {
        let linear = memory.page_to_virt(page_va)?;
        let pa = gk.view.virt_to_phys(linear)?;
        ranges.push((pa, pages));
    }
    Ok(merge(ranges, page_size))
}

/// Sorts and merges ranges that touch or overlap.
pub fn merge(mut ranges: FreeRanges, page_size: u64) -> FreeRanges {
    ranges.sort_unstable();
    let mut out: FreeRanges = Vec::with_capacity(ranges.len());
    for (pa, pages) in ranges {
        if let Some(last) = out.last_mut() {
            let end = last.0 .0 + last.1 * page_size;
            if pa.0 <= end {
                last.1 = last.1.max((pa.0 + pages * page_size - last.0 .0) / page_size);
                continue;
            }
        }
        out.push((pa, pages));
    }
    out
}

/// Ranges of `b` not in `a` (both sorted and merged), as `(PA, pages)`.
pub fn difference(b: &[(PhysAddr, u64)], a: &[(PhysAddr, u64)], page_size: u64) -> FreeRanges {
    let mut out = Vec::new();
    let mut j = 0;
    for &(start, pages) in b {
        let (mut s, e) = (start.0, start.0 + pages * page_size);
        while j < a.len() && a[j].0 .0 + a[j].1 * page_size <= s {
            j += 1;
        }
        let mut k = j;
        while s < e {
            match a.get(k) {
                Some(&(as_, ap)) if as_.0 < e => {
                    let ae = as_.0 + ap * page_size;
                    if as_.0 > s {
                        out.push((PhysAddr(s), (as_.0 - s) / page_size));
                    }
                    s = s.max(ae);
                    k += 1;
                }
                _ => {
                    out.push((PhysAddr(s), (e - s) / page_size));
                    s = e;
                }
            }
        }
    }
    out
}

/// Reads kernel VAs of the image, the linear map and the vmemmap.
struct Memory<'g, 'a, M: GuestMemory + ?Sized> {
    gk: &'g GuestKernel<'a, M>,
    /// The vmemmap's leaves, in VA order.
    vmemmap: Vec<Leaf>,
    vmemmap_start: u64,
    page_struct: u64,
    /// Pages with a struct page: no list is longer.
    max_entries: u64,
}

impl<'g, 'a, M: GuestMemory + ?Sized> Memory<'g, 'a, M> {
    fn new(gk: &'g GuestKernel<'a, M>, walk: WalkConfig, page_struct: u64) -> Result<Self> {
        let page_size = walk.granule.page_size();
        // VMEMMAP_START = VMEMMAP_END - VMEMMAP_SIZE, VMEMMAP_END = -1 GiB, and
        // VMEMMAP_SIZE = ((_PAGE_END(VA_BITS_MIN) - PAGE_OFFSET) >> PAGE_SHIFT) *
        // sizeof(struct page) (arch/arm64/include/asm/memory.h:33-51): PAGE_OFFSET of
        // VA_BITS, whatever VA size the kernel runs with.
        let range = gk.view.page_end.0 - gk.view.page_offset.0;
        let vmemmap_end = (1u64 << 30).wrapping_neg();
        let vmemmap_start = vmemmap_end - (range / page_size) * page_struct;
        let visits = walker::walk(gk.mem, walk, VirtAddr(vmemmap_start), VirtAddr(vmemmap_end))?;
        let vmemmap: Vec<Leaf> = walker::leaves(&visits).filter(|l| l.valid).collect();
        let pages = vmemmap.iter().map(|l| l.size).sum::<u64>() / page_struct;
        Ok(Memory { gk, vmemmap, vmemmap_start, page_struct, max_entries: pages + 1 })
    }

    fn pa(&self, va: VirtAddr) -> Result<PhysAddr> {
        if va.0 >= self.vmemmap_start && va.0 < (1u64 << 30).wrapping_neg() {
            let i = self.vmemmap.partition_point(|l| l.va.0 + l.size <= va.0);
            return match self.vmemmap.get(i) {
                Some(l) if l.va <= va => Ok(PhysAddr(l.pa.0 + (va.0 - l.va.0))),
                _ => Err(Error::Guest(format!("{va} in the vmemmap is not mapped"))),
            };
        }
        self.gk.view.virt_to_phys(va)
    }

    fn read(&self, va: VirtAddr) -> Result<u64> {
        self.gk.read_u64(self.pa(va)?)
    }

    /// The linear address of the page whose struct is at `page_va` (`page_to_virt()`).
    fn page_to_virt(&self, page_va: u64) -> Result<VirtAddr> {
        let off = page_va.wrapping_sub(self.vmemmap_start);
        if off % self.page_struct != 0 {
            return Err(Error::Guest(format!("{:#x} is not a struct page in the vmemmap", page_va)));
        }
        Ok(VirtAddr(self.gk.view.page_offset.0 + off / self.page_struct * self.gk.info.granule.page_size()))
    }

    /// Calls `each` with the struct page VA of every entry of the list at `head` (linked
    /// through the pages' `lru`). A list not yet initialised (NULL) is empty.
    fn list(&self, head: u64, next_off: u64, lru_off: u64, mut each: impl FnMut(u64)) -> Result<()> {
        let mut at = self.read(VirtAddr(head + next_off))?;
        let mut n = 0;
        while at != 0 && at != head {
            n += 1;
            if n > self.max_entries {
                return Err(Error::Guest(format!("the free list at {head:#x} does not end within {} entries", self.max_entries)));
            }
            each(at.wrapping_sub(lru_off));
            at = self.read(VirtAddr(at + next_off))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 4096;

    fn r(pairs: &[(u64, u64)]) -> FreeRanges {
        pairs.iter().map(|&(a, n)| (PhysAddr(a * P), n)).collect()
    }

    #[test]
    fn blocks_merge_into_ranges() {
        assert_eq!(merge(r(&[(8, 8), (0, 4), (4, 4), (20, 1)]), P), r(&[(0, 16), (20, 1)]));
        assert_eq!(merge(r(&[(0, 8), (2, 2)]), P), r(&[(0, 8)]), "overlap");
    }

    #[test]
    fn differences_of_ranges() {
        let before = r(&[(0, 16), (32, 4)]);
        let now = r(&[(4, 4), (30, 8), (40, 2)]);
        assert_eq!(difference(&now, &before, P), r(&[(30, 2), (36, 2), (40, 2)]), "freed since");
        assert_eq!(difference(&before, &now, P), r(&[(0, 4), (8, 8)]), "allocated since");
        assert_eq!(difference(&now, &[], P), now);
        assert_eq!(difference(&[], &now, P), r(&[]));
    }
}
