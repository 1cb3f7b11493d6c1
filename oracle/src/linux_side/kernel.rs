//! One guest kernel as the host reads it: what is loaded once per prepared scenario
//! ([`KernelInfo`]: the parsed `.config`, symbols, structure layouts, the Image header),
//! and a paused guest's memory seen through it ([`GuestKernel`]: the context every reader
//! of guest structures takes).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use linux_harness::KernelArtifacts;
use rust_impl::address::{PhysAddr, VirtAddr};
use rust_impl::granule::Granule;

use crate::error::{Context, Error, Result};
use crate::linux_side::code_sites::{self, CodeSite, CodeSites, Exit, ParamAt};
use crate::linux_side::dwarf::{self, StructLayout};
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel_view::KernelView;
use crate::linux_side::symbols::KernelSymbols;
use crate::linux_side::{kfence, memblock, swiotlb};

/// A kernel's `.config`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelConfig {
    pub options: BTreeMap<String, String>,
    /// `(VERSION, PATCHLEVEL)` from the header kbuild writes (`# Linux/arm64 7.3.4 Kernel
    /// Configuration`).
    pub version: Option<(u32, u32)>,
}

impl KernelConfig {
    /// Parses `.config` text.
    pub fn parse(text: &str) -> KernelConfig {
        let version = text.lines().take(8).find_map(|l| {
            let v = l.strip_prefix("# Linux/")?.split_whitespace().nth(1)?;
            let mut parts = v.split('.');
            Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        });
        KernelConfig { options: linux_harness::config::parse_config(text), version }
    }
    /// The model's rules for this kernel's version, and whether they are only the
    /// nearest it has (`rust_impl::version`). No version in the header: 7.3's.
    pub fn rules(&self) -> (rust_impl::version::Rules, bool) {
        self.version.map_or((rust_impl::version::Rules::V7_3, false), |(major, minor)| rust_impl::version::Rules::for_version(major, minor))
    }
    /// The value of `option` (`CONFIG_...`), if set.
    pub fn get(&self, option: &str) -> Option<&str> {
        self.options.get(option).map(String::as_str)
    }
    /// Whether `option` is `y`.
    pub fn enabled(&self, option: &str) -> bool {
        self.get(option) == Some("y")
    }
    /// The translation granule and VA size the kernel was built for.
    pub fn translation(&self) -> Result<(Granule, u32)> {
        let granule = if self.enabled("CONFIG_ARM64_64K_PAGES") {
            Granule::G64K
        } else if self.enabled("CONFIG_ARM64_16K_PAGES") {
            Granule::G16K
        } else {
            Granule::G4K
        };
        let va_bits = self.get("CONFIG_ARM64_VA_BITS").and_then(|v| v.parse().ok()).context("the kernel .config has no CONFIG_ARM64_VA_BITS")?;
        Ok((granule, va_bits))
    }
    /// `CONFIG_KFENCE_NUM_OBJECTS` when KFENCE is built in.
    pub fn kfence_objects(&self) -> Option<u64> {
        self.enabled("CONFIG_KFENCE").then(|| self.get("CONFIG_KFENCE_NUM_OBJECTS").and_then(|n| n.parse().ok()).unwrap_or(255))
    }
}

/// What the host knows of a built kernel before it boots; loaded once per scenario.
pub struct KernelInfo {
    pub config: KernelConfig,
    pub symbols: KernelSymbols,
    /// Layouts of the structures the readers below need.
    pub layouts: HashMap<String, StructLayout>,
    /// Granule and VA size from the `.config`.
    pub granule: Granule,
    pub va_bits: u32,
    /// The first bytes of the Image (its header): how the Image is found in guest RAM.
    pub image_head: Vec<u8>,
    /// Where the traced and checkpoint functions run besides their symbols (clones,
    /// inlined instances).
    pub code_sites: CodeSites,
}

impl KernelInfo {
    /// Loads symbols and layouts of `kernel`, whose `.config` is `config`.
    pub fn load(kernel: &KernelArtifacts, config: KernelConfig) -> Result<KernelInfo> {
        let symbols = KernelSymbols::load(&kernel.vmlinux)?;
        let (granule, va_bits) = config.translation()?;
        let mut structs: Vec<&str> = memblock::STRUCTS.iter().chain(swiotlb::STRUCTS).copied().collect();
        if config.kfence_objects().is_some() {
            structs.extend(kfence::STRUCTS);
        }
        if config.enabled("CONFIG_DEBUG_PAGEALLOC") {
            structs.extend(crate::linux_side::free_pages::STRUCTS);
        }
        let layouts = dwarf::layouts(&kernel.vmlinux, &kernel.dir.join("layouts.json"), &structs)?;
        // The Image header (its first 256 bytes) is enough to find it.
        let mut image_head = Vec::with_capacity(256);
        std::fs::File::open(&kernel.image)
            .and_then(|f| f.take(256).read_to_end(&mut image_head))
            .map_err(|e| Error::io(format!("reading {}", kernel.image.display()), e))?;
        let functions = crate::timeline::traced_and_anchor_functions();
        let code_sites = code_sites::code_sites(&kernel.vmlinux, &kernel.dir.join("code-sites.json"), &functions)?;
        Ok(KernelInfo { config, symbols, layouts, granule, va_bits, image_head, code_sites })
    }

    /// Every place `function` runs in this build: its symbol, as a call with its first
    /// `nargs` arguments in x0.. (the procedure call standard), then the DWARF's other
    /// sites in the symbol's compile unit: compiler clones (`function.constprop.0`, ...)
    /// and instances inlined into other functions. Without a symbol, every clone and
    /// inlined instance of the name. Empty when the build has none of them.
    pub fn sites(&self, function: &str, nargs: usize) -> Vec<CodeSite> {
        let symbol = self.symbols.get(function).ok();
        let dwarf_sites = self.code_sites.get(function).map(Vec::as_slice).unwrap_or_default();
        let home = symbol.and_then(|entry| dwarf_sites.iter().find(|s| s.entry == entry)).map(|s| s.unit.as_str());
        let is_clone = |entry: u64| {
            let name = self.symbols.symbolize(entry);
            name.starts_with(&format!("{function}.")) && name.ends_with("+0x0")
        };
        let plain = symbol.map(|entry| CodeSite { entry, unit: home.unwrap_or_default().to_string(), exit: Exit::Call, params: (0..nargs as u16).map(ParamAt::Reg).collect() });
        let others = dwarf_sites
            .iter()
            .filter(|s| Some(s.entry) != symbol && home.is_none_or(|h| s.unit == h))
            .filter(|s| s.is_inlined() || is_clone(s.entry))
            .cloned();
        plain.into_iter().chain(others).collect()
    }

    /// The layout of `name` (loaded by [`KernelInfo::load`]).
    pub fn layout(&self, name: &str) -> Result<&StructLayout> {
        self.layouts.get(name).ok_or_else(|| Error::Debuginfo(format!("no layout for struct {name}")))
    }
}

/// A paused guest's memory read as this kernel's: symbols resolved to where the kernel
/// sits in RAM.
pub struct GuestKernel<'a, M: GuestMemory + ?Sized> {
    pub mem: &'a M,
    pub info: &'a KernelInfo,
    pub view: KernelView,
}

impl<'a, M: GuestMemory + ?Sized> GuestKernel<'a, M> {
    /// Finds the kernel in `mem` (RAM of `ram_size` bytes from `ram_base`) and checks
    /// its own idea of where it is.
    pub fn attach(mem: &'a M, ram_base: PhysAddr, ram_size: u64, info: &'a KernelInfo) -> Result<Self> {
        let view = kernel_view(mem, ram_base, ram_size, info)?;
        Ok(GuestKernel { mem, info, view })
    }

    /// The PA of kernel-image symbol `name`.
    pub fn sym_pa(&self, name: &str) -> Result<PhysAddr> {
        Ok(self.view.kimage_to_phys(VirtAddr(self.info.symbols.get(name)?)))
    }

    /// The u64 variable `name`.
    pub fn read_u64_sym(&self, name: &str) -> Result<u64> {
        Ok(self.mem.read_u64(self.sym_pa(name)?)?)
    }

    /// The u64 at `pa`.
    pub fn read_u64(&self, pa: PhysAddr) -> Result<u64> {
        Ok(self.mem.read_u64(pa)?)
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
fn kernel_view<M: GuestMemory + ?Sized>(mem: &M, ram_base: PhysAddr, ram_size: u64, info: &KernelInfo) -> Result<KernelView> {
    let text_pa = locate_image(mem, ram_base, ram_size, &info.image_head)?;
    let kimage_voffset = info.symbols.get("_text")?.wrapping_sub(text_pa.0);
    let pa = |sym: &str| -> Result<PhysAddr> { Ok(PhysAddr(info.symbols.get(sym)?.wrapping_sub(kimage_voffset))) };
    let in_guest = mem.read_u64(pa("kimage_voffset")?)?;
    if in_guest != kimage_voffset {
        return Err(Error::Guest(format!("kimage_voffset in guest memory is {in_guest:#x}, but the Image is at PA {text_pa} (voffset {kimage_voffset:#x})")));
    }
    let memstart_addr = PhysAddr(mem.read_u64(pa("memstart_addr")?)?);
    // PAGE_OFFSET is _PAGE_OFFSET(VA_BITS), PAGE_END _PAGE_END(VA_BITS_MIN).
    let page_offset = (!0u64) << info.va_bits;
    let page_end = (!0u64) << (info.granule.va_bits_min(info.va_bits) - 1);
    Ok(KernelView { text_pa, kimage_voffset, memstart_addr, swapper_pa: pa("swapper_pg_dir")?, page_offset: VirtAddr(page_offset), page_end: VirtAddr(page_end) })
}
