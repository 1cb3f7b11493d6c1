//! The Linux side of a comparison, read from outside the guest: find the kernel image in
//! guest RAM, derive `kimage_voffset` and `swapper_pg_dir`'s PA from it, check them
//! against the kernel's own variables, walk the linear map and normalise it.

use std::path::Path;

use anyhow::{bail, Context, Result};
use linux_harness::config::parse_config;
use linux_harness::KernelArtifacts;
use rust_impl::granule::Granule;
use rust_impl::linear_map::LinearMap;

use crate::cpu_regs::CpuRegs;
use crate::guest_memory::GuestMemory;
use crate::memblock::{self, MemblockRegion};
use crate::dwarf;
use crate::kfence::{self, KfencePool};
use crate::swiotlb::{self, SwiotlbPool};
use crate::symbols::KernelSymbols;
use crate::walker::{self, Visit, WalkConfig};

/// Where the kernel sits, as read from guest memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelView {
    /// PA of `_text`.
    pub text_pa: u64,
    /// kimage VA − PA.
    pub kimage_voffset: u64,
    /// `memstart_addr` (PHYS_OFFSET).
    pub memstart_addr: u64,
    /// PA of `swapper_pg_dir`.
    pub swapper_pa: u64,
    /// `PAGE_OFFSET` and `PAGE_END`: the linear map's VA range.
    pub page_offset: u64,
    pub page_end: u64,
}

impl KernelView {
    /// PA of a kernel-image VA.
    pub fn kimage_to_phys(&self, va: u64) -> u64 {
        va.wrapping_sub(self.kimage_voffset)
    }

    /// PA of a kernel VA in the linear map or the kernel image (`__virt_to_phys`).
    pub fn virt_to_phys(&self, va: u64) -> Result<u64> {
        if va >= self.page_offset && va < self.page_end {
            Ok((va - self.page_offset).wrapping_add(self.memstart_addr))
        } else if va >= self.page_end {
            Ok(self.kimage_to_phys(va))
        } else {
            bail!("{va:#x} is not a kernel address")
        }
    }
}

/// Granule and VA size from the kernel's `.config`.
pub fn translation_config(config_file: &Path) -> Result<(Granule, u32)> {
    let text = std::fs::read_to_string(config_file).with_context(|| format!("reading {}", config_file.display()))?;
    let cfg = parse_config(&text);
    let granule = if cfg.get("CONFIG_ARM64_64K_PAGES").is_some_and(|v| v == "y") {
        Granule::G64K
    } else if cfg.get("CONFIG_ARM64_16K_PAGES").is_some_and(|v| v == "y") {
        Granule::G16K
    } else {
        Granule::G4K
    };
    let va_bits: u32 = cfg
        .get("CONFIG_ARM64_VA_BITS")
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("{}: no CONFIG_ARM64_VA_BITS", config_file.display()))?;
    Ok((granule, va_bits))
}

/// Finds the kernel Image in guest RAM by its first bytes (the Image header, which the
/// kernel never writes), trying 64 KiB-aligned offsets.
pub fn locate_image<M: GuestMemory + ?Sized>(mem: &M, ram_base: u64, ram_size: u64, image_head: &[u8]) -> Result<u64> {
    const STEP: u64 = 64 << 10;
    let mut off = 0;
    while off + image_head.len() as u64 <= ram_size {
        if mem.bytes(ram_base + off, image_head.len())? == image_head {
            return Ok(ram_base + off);
        }
        off += STEP;
    }
    bail!("the kernel Image was not found in guest RAM (searched {ram_size:#x} bytes from {ram_base:#x})")
}

/// Reads where the kernel is and cross-checks its own variables.
pub fn kernel_view<M: GuestMemory + ?Sized>(mem: &M, ram_base: u64, ram_size: u64, kernel: &KernelArtifacts, syms: &KernelSymbols, va_bits: u32) -> Result<KernelView> {
    // The Image header (its first 256 bytes) is enough to find it.
    let mut head = Vec::with_capacity(256);
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(&kernel.image).with_context(|| format!("opening {}", kernel.image.display()))?, 256),
        &mut head,
    )?;
    let text_pa = locate_image(mem, ram_base, ram_size, &head)?;
    let kimage_voffset = syms.get("_text")?.wrapping_sub(text_pa);
    let pa = |sym: &str| -> Result<u64> { Ok(syms.get(sym)?.wrapping_sub(kimage_voffset)) };
    let in_guest = mem.read_u64(pa("kimage_voffset")?)?;
    if in_guest != kimage_voffset {
        bail!("kimage_voffset in guest memory is {in_guest:#x}, but the Image is at PA {text_pa:#x} (voffset {kimage_voffset:#x})");
    }
    let memstart_addr = mem.read_u64(pa("memstart_addr")?)?;
    let page_offset = (!0u64) << va_bits;
    let page_end = page_offset + (1u64 << (va_bits - 1));
    Ok(KernelView { text_pa, kimage_voffset, memstart_addr, swapper_pa: pa("swapper_pg_dir")?, page_offset, page_end })
}

/// The walked and normalised linear map.
pub struct LinuxSide {
    pub view: KernelView,
    pub config: WalkConfig,
    pub visits: Vec<Visit>,
    pub linear_map: LinearMap,
    /// `memblock.memory`: the banks map_mem() mapped, with flags.
    pub memblock_memory: Vec<MemblockRegion>,
    /// The swiotlb default pool, if there is one.
    pub swiotlb: Option<SwiotlbPool>,
    /// Physical addresses of the kernel image sections map_mem() treats specially.
    pub image: ImageLayout,
    /// The KFENCE early pool (CONFIG_KFENCE with an early pool only).
    pub kfence: Option<KfencePool>,
    /// The realm as the kernel sees it, once `arm64_rsi_init` found one.
    pub realm: Option<RealmView>,
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
pub fn realm_view<M: GuestMemory + ?Sized>(mem: &M, syms: &KernelSymbols, view: &KernelView) -> Result<Option<RealmView>> {
    let pa = |sym: &str| -> Result<u64> { Ok(view.kimage_to_phys(syms.get(sym)?)) };
    let enabled = mem.bytes(pa("rsi_present")?, 4)?;
    if u32::from_le_bytes([enabled[0], enabled[1], enabled[2], enabled[3]]) == 0 {
        return Ok(None);
    }
    let prot_ns_shared = mem.read_u64(pa("prot_ns_shared")?)?;
    let ipa_bits = mem.read_u64(pa("config")?)?;
    if ipa_bits == 0 || ipa_bits > 52 || prot_ns_shared != 1 << (ipa_bits - 1) {
        bail!("realm: prot_ns_shared {prot_ns_shared:#x} does not match config.ipa_bits {ipa_bits} (expected BIT(ipa_bits - 1) with 48-bit PAs)");
    }
    Ok(Some(RealmView { prot_ns_shared, ipa_bits }))
}

/// PAs of the kernel image symbols that bound the linear aliases map_mem() maps first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageLayout {
    pub text: u64,
    pub stext: u64,
    pub init_begin: u64,
    pub init_end: u64,
    pub bss_stop: u64,
}

/// Reads the Linux side from a stopped guest's memory. With the CPU's registers, the
/// walk takes granule and VA size from TCR_EL1 and checks TTBR1_EL1, TCR_EL1 and
/// MAIR_EL1 against the kernel (its `.config` and `swapper_pg_dir`).
pub fn read_linux_side<M: GuestMemory + ?Sized>(mem: &M, ram_base: u64, ram_size: u64, kernel: &KernelArtifacts, regs: Option<CpuRegs>) -> Result<LinuxSide> {
    let syms = KernelSymbols::load(&kernel.vmlinux)?;
    read_linux_side_with(mem, ram_base, ram_size, kernel, regs, &syms)
}

/// [`read_linux_side`] with the kernel's symbols already loaded (reading them is the
/// slow part; checkpoint captures load them once per boot).
pub fn read_linux_side_with<M: GuestMemory + ?Sized>(
    mem: &M,
    ram_base: u64,
    ram_size: u64,
    kernel: &KernelArtifacts,
    regs: Option<CpuRegs>,
    syms: &KernelSymbols,
) -> Result<LinuxSide> {
    let (mut granule, mut va_bits) = translation_config(&kernel.config)?;
    let view = kernel_view(mem, ram_base, ram_size, kernel, syms, va_bits)?;
    if let Some(r) = regs {
        if r.ttbr1_baddr() != view.swapper_pa {
            bail!("TTBR1_EL1 {:#x} does not point at swapper_pg_dir (PA {:#x})", r.ttbr1, view.swapper_pa);
        }
        let (g, v) = (r.granule()?, r.va_bits());
        if (g, v) != (granule, va_bits) {
            bail!("TCR_EL1 {:#x} says {g:?} pages and {v}-bit VAs, the kernel config {granule:?} and {va_bits}", r.tcr);
        }
        r.check_mair()?;
        (granule, va_bits) = (g, v);
    }
    let realm = realm_view(mem, syms, &view)?;
    let config = WalkConfig { granule, va_bits, root: view.swapper_pa, shared_mask: realm.map_or(0, |r| r.prot_ns_shared) };
    let visits = walker::walk(mem, config, config.page_offset(), config.page_end())??;
    let linear_map = LinearMap::from_leaves(walker::leaves(&visits));
    let kernel_config = parse_config(&std::fs::read_to_string(&kernel.config)?);
    let kfence_objects: Option<u64> =
        (kernel_config.get("CONFIG_KFENCE").is_some_and(|v| v == "y")).then(|| kernel_config.get("CONFIG_KFENCE_NUM_OBJECTS").and_then(|n| n.parse().ok()).unwrap_or(255));
    let mut structs: Vec<&str> = memblock::STRUCTS.iter().chain(swiotlb::STRUCTS).copied().collect();
    if kfence_objects.is_some() {
        structs.extend(kfence::STRUCTS);
    }
    let layouts = dwarf::layouts(&kernel.vmlinux, &kernel.dir.join("layouts.json"), &structs)?;
    let memblock_memory = memblock::memory_regions(mem, syms, &view, &layouts)?;
    let swiotlb = swiotlb::default_pool(mem, syms, &view, &layouts)?;
    let pa = |sym: &str| -> Result<u64> { Ok(view.kimage_to_phys(syms.get(sym)?)) };
    let image = ImageLayout { text: pa("_text")?, stext: pa("_stext")?, init_begin: pa("__init_begin")?, init_end: pa("__init_end")?, bss_stop: pa("__bss_stop")? };
    let kfence = match kfence_objects {
        Some(n) => kfence::pool(mem, syms, &view, &layouts, n, granule.page_size())?,
        None => None,
    };
    Ok(LinuxSide { view, config, visits, linear_map, memblock_memory, swiotlb, image, kfence, realm })
}
