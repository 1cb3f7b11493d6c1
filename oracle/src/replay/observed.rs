//! What the replay takes from the guest: only what policy does not decide (allocator
//! output, memory banks, image placement; docs/observed-inputs.md lists each).

use rust_impl::granule::Granule;

use crate::linux_side::free_pages::FreeRanges;
use crate::linux_side::kfence::KfencePool;
use crate::linux_side::memblock::MemblockRegion;
use crate::linux_side::{ImageLayout, LinuxSide};
use rust_impl::address::PhysAddr;

/// The observed inputs at one checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub granule: Granule,
    pub va_bits: u32,
    pub memstart_addr: PhysAddr,
    pub memblock: Vec<MemblockRegion>,
    pub image: ImageLayout,
    /// The KFENCE early pool, when the kernel made one, with its freed objects.
    pub kfence: Option<KfencePool>,
    /// CONFIG_DEBUG_PAGEALLOC: the page allocator's free pages (buddy and per-CPU lists).
    pub free_pages: Option<FreeRanges>,
}

impl Observed {
    pub fn from_linux_side(side: &LinuxSide) -> Observed {
        Observed {
            granule: side.config.granule,
            va_bits: side.config.va_bits,
            memstart_addr: side.view.memstart_addr,
            memblock: side.memblock_memory.clone(),
            image: side.image,
            kfence: side.kfence.clone(),
            free_pages: side.free_pages.clone(),
        }
    }
}
