//! The swiotlb default pool (`io_tlb_default_mem.defpool`) read from guest RAM with
//! layouts from DWARF: the range a realm kernel decrypts at `mem_init()`.

use rust_impl::address::PhysAddr;

use crate::error::Result;
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::GuestKernel;

/// Structures this module reads.
pub const STRUCTS: &[&str] = &["io_tlb_mem", "io_tlb_pool"];

/// The default pool's physical range and slab count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwiotlbPool {
    pub start: PhysAddr,
    pub end: PhysAddr,
    pub nslabs: u64,
}

/// Reads `io_tlb_default_mem.defpool`; `None` when the kernel has no swiotlb pool.
pub fn default_pool<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>) -> Result<Option<SwiotlbPool>> {
    let (tlb_mem, pool) = (gk.info.layout("io_tlb_mem")?, gk.info.layout("io_tlb_pool")?);
    let defpool = gk.sym_pa("io_tlb_default_mem")?.0 + tlb_mem.offset("io_tlb_mem", "defpool")?;
    let field = |name: &str| -> Result<u64> { gk.read_u64(PhysAddr(defpool + pool.offset("io_tlb_pool", name)?)) };
    let p = SwiotlbPool { start: PhysAddr(field("start")?), end: PhysAddr(field("end")?), nslabs: field("nslabs")? };
    Ok((p.nslabs != 0).then_some(p))
}
