//! Where the kernel sits in a paused guest: the Image found in RAM by its header,
//! `kimage_voffset` derived from it and checked against the kernel's own variable,
//! `memstart_addr`, `swapper_pg_dir` and the linear map's VA range; and, once
//! `arm64_rsi_init()` found one, the realm as the kernel recorded it.

use rust_impl::address::{PhysAddr, VirtAddr};

use crate::error::{Error, Result};
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::{GuestKernel, KernelInfo};

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

/// Finds the kernel Image in guest RAM by its first bytes (the Image header, which the
/// kernel never writes), trying 64 KiB-aligned offsets.
pub fn locate_image<M: GuestMemory + ?Sized>(mem: &M, ram_base: PhysAddr, ram_size: u64, image_head: &[u8]) -> Result<PhysAddr> {
    const STEP: u64 = 64 << 10;
    let mut off = 0;
    while off + image_head.len() as u64 <= ram_size {
        let pa = PhysAddr(ram_base.0 + off);
        if mem.bytes(pa, image_head.len())? == image_head {
            return Ok(pa);
        }
        off += STEP;
    }
    Err(Error::Guest(format!("the kernel Image was not found in guest RAM (searched {ram_size:#x} bytes from {ram_base})")))
}

/// Reads where the kernel is and cross-checks its own variables.
pub fn kernel_view<M: GuestMemory + ?Sized>(mem: &M, ram_base: PhysAddr, ram_size: u64, info: &KernelInfo) -> Result<KernelView> {
    let text_pa = locate_image(mem, ram_base, ram_size, &info.image_head)?;
    let kimage_voffset = info.symbols.get("_text")?.wrapping_sub(text_pa.0);
    let pa = |sym: &str| -> Result<PhysAddr> { Ok(PhysAddr(info.symbols.get(sym)?.wrapping_sub(kimage_voffset))) };
    let in_guest = mem.read_u64(pa("kimage_voffset")?)?;
    if in_guest != kimage_voffset {
        return Err(Error::Guest(format!("kimage_voffset in guest memory is {in_guest:#x}, but the Image is at PA {text_pa} (voffset {kimage_voffset:#x})")));
    }
    let memstart_addr = PhysAddr(mem.read_u64(pa("memstart_addr")?)?);
    let page_offset = (!0u64) << info.va_bits;
    let page_end = page_offset + (1u64 << (info.va_bits - 1));
    Ok(KernelView { text_pa, kimage_voffset, memstart_addr, swapper_pa: pa("swapper_pg_dir")?, page_offset: VirtAddr(page_offset), page_end: VirtAddr(page_end) })
}

/// What the kernel recorded about its realm (arch/arm64/kernel/rsi.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealmView {
    /// `prot_ns_shared`: the shared bit as it goes into a descriptor's output address.
    pub prot_ns_shared: u64,
    /// `config.ipa_bits` as RSI_REALM_CONFIG returned it.
    pub ipa_bits: u64,
}

/// Reads `rsi_present` (the static key's `enabled` count), `prot_ns_shared` and the
/// realm config; `None` until the kernel has decided it runs in a realm.
pub fn realm_view<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>) -> Result<Option<RealmView>> {
    let enabled = gk.mem.bytes(gk.sym_pa("rsi_present")?, 4)?;
    if u32::from_le_bytes([enabled[0], enabled[1], enabled[2], enabled[3]]) == 0 {
        return Ok(None);
    }
    let prot_ns_shared = gk.read_u64_sym("prot_ns_shared")?;
    let ipa_bits = gk.read_u64_sym("config")?;
    if ipa_bits == 0 || ipa_bits > 52 || prot_ns_shared != 1 << (ipa_bits - 1) {
        return Err(Error::Guest(format!("realm: prot_ns_shared {prot_ns_shared:#x} does not match config.ipa_bits {ipa_bits} (expected BIT(ipa_bits - 1) with 48-bit PAs)")));
    }
    Ok(Some(RealmView { prot_ns_shared, ipa_bits }))
}
