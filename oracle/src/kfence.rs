//! The KFENCE pool read from guest RAM: where `__kfence_pool` is, and which object
//! pages are protected because their object was freed (allocator state, like
//! memblock: observed, not decided by policy). Layouts from DWARF.

use std::collections::HashMap;

use anyhow::Result;

use crate::dwarf::StructLayout;
use crate::guest_memory::GuestMemory;
use crate::linux_side::KernelView;
use crate::symbols::KernelSymbols;

/// Structures this module reads (only with CONFIG_KFENCE).
pub const STRUCTS: &[&str] = &["kfence_metadata"];

/// `enum kfence_object_state` (mm/kfence/kfence.h, 7.3).
const KFENCE_OBJECT_RCU_FREEING: u32 = 2;
const KFENCE_OBJECT_FREED: u32 = 3;

/// The early pool and its object states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KfencePool {
    /// PA of `__kfence_pool`.
    pub pa: u64,
    /// `KFENCE_POOL_SIZE`.
    pub size: u64,
    /// PAs of object pages protected on free (`kfence_guarded_free` → `kfence_protect`).
    pub freed_object_pages: Vec<u64>,
}

/// Reads the pool; `None` when `__kfence_pool` is NULL (no early pool).
pub fn pool<M: GuestMemory + ?Sized>(
    mem: &M,
    syms: &KernelSymbols,
    view: &KernelView,
    layouts: &HashMap<String, StructLayout>,
    num_objects: u64,
    page_size: u64,
) -> Result<Option<KfencePool>> {
    let pool_va = mem.read_u64(view.kimage_to_phys(syms.get("__kfence_pool")?))?;
    if pool_va == 0 {
        return Ok(None);
    }
    let pa = view.virt_to_phys(pool_va)?;
    let size = (num_objects + 1) * 2 * page_size;
    let meta = layouts.get("kfence_metadata").ok_or_else(|| anyhow::anyhow!("no layout for struct kfence_metadata"))?;
    let (state_off, addr_off) = (meta.offset("kfence_metadata", "state")?, meta.offset("kfence_metadata", "addr")?);
    let array_va = mem.read_u64(view.kimage_to_phys(syms.get("kfence_metadata")?))?;
    let mut freed_object_pages = Vec::new();
    if array_va == 0 {
        // Before kfence_init() (the pool exists from map_mem on): no object yet.
        return Ok(Some(KfencePool { pa, size, freed_object_pages }));
    }
    let array = view.virt_to_phys(array_va)?;
    for i in 0..num_objects {
        let m = array + i * meta.size;
        let state = mem.read_u64(m + state_off)? as u32;
        if state == KFENCE_OBJECT_FREED || state == KFENCE_OBJECT_RCU_FREEING {
            let addr = mem.read_u64(m + addr_off)?;
            freed_object_pages.push(view.virt_to_phys(addr & !(page_size - 1))?);
        }
    }
    freed_object_pages.sort_unstable();
    Ok(Some(KfencePool { pa, size, freed_object_pages }))
}
