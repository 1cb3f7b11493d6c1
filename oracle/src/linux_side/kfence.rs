//! The KFENCE pool read from guest RAM: where `__kfence_pool` is, and which object
//! pages are protected because their object was freed (allocator state, like
//! memblock: observed, not decided by policy). Layouts from DWARF.

use rust_impl::address::{PhysAddr, VirtAddr};

use crate::error::Result;
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::GuestKernel;

/// Structures (and the enumeration) this module reads (only with CONFIG_KFENCE).
pub const STRUCTS: &[&str] = &["kfence_metadata", OBJECT_STATE];

/// `enum kfence_object_state` (mm/kfence/kfence.h): only a FREED object's page is
/// protected. An object of a SLAB_TYPESAFE_BY_RCU cache is RCU_FREEING from
/// `__kfence_free()` until its RCU callback runs `kfence_guarded_free()`, and its page
/// stays mapped until then (mm/kfence/core.c:1254-1256, 599-604, in 7.3). The value is
/// read from the kernel's DWARF.
pub const OBJECT_STATE: &str = "enum kfence_object_state";
/// The state whose page is protected.
pub const PROTECTED_STATE: &str = "KFENCE_OBJECT_FREED";

/// The early pool and its object states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KfencePool {
    /// PA of `__kfence_pool`.
    pub pa: PhysAddr,
    /// `KFENCE_POOL_SIZE`.
    pub size: u64,
    /// PAs of object pages protected on free (`kfence_guarded_free` → `kfence_protect`).
    pub freed_object_pages: Vec<PhysAddr>,
}

/// Reads the pool of a kernel with `num_objects` KFENCE objects; `None` when
/// `__kfence_pool` is NULL (no early pool).
pub fn pool<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>, num_objects: u64) -> Result<Option<KfencePool>> {
    let page_size = gk.info.granule.page_size();
    let pool_va = gk.read_u64_sym("__kfence_pool")?;
    if pool_va == 0 {
        return Ok(None);
    }
    let pa = gk.view.virt_to_phys(VirtAddr(pool_va))?;
    let size = (num_objects + 1) * 2 * page_size;
    let meta = gk.info.layout("kfence_metadata")?;
    let (state_off, addr_off) = (meta.offset("kfence_metadata", "state")?, meta.offset("kfence_metadata", "addr")?);
    let freed = gk.info.layout(OBJECT_STATE)?.offset(OBJECT_STATE, PROTECTED_STATE)? as u32;
    let array_va = gk.read_u64_sym("kfence_metadata")?;
    let mut freed_object_pages = Vec::new();
    if array_va == 0 {
        // Before kfence_init() (the pool exists from map_mem on): no object yet.
        return Ok(Some(KfencePool { pa, size, freed_object_pages }));
    }
    let array = gk.view.virt_to_phys(VirtAddr(array_va))?;
    for i in 0..num_objects {
        let m = array.0 + i * meta.size;
        let state = gk.read_u64(PhysAddr(m + state_off))? as u32;
        if state == freed {
            let addr = gk.read_u64(PhysAddr(m + addr_off))?;
            freed_object_pages.push(gk.view.virt_to_phys(VirtAddr(addr & !(page_size - 1)))?);
        }
    }
    freed_object_pages.sort_unstable();
    Ok(Some(KfencePool { pa, size, freed_object_pages }))
}
