//! `memblock.memory` read from guest RAM with layouts from DWARF: the memory banks
//! `map_mem()` maps, with their flags (NOMAP regions are left out of the linear map).

use anyhow::{bail, Result};

use crate::dwarf::StructLayout;
use crate::guest_memory::GuestMemory;
use crate::linux_side::KernelView;
use crate::symbols::KernelSymbols;

/// `MEMBLOCK_NOMAP` (include/linux/memblock.h, 7.3).
pub const MEMBLOCK_NOMAP: u32 = 0x4;

/// Structures this module reads.
pub const STRUCTS: &[&str] = &["memblock", "memblock_type", "memblock_region"];

/// One `struct memblock_region`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemblockRegion {
    pub base: u64,
    pub size: u64,
    pub flags: u32,
}

impl MemblockRegion {
    pub fn end(&self) -> u64 {
        self.base.saturating_add(self.size)
    }
}

/// Regions of `memblock.memory`, in the kernel's order.
pub fn memory_regions<M: GuestMemory + ?Sized>(
    mem: &M,
    syms: &KernelSymbols,
    view: &KernelView,
    layouts: &std::collections::HashMap<String, StructLayout>,
) -> Result<Vec<MemblockRegion>> {
    let get = |name: &str| layouts.get(name).ok_or_else(|| anyhow::anyhow!("no layout for struct {name}"));
    let (mb, ty, region) = (get("memblock")?, get("memblock_type")?, get("memblock_region")?);
    let memory = view.kimage_to_phys(syms.get("memblock")?) + mb.offset("memblock", "memory")?;
    let cnt = mem.read_u64(memory + ty.offset("memblock_type", "cnt")?)?;
    let regions_va = mem.read_u64(memory + ty.offset("memblock_type", "regions")?)?;
    if cnt > 1 << 16 {
        bail!("memblock.memory.cnt is {cnt}: not a believable region count");
    }
    let regions = view.virt_to_phys(regions_va)?;
    let (base_off, size_off, flags_off) = (
        region.offset("memblock_region", "base")?,
        region.offset("memblock_region", "size")?,
        region.offset("memblock_region", "flags")?,
    );
    (0..cnt)
        .map(|i| {
            let r = regions + i * region.size;
            Ok(MemblockRegion {
                base: mem.read_u64(r + base_off)?,
                size: mem.read_u64(r + size_off)?,
                flags: mem.read_u64(r + flags_off)? as u32,
            })
        })
        .collect()
}
