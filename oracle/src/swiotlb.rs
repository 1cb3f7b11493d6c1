//! The swiotlb default pool (`io_tlb_default_mem.defpool`) read from guest RAM with
//! layouts from DWARF: the range a realm kernel decrypts at `mem_init()`.

use std::collections::HashMap;

use anyhow::Result;

use crate::dwarf::StructLayout;
use crate::guest_memory::GuestMemory;
use crate::linux_side::KernelView;
use crate::symbols::KernelSymbols;

/// Structures this module reads.
pub const STRUCTS: &[&str] = &["io_tlb_mem", "io_tlb_pool"];

/// The default pool's physical range and slab count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwiotlbPool {
    pub start: u64,
    pub end: u64,
    pub nslabs: u64,
}

/// Reads `io_tlb_default_mem.defpool`; `None` when the kernel has no swiotlb pool.
pub fn default_pool<M: GuestMemory + ?Sized>(
    mem: &M,
    syms: &KernelSymbols,
    view: &KernelView,
    layouts: &HashMap<String, StructLayout>,
) -> Result<Option<SwiotlbPool>> {
    let get = |name: &str| layouts.get(name).ok_or_else(|| anyhow::anyhow!("no layout for struct {name}"));
    let (tlb_mem, pool) = (get("io_tlb_mem")?, get("io_tlb_pool")?);
    let defpool = view.kimage_to_phys(syms.get("io_tlb_default_mem")?) + tlb_mem.offset("io_tlb_mem", "defpool")?;
    let field = |name: &str| -> Result<u64> { Ok(mem.read_u64(defpool + pool.offset("io_tlb_pool", name)?)?) };
    let p = SwiotlbPool { start: field("start")?, end: field("end")?, nslabs: field("nslabs")? };
    Ok((p.nslabs != 0).then_some(p))
}
