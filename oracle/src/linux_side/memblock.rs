//! `memblock.memory` read from guest RAM with layouts from DWARF: the memory banks
//! `map_mem()` maps, with their flags (NOMAP regions are left out of the linear map).

use rust_impl::address::{PhysAddr, VirtAddr};
pub use rust_impl::map_mem::MemblockRegion;

use crate::error::{Error, Result};
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::GuestKernel;

/// `MEMBLOCK_NOMAP` (include/linux/memblock.h, 7.3).
pub const MEMBLOCK_NOMAP: u32 = 0x4;

/// Structures this module reads.
pub const STRUCTS: &[&str] = &["memblock", "memblock_type", "memblock_region"];

/// Regions of `memblock.memory`, in the kernel's order.
pub fn memory_regions<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>) -> Result<Vec<MemblockRegion>> {
    let (mb, ty, region) = (gk.info.layout("memblock")?, gk.info.layout("memblock_type")?, gk.info.layout("memblock_region")?);
    let memory = gk.sym_pa("memblock")?.0 + mb.offset("memblock", "memory")?;
    let cnt = gk.read_u64(PhysAddr(memory + ty.offset("memblock_type", "cnt")?))?;
    let regions_va = VirtAddr(gk.read_u64(PhysAddr(memory + ty.offset("memblock_type", "regions")?))?);
    if cnt > 1 << 16 {
        return Err(Error::Guest(format!("memblock.memory.cnt is {cnt}: not a believable region count")));
    }
    let regions = gk.view.virt_to_phys(regions_va)?;
    let (base_off, size_off, flags_off) = (
        region.offset("memblock_region", "base")?,
        region.offset("memblock_region", "size")?,
        region.offset("memblock_region", "flags")?,
    );
    (0..cnt)
        .map(|i| {
            let r = regions.0 + i * region.size;
            Ok(MemblockRegion {
                base: PhysAddr(gk.read_u64(PhysAddr(r + base_off))?),
                size: gk.read_u64(PhysAddr(r + size_off))?,
                flags: gk.read_u64(PhysAddr(r + flags_off))? as u32,
            })
        })
        .collect()
}
