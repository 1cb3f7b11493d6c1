//! Where the kernel sits in a paused guest: its Image, `kimage_voffset`,
//! `memstart_addr`, `swapper_pg_dir` and the linear map's VA range, and the address
//! arithmetic between them (found by `kernel::GuestKernel::attach`).

use rust_impl::address::{PhysAddr, VirtAddr};

use crate::error::{Error, Result};

/// Where the kernel is, as read from guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelView {
    /// PA of `_text`.
    pub text_pa: PhysAddr,
    /// kimage VA − PA.
    pub kimage_voffset: u64,
    /// `memstart_addr` (PHYS_OFFSET).
    pub memstart_addr: PhysAddr,
    /// PA of `swapper_pg_dir`.
    pub swapper_pa: PhysAddr,
    /// `PAGE_OFFSET` and `PAGE_END`: the linear map's VA range.
    pub page_offset: VirtAddr,
    pub page_end: VirtAddr,
}

impl KernelView {
    /// PA of a kernel-image VA.
    pub fn kimage_to_phys(&self, va: VirtAddr) -> PhysAddr {
        PhysAddr(va.0.wrapping_sub(self.kimage_voffset))
    }

    /// PA of a kernel VA in the linear map or the kernel image (`__virt_to_phys`).
    pub fn virt_to_phys(&self, va: VirtAddr) -> Result<PhysAddr> {
        if va >= self.page_offset && va < self.page_end {
            Ok(PhysAddr((va.0 - self.page_offset.0).wrapping_add(self.memstart_addr.0)))
        } else if va >= self.page_end {
            Ok(self.kimage_to_phys(va))
        } else {
            Err(Error::Guest(format!("{va} is not a kernel address")))
        }
    }
}
