//! What a realm kernel's boot-time callers must share with the host, and how much
//! (Linux 7.3): the swiotlb default pool, whole, from `mem_init()`; one atomic DMA pool
//! per zone with managed memory, from `dma_atomic_pool_init()`. The sizes are decided
//! here from the command line, the memory layout and the page size, as the kernel decides
//! them; where the buffers are is the allocator's business (observed). The GIC ITS's
//! buffers are whatever the ITS is told, which only its registers say.

/// `IO_TLB_SHIFT`, `IO_TLB_SEGSIZE` and `IO_TLB_DEFAULT_SIZE` (include/linux/swiotlb.h).
pub const IO_TLB_SHIFT: u32 = 11;
pub const IO_TLB_SEGSIZE: u64 = 128;
pub const IO_TLB_DEFAULT_SIZE: u64 = 64 << 20;

/// What sizes the swiotlb default pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwiotlbInputs {
    /// `swiotlb=N`: slabs asked for on the command line.
    pub cmdline_slabs: Option<u64>,
    /// `swiotlb=N,A`: areas asked for on the command line.
    pub cmdline_areas: Option<u64>,
    /// `memblock_phys_mem_size()`: the bytes of all memory banks.
    pub memory_bytes: u64,
    /// `memblock_end_of_DRAM()`.
    pub end_of_dram: u64,
    /// `arm64_dma_phys_limit` (the firmware's DMA ranges decide it).
    pub dma_phys_limit: u64,
    /// `num_possible_cpus()`.
    pub possible_cpus: u64,
    /// The kernel version's rules (whether a realm's pool shrinks).
    pub rules: crate::version::Rules,
}

fn align(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// `default_nslabs` and `default_nareas` as the kernel carries them through boot.
struct Default {
    nslabs: u64,
    nareas: u64,
}

impl Default {
    /// `round_up_default_nslabs()` (kernel/dma/swiotlb.c:130-141).
    fn round_up(&mut self) {
        if self.nareas == 0 {
            return;
        }
        if self.nslabs < IO_TLB_SEGSIZE * self.nareas {
            self.nslabs = IO_TLB_SEGSIZE * self.nareas;
        } else if self.nslabs.is_power_of_two() {
            return;
        }
        self.nslabs = self.nslabs.next_power_of_two();
    }
    /// `swiotlb_adjust_nareas()` (swiotlb.c:151-164).
    fn adjust_nareas(&mut self, nareas: u64) {
        self.nareas = nareas.max(1).next_power_of_two();
        self.round_up();
    }
}

/// The slabs of the default pool the kernel asks memblock for: `setup_io_tlb_npages()`
/// (swiotlb.c:252-286), the 1 MiB-per-GiB rule of `arch_mm_preinit()` when no memory
/// needs bouncing for ZONE_DMA (arch/arm64/mm/init.c:343-352, `swiotlb_adjust_size()`,
/// swiotlb.c:293-307), then the areas of `swiotlb_init_remap()` (swiotlb.c:496-497). An
/// allocation failure would halve it (swiotlb.c:501-506): a pool of another size is a
/// divergence to explain.
pub fn swiotlb_default_nslabs(i: &SwiotlbInputs) -> u64 {
    let mut d = Default { nslabs: IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT, nareas: 0 };
    if let Some(n) = i.cmdline_slabs {
        d.nslabs = align(n, IO_TLB_SEGSIZE);
    }
    if let Some(a) = i.cmdline_areas {
        d.adjust_nareas(a);
    }
    // max_pfn <= PFN_DOWN(arm64_dma_phys_limit), both page-aligned tops.
    if i.rules.swiotlb_shrinks_in_realms() && i.end_of_dram <= i.dma_phys_limit && d.nslabs == IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT {
        let size = (d.nslabs << IO_TLB_SHIFT).min(i.memory_bytes.div_ceil(1024));
        d.nslabs = align(align(size, 1 << IO_TLB_SHIFT) >> IO_TLB_SHIFT, IO_TLB_SEGSIZE);
        d.round_up();
    }
    if d.nareas == 0 {
        d.adjust_nareas(i.possible_cpus);
    }
    d.nslabs
}

/// Pages `swiotlb_update_mem_attributes()` shares: the whole pool, page-aligned
/// (swiotlb.c:370-376).
pub fn swiotlb_shared_pages(nslabs: u64, page_size: u64) -> u64 {
    align(nslabs << IO_TLB_SHIFT, page_size) / page_size
}

/// The zones of the atomic DMA pools, in the order `dma_atomic_pool_init()` makes them
/// (kernel/dma/pool.c:231-249).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtomicPool {
    Kernel,
    Dma,
    Dma32,
}

impl AtomicPool {
    pub fn name(self) -> &'static str {
        match self {
            AtomicPool::Kernel => "atomic_pool_kernel (ZONE_NORMAL)",
            AtomicPool::Dma => "atomic_pool_dma (ZONE_DMA)",
            AtomicPool::Dma32 => "atomic_pool_dma32 (ZONE_DMA32)",
        }
    }
}

/// The pools made for memory in `banks` (`[start, end)`): ZONE_DMA below
/// `arm64_dma_phys_limit`, ZONE_DMA32 up to 4 GiB, ZONE_NORMAL above
/// (arch/arm64/mm/init.c:124-165; a zone with memory has managed pages at boot).
pub fn atomic_pools(banks: &[(u64, u64)], dma_phys_limit: u64) -> [Option<AtomicPool>; 3] {
    let dma32_limit = dma_phys_limit.max(1 << 32);
    let has = |lo: u64, hi: u64| lo < hi && banks.iter().any(|&(s, e)| s < hi && e > lo);
    [
        has(dma32_limit, u64::MAX).then_some(AtomicPool::Kernel),
        has(0, dma_phys_limit).then_some(AtomicPool::Dma),
        has(dma_phys_limit, dma32_limit).then_some(AtomicPool::Dma32),
    ]
}

/// Pages each atomic pool shares: `atomic_pool_size` (the `coherent_pool=` bytes, else
/// 128 KiB per GiB of `totalram_pages()`, at least 128 KiB, at most a MAX_PAGE_ORDER
/// block; pool.c:223-227), allocated as one block of `get_order()` of it
/// (`atomic_pool_expand()`, pool.c:85-130), when the allocation does not fail.
pub fn atomic_pool_pages(coherent_pool: Option<u64>, totalram_pages: u64, page_size: u64, max_page_order: u32) -> u64 {
    let bytes = coherent_pool.unwrap_or_else(|| {
        let pages = (totalram_pages / ((1 << 30) / (128 << 10))).min(1 << max_page_order);
        (pages * page_size).max(128 << 10)
    });
    let order = get_order(bytes, page_size).min(max_page_order);
    1 << order
}

/// `get_order()`: the smallest order whose block holds `bytes`.
fn get_order(bytes: u64, page_size: u64) -> u32 {
    let pages = bytes.div_ceil(page_size).max(1);
    pages.next_power_of_two().trailing_zeros()
}

/// `CONFIG_ARCH_FORCE_MAX_ORDER`'s default (arch/arm64/Kconfig:1781-1785).
pub fn max_page_order(page_size: u64) -> u32 {
    match page_size {
        0x1_0000 => 13,
        0x4000 => 11,
        _ => 10,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(mem_gib: u64) -> SwiotlbInputs {
        let end = 0x4000_0000 + (mem_gib << 30);
        SwiotlbInputs { cmdline_slabs: None, cmdline_areas: None, memory_bytes: mem_gib << 30, end_of_dram: end, dma_phys_limit: end.min(1 << 32), possible_cpus: 2, rules: crate::version::Rules::V7_3 }
    }

    #[test]
    fn one_mib_per_gib_when_all_memory_is_dma() {
        // 2 GiB at 1 GiB: all in ZONE_DMA, 2 MiB of pool (the realm-pte boot shares 0x200 pages).
        assert_eq!(swiotlb_default_nslabs(&inputs(2)), 1024);
        assert_eq!(swiotlb_shared_pages(1024, 4096), 0x200);
        // 8 GiB reaches past 4 GiB: the 64 MiB default.
        assert_eq!(swiotlb_default_nslabs(&inputs(8)), 32768);
        // 7.2 forces bouncing in a realm and keeps the default.
        assert_eq!(swiotlb_default_nslabs(&SwiotlbInputs { rules: crate::version::Rules::V7_2, ..inputs(2) }), 32768);
    }

    #[test]
    fn the_command_line_wins_and_areas_round_up() {
        let i = SwiotlbInputs { cmdline_slabs: Some(1000), ..inputs(2) };
        // ALIGN(1000, 128) = 1024, kept: no 1 MiB-per-GiB adjustment once swiotlb= set it.
        assert_eq!(swiotlb_default_nslabs(&i), 1024);
        let i = SwiotlbInputs { cmdline_slabs: Some(1100), ..inputs(8) };
        // 1152 is not a power of two: rounded up to 2048 when the areas are set.
        assert_eq!(swiotlb_default_nslabs(&i), 2048);
        // Tiny pool, many CPUs: at least a segment per area.
        let i = SwiotlbInputs { memory_bytes: 64 << 20, possible_cpus: 8, ..inputs(2) };
        assert_eq!(swiotlb_default_nslabs(&i), 1024);
    }

    #[test]
    fn atomic_pools_follow_the_zones() {
        let gib = 1u64 << 30;
        assert_eq!(atomic_pools(&[(gib, 3 * gib)], 3 * gib), [None, Some(AtomicPool::Dma), None]);
        assert_eq!(atomic_pools(&[(gib, 9 * gib)], 4 * gib), [Some(AtomicPool::Kernel), Some(AtomicPool::Dma), None]);
        assert_eq!(atomic_pools(&[(gib, 9 * gib)], 2 * gib), [Some(AtomicPool::Kernel), Some(AtomicPool::Dma), Some(AtomicPool::Dma32)]);
    }

    #[test]
    fn atomic_pool_size() {
        // ~2 GiB of 4 KiB pages: 61 pages of 128 KiB per GiB, one order-6 block.
        assert_eq!(atomic_pool_pages(None, 500_000, 4096, 10), 64);
        // Small memory: the 128 KiB floor.
        assert_eq!(atomic_pool_pages(None, 100_000, 4096, 10), 32);
        // 64 KiB pages: 128 KiB is two pages.
        assert_eq!(atomic_pool_pages(None, 8_000, 0x1_0000, 13), 2);
        assert_eq!(atomic_pool_pages(None, 30_000, 0x1_0000, 13), 4);
        assert_eq!(atomic_pool_pages(Some(1 << 20), 0, 4096, 10), 256);
        assert_eq!(max_page_order(0x4000), 11);
    }
}
