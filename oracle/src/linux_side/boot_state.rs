//! The boot phase a paused guest is in, read from the kernel's own variables when a
//! traced call is made: observed for the record and to place the call on the timeline
//! (docs/observed-inputs.md), never used to decide policy.

use crate::error::Result;
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::GuestKernel;

/// The kernel's boot phase when a call was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObservedBootState {
    /// `page_alloc_available` (arch/arm64/mm/init.c: set at the start of mem_init()).
    pub page_alloc_available: bool,
    /// `__num_online_cpus`.
    pub online_cpus: u32,
    /// `ARM64_ALWAYS_SYSTEM` (bit 1) set in `system_cpucaps`: system capabilities are
    /// set up (the kernel patches alternatives right after).
    pub caps_finalized: bool,
}

/// Reads the boot phase. A kernel without `page_alloc_available` (6.12: no split gate
/// reads it) has its page allocator up once `mem_init()`'s `memblock_free_all()` has
/// counted the pages into `_totalram_pages` (arch/arm64/mm/init.c:366-384 in 6.12).
pub fn read<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>) -> Result<ObservedBootState> {
    let byte = |sym: &str| -> Result<u8> { Ok(gk.mem.bytes(gk.sym_pa(sym)?, 1)?[0]) };
    let page_alloc_available = match gk.sym_pa("page_alloc_available") {
        Ok(_) => byte("page_alloc_available")? != 0,
        Err(_) => gk.read_u64_sym("_totalram_pages")? != 0,
    };
    Ok(ObservedBootState {
        page_alloc_available,
        online_cpus: gk.read_u64_sym("__num_online_cpus")? as u32,
        caps_finalized: gk.read_u64_sym("system_cpucaps")? & (1 << 1) != 0,
    })
}
