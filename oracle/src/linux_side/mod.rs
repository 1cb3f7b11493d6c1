//! The Linux side: everything read from a paused guest, through one guest-kernel context
//! ([`kernel::GuestKernel`]: guest memory, symbols, DWARF layouts, where the kernel sits).
//! [`read_linux_side`] walks the linear map from `swapper_pg_dir`, normalises it and reads
//! the inputs the model takes from the guest (docs/observed-inputs.md).

pub mod boot_state;
pub mod code_sites;
pub mod cpu_regs;
pub mod dwarf;
pub mod free_pages;
pub mod guest_memory;
pub mod kernel;
pub mod kernel_view;
pub mod kfence;
pub mod memblock;
pub mod monitor_log;
pub mod ptdump;
pub mod ptdump_check;
pub mod realm;
pub mod swiotlb;
pub mod gic_tables;
pub mod symbols;
pub mod walker;

use rust_impl::address::PhysAddr;
use rust_impl::granule::Granule;
use rust_impl::linear_map::LinearMap;

use crate::error::{Error, Result};
use cpu_regs::CpuRegs;
use guest_memory::GuestMemory;
use kernel::GuestKernel;
use kernel_view::KernelView;
use realm::{realm_view, RealmView};
use kfence::KfencePool;
use memblock::MemblockRegion;
use swiotlb::SwiotlbPool;
use walker::{Visit, WalkConfig};

/// The walked and normalised linear map, and what was read beside it.
#[derive(Clone, Debug)]
pub struct LinuxSide {
    pub view: KernelView,
    pub config: WalkConfig,
    pub visits: Vec<Visit>,
    pub linear_map: LinearMap,
    /// `memblock.memory`: the banks map_mem() mapped, with flags.
    pub memblock_memory: Vec<MemblockRegion>,
    /// The swiotlb default pool, if there is one.
    pub swiotlb: Option<SwiotlbPool>,
    /// Physical addresses of the kernel image sections map_mem() treats specially.
    pub image: ImageLayout,
    /// The KFENCE early pool (CONFIG_KFENCE with an early pool only).
    pub kfence: Option<KfencePool>,
    /// The realm as the kernel sees it, once `arm64_rsi_init` found one.
    pub realm: Option<RealmView>,
    /// Realm only: the buffers the GIC's ITS and redistributors were told about, from
    /// their registers (read by the capture, not from guest RAM).
    pub device_buffers: Vec<gic_tables::DeviceBuffer>,
    /// `arm64_dma_phys_limit`: the top of ZONE_DMA, from the firmware's DMA ranges.
    pub dma_phys_limit: PhysAddr,
    /// CONFIG_DEBUG_PAGEALLOC only: the page allocator's free pages (buddy and per-CPU
    /// lists), which debug_pagealloc unmaps.
    pub free_pages: Option<free_pages::FreeRanges>,
}

/// PAs of the kernel image symbols that bound the linear aliases map_mem() maps first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    pub text: PhysAddr,
    pub stext: PhysAddr,
    pub init_begin: PhysAddr,
    pub init_end: PhysAddr,
    pub bss_stop: PhysAddr,
}

/// `TTBR1_BADDR_4852_OFFSET` (arch/arm64/include/asm/pgtable-hwdef.h:287-293, 7.3) when
/// `offset_ttbr1` applies (arch/arm64/include/asm/assembler.h:608-616): a 52-bit kernel
/// without LPA2 (64K pages) running with 48 bits points TTBR1_EL1 at the last
/// `PTRS_PER_PGD_48_VA` entries of its 52-bit `swapper_pg_dir`, which are the ones its
/// 48-bit addresses index. 0 otherwise.
fn ttbr1_4852_offset(granule: Granule, kernel_va_bits: u32, va_bits: u32) -> u64 {
    if granule != Granule::G64K || kernel_va_bits != 52 || va_bits != granule.va_bits_min(52) {
        return 0;
    }
    let pgdir_shift = granule.level_shift(granule.start_level(52));
    ((1u64 << (52 - pgdir_shift)) - (1u64 << (48 - pgdir_shift))) * 8
}

/// Reads the Linux side from a stopped guest. With the CPU's registers, the walk takes
/// granule and VA size from TCR_EL1 and checks TTBR1_EL1, TCR_EL1 and MAIR_EL1 against
/// the kernel (its `.config` and `swapper_pg_dir`).
pub fn read_linux_side<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>, regs: Option<CpuRegs>) -> Result<LinuxSide> {
    let view = gk.view;
    let (mut granule, mut va_bits) = (gk.info.granule, gk.info.va_bits);
    let mut root = view.swapper_pa;
    if let Some(r) = regs {
        let (g, v) = (r.granule()?, r.va_bits());
        // A 52-bit kernel runs with VA_BITS_MIN on a CPU without LPA2 or FEAT_LVA.
        if g != granule || !granule.runs_with(va_bits, v) {
            return Err(Error::Guest(format!("TCR_EL1 {:#x} says {g:?} pages and {v}-bit VAs, the kernel config {granule:?} and {va_bits}", r.tcr)));
        }
        let lpa2 = g.lpa2(v);
        if r.ds() != lpa2 {
            return Err(Error::Guest(format!("TCR_EL1 {:#x}: DS is {}, but {v}-bit VAs with {g:?} pages {} LPA2 descriptors", r.tcr, u8::from(r.ds()), if lpa2 { "need" } else { "do not use" })));
        }
        root = PhysAddr(view.swapper_pa.0 + ttbr1_4852_offset(g, va_bits, v));
        if r.ttbr1_baddr() != root {
            return Err(Error::Guest(format!("TTBR1_EL1 {:#x} does not point at swapper_pg_dir (PA {}{})", r.ttbr1, view.swapper_pa, if root != view.swapper_pa { format!(" + {:#x}", root.0 - view.swapper_pa.0) } else { String::new() })));
        }
        r.check_mair()?;
        (granule, va_bits) = (g, v);
    }
    let realm = realm_view(gk)?;
    let config = WalkConfig { granule, va_bits, root, shared_mask: realm.map_or(0, |r| r.prot_ns_shared) };
    let visits = walker::walk(gk.mem, config, config.page_offset(), config.page_end())?;
    let linear_map = LinearMap::from_leaves(walker::leaves(&visits));
    let memblock_memory = memblock::memory_regions(gk)?;
    let swiotlb = swiotlb::default_pool(gk)?;
    let image = ImageLayout {
        text: gk.sym_pa("_text")?,
        stext: gk.sym_pa("_stext")?,
        init_begin: gk.sym_pa("__init_begin")?,
        init_end: gk.sym_pa("__init_end")?,
        bss_stop: gk.sym_pa("__bss_stop")?,
    };
    let kfence = match gk.info.config.kfence_objects() {
        Some(n) => kfence::pool(gk, n)?,
        None => None,
    };
    let dma_phys_limit = PhysAddr(gk.read_u64_sym("arm64_dma_phys_limit")?);
    let free_pages = if gk.info.config.enabled("CONFIG_DEBUG_PAGEALLOC") { Some(free_pages::free_pages(gk, config)?) } else { None };
    Ok(LinuxSide { view, config, visits, linear_map, memblock_memory, swiotlb, image, kfence, realm, device_buffers: Vec::new(), dma_phys_limit, free_pages })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttbr1_offset_of_a_52_bit_64k_kernel_at_48_bits() {
        // PGDIR_SHIFT 42: 1024 entries for 52 bits, the last 64 for 48 bits.
        assert_eq!(ttbr1_4852_offset(Granule::G64K, 52, 48), (1024 - 64) * 8);
        assert_eq!(ttbr1_4852_offset(Granule::G64K, 52, 52), 0);
        assert_eq!(ttbr1_4852_offset(Granule::G64K, 48, 48), 0);
        // LPA2 kernels fold a level instead (p4d_to_folded_pud()).
        assert_eq!(ttbr1_4852_offset(Granule::G4K, 52, 48), 0);
        assert_eq!(ttbr1_4852_offset(Granule::G16K, 52, 47), 0);
    }
}
