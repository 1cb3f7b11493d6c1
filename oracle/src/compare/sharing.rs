//! The caller model for realm sharing: what a realm kernel's boot-time callers must
//! share (the swiotlb default pool, the buffers the GIC's ITS and redistributors were
//! told about, one atomic DMA pool per zone), each from its caller, whole, once, in its
//! window, held against the traced `set_memory_decrypted()` calls; and every buffer a
//! device was told about must be RIPAS EMPTY. docs/realm.md lists each caller with the
//! kernel lines that ask for it.

use rust_impl::address::{PhysAddr, VirtAddr};
use rust_impl::realm_shares::{atomic_pool_pages, atomic_pools, max_page_order, swiotlb_default_nslabs, swiotlb_shared_pages, SwiotlbInputs};

use crate::capture::trace::TracedCall;
use crate::linux_side::monitor_log::RangeSet;
use crate::linux_side::gic_tables::DeviceBuffer;
use crate::linux_side::LinuxSide;
use crate::scenario::params::BootParams;
use crate::timeline::{Checkpoint, TracedFn};

/// The callers the model knows, by the function that calls `set_memory_decrypted()`.
const SWIOTLB: &str = "swiotlb_update_mem_attributes";
const ITS: &str = "its_alloc_pages_node";
const ATOMIC: &str = "atomic_pool_expand";

/// One `set_memory_{de,en}crypted()` call as a PA range.
#[derive(Clone, Debug)]
struct Call<'a> {
    index: usize,
    call: &'a TracedCall,
    /// The calling function, without its offset and compiler suffixes.
    caller: &'a str,
    start: PhysAddr,
    end: PhysAddr,
}

impl Call<'_> {
    fn describe(&self) -> String {
        format!("call #{} {}({:#x}, {:#x}) from {} (PA {:#x}-{:#x})", self.index, self.call.function, self.call.args[0].unwrap_or(0), self.call.args[1].unwrap_or(0), self.call.caller, self.start.0, self.end.0)
    }
}

/// The calling function of `caller` (`name+0x48`, `name.constprop.0+0x1a0`).
fn caller_fn(caller: &str) -> &str {
    let name = caller.split('+').next().unwrap_or(caller);
    name.split('.').next().unwrap_or(name)
}

/// The shares and unshares of `trace`, as PA ranges; calls whose arguments this build
/// does not locate are left out (they are trace gaps already).
fn calls<'a>(trace: &'a [TracedCall], side: &LinuxSide, page_size: u64, function: TracedFn) -> Vec<Call<'a>> {
    trace
        .iter()
        .enumerate()
        .filter(|(_, c)| c.function == function)
        .filter_map(|(index, call)| {
            let (va, pages) = call.first_two()?;
            let start = side.view.virt_to_phys(VirtAddr(va)).ok()?;
            Some(Call { index, call, caller: caller_fn(&call.caller), start, end: PhysAddr(start.0 + pages * page_size) })
        })
        .collect()
}

/// A share the model expects.
struct Expected {
    what: String,
    caller: &'static str,
    start: PhysAddr,
    end: PhysAddr,
}

/// Checks the shares made up to `checkpoint` (the calls of `trace`, which ends there)
/// against the caller model; `empty` is the RIPAS EMPTY memory of the monitor's log
/// then. Each finding names the caller and the range.
pub fn check(p: &BootParams, checkpoint: Checkpoint, side: &LinuxSide, trace: &[TracedCall], empty: &RangeSet) -> Vec<String> {
    let page_size = side.config.granule.page_size();
    let mut findings = Vec::new();
    let decrypts = calls(trace, side, page_size, TracedFn::SetMemoryDecrypted);
    let encrypts = calls(trace, side, page_size, TracedFn::SetMemoryEncrypted);
    let mut expected = Vec::new();
    let banks: Vec<(u64, u64)> = side.memblock_memory.iter().map(|r| (r.base.0, r.base.0 + r.size)).collect();

    // The swiotlb default pool, whole, from mem_init() (arch/arm64/mm/init.c:383-387).
    if checkpoint >= Checkpoint::MemInit {
        if let Some(pool) = &side.swiotlb {
            let inputs = SwiotlbInputs {
                cmdline_slabs: p.swiotlb_slabs,
                cmdline_areas: p.swiotlb_areas,
                memory_bytes: banks.iter().map(|(s, e)| e - s).sum(),
                end_of_dram: banks.iter().map(|b| b.1).max().unwrap_or(0),
                dma_phys_limit: side.dma_phys_limit.0,
                possible_cpus: p.cpus.len() as u64,
                rules: p.rules,
            };
            let want = swiotlb_default_nslabs(&inputs);
            if pool.nslabs != want {
                findings.push(format!("swiotlb default pool: {} slabs at PA {:#x}, the model sizes it {want} slabs (kernel/dma/swiotlb.c:293-307, arch/arm64/mm/init.c:343-352)", pool.nslabs, pool.start.0));
            }
            let pages = swiotlb_shared_pages(pool.nslabs, page_size);
            expected.push(Expected { what: "the swiotlb default pool".into(), caller: SWIOTLB, start: pool.start, end: PhysAddr(pool.start.0 + pages * page_size) });
        }
    }
    // What the ITS and redistributors were told about, each allocated and shared by
    // its_alloc_pages_node() (irq-gic-v3-its.c:213-235).
    // A buffer outside the guest's RAM is not one the kernel allocated: for level-2
    // tables, level-1 entries the kernel did not write (grouped per table).
    let in_ram = |b: &DeviceBuffer| banks.iter().any(|&(s, e)| b.pa.0 >= s && b.pa.0 + b.bytes <= e);
    let mut outside: Vec<(&str, Vec<&DeviceBuffer>)> = Vec::new();
    for b in side.device_buffers.iter().filter(|b| !in_ram(b)) {
        let table = b.what.split(" level 2").next().unwrap_or(&b.what);
        match outside.iter_mut().find(|(t, _)| *t == table) {
            Some((_, v)) => v.push(b),
            None => outside.push((table, vec![b])),
        }
    }
    for (table, bs) in &outside {
        if bs[0].what.contains(" level 2, entry ") {
            findings.push(format!(
                "{table}: {} level-1 entr{} the device reads as valid point outside the guest's RAM (the first, {}, at PA {:#x}): the level-1 table holds what the kernel never wrote. its_alloc_pages_node() zeroes a table before it shares it (drivers/irqchip/irq-gic-v3-its.c:213-235), so after the share the device reads the host's memory there, not the zeros, and so does the driver, which allocates a level-2 table only where an entry reads zero (its_alloc_table_entry(), irq-gic-v3-its.c:3383)",
                bs.len(),
                if bs.len() == 1 { "y" } else { "ies" },
                bs[0].what,
                bs[0].pa.0
            ));
        } else {
            findings.push(format!("{} names PA {:#x}-{:#x}, outside the guest's RAM", bs[0].what, bs[0].pa.0, bs[0].pa.0 + bs[0].bytes));
        }
    }
    for b in side.device_buffers.iter().filter(|b| in_ram(b)) {
        expected.push(Expected { what: b.what.clone(), caller: ITS, start: b.pa, end: PhysAddr(b.pa.0 + b.alloc_bytes) });
        let told = RangeSet::from_ranges([(b.pa, PhysAddr(b.pa.0 + b.bytes))]);
        for (s, e) in told.minus(empty).ranges {
            findings.push(format!("{} at PA {:#x}-{:#x}: the device reads it, but it is RIPAS RAM (not shared) in the monitor's log", b.what, s.0, e.0));
        }
    }

    let mut used = vec![false; trace.len()];
    for e in &expected {
        let exact: Vec<&Call<'_>> = decrypts.iter().filter(|c| c.caller == e.caller && (c.start, c.end) == (e.start, e.end)).collect();
        for c in &exact {
            used[c.index] = true;
        }
        match exact.as_slice() {
            [one] => {
                // mem_init() runs on the boot CPU alone, after page_alloc_available is set.
                let t = one.call.timeline;
                if e.caller == SWIOTLB && !(t.page_alloc_available && t.online_cpus <= 1) {
                    findings.push(format!("{}: shared outside mem_init() ({} with page_alloc_available={} online={})", e.what, one.describe(), u8::from(t.page_alloc_available), t.online_cpus));
                }
            }
            [] => {
                let overlapping: Vec<String> = decrypts.iter().filter(|c| c.start < e.end && c.end > e.start).map(|c| c.describe()).collect();
                if overlapping.is_empty() {
                    findings.push(format!("{} (PA {:#x}-{:#x}) was never shared: the model expects {} to share it", e.what, e.start.0, e.end.0, e.caller));
                } else {
                    findings.push(format!("{} (PA {:#x}-{:#x}) was not shared whole by {}: only {}", e.what, e.start.0, e.end.0, e.caller, overlapping.join("; ")));
                }
                for c in decrypts.iter().filter(|c| c.start < e.end && c.end > e.start) {
                    used[c.index] = true;
                }
            }
            many => findings.push(format!("{} (PA {:#x}-{:#x}) was shared {} times: {}", e.what, e.start.0, e.end.0, many.len(), many.iter().map(|c| c.describe()).collect::<Vec<_>>().join("; "))),
        }
    }

    // One atomic DMA pool per zone with memory, from dma_atomic_pool_init()
    // (kernel/dma/pool.c:215-252), a postcore initcall: after smp_init().
    let atomic: Vec<&Call<'_>> = decrypts.iter().filter(|c| c.caller == ATOMIC).collect();
    if checkpoint == Checkpoint::EndOfBoot {
        let pools: Vec<_> = atomic_pools(&banks, side.dma_phys_limit.0).into_iter().flatten().collect();
        for (i, pool) in pools.iter().enumerate() {
            let Some(c) = atomic.get(i) else {
                findings.push(format!("{} was never shared: the model expects {ATOMIC} to share it", pool.name()));
                continue;
            };
            used[c.index] = true;
            let want = atomic_pool_pages(p.coherent_pool, c.call.totalram_pages, page_size, max_page_order(page_size));
            let got = (c.end.0 - c.start.0) / page_size;
            if got != want {
                findings.push(format!("{}: {} shares {got} pages, the model expects {want} (totalram_pages {} at the call)", pool.name(), c.describe(), c.call.totalram_pages));
            }
            if c.call.timeline.online_cpus < p.cpus.len() as u32 {
                findings.push(format!("{}: {} made before smp_init() brought every CPU online", pool.name(), c.describe()));
            }
        }
        for c in atomic.iter().skip(pools.len()) {
            findings.push(format!("an atomic DMA pool more than the zones call for: {}", c.describe()));
        }
    } else {
        for c in &atomic {
            findings.push(format!("an atomic DMA pool before the initcalls: {}", c.describe()));
            used[c.index] = true;
        }
    }

    // Anything else shared and still shared: extra. A range unshared later (the ITS's
    // its_free_pages(), irq-gic-v3-its.c:242-251) is not (a refused unshare leaks it on purpose: __set_memory_enc_dec()
    // WARNs and the caller never reuses the page); nor is a share the host refused.
    for c in decrypts.iter().filter(|c| !used[c.index] && c.call.ret == Some(0)) {
        let undone = encrypts.iter().any(|u| u.index > c.index && (u.start, u.end) == (c.start, c.end));
        if undone {
            continue;
        }
        let why = match c.caller {
            SWIOTLB | ITS => "no device was told about it",
            _ => "a caller the model does not know shares at boot",
        };
        findings.push(format!("extra share: {} ({why})", c.describe()));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux_side::boot_state::ObservedBootState;
    use crate::linux_side::kernel_view::KernelView;
    use crate::linux_side::swiotlb::SwiotlbPool;
    use crate::linux_side::walker::WalkConfig;
    use crate::linux_side::ImageLayout;
    use rust_impl::granule::Granule;
    use rust_impl::map_mem::MemblockRegion;

    const PAGE_OFFSET: u64 = 0xffff_0000_0000_0000;
    const RAM: u64 = 0x4000_0000;
    /// The swiotlb pool of a 2 GiB guest with two CPUs: 1024 slabs, 0x200 pages.
    const POOL: u64 = 0xbd60_0000;
    const CMDQ: u64 = 0x4083_0000;

    fn side() -> LinuxSide {
        let view = KernelView { text_pa: PhysAddr(RAM), kimage_voffset: 0, memstart_addr: PhysAddr(RAM), swapper_pa: PhysAddr(RAM), page_offset: VirtAddr(PAGE_OFFSET), page_end: VirtAddr(PAGE_OFFSET + (1 << 47)) };
        let image = ImageLayout { text: PhysAddr(RAM), stext: PhysAddr(RAM), init_begin: PhysAddr(RAM), init_end: PhysAddr(RAM), bss_stop: PhysAddr(RAM) };
        LinuxSide {
            view,
            config: WalkConfig { granule: Granule::G4K, va_bits: 48, root: PhysAddr(RAM), shared_mask: 1 << 47 },
            visits: vec![],
            linear_map: Default::default(),
            memblock_memory: vec![MemblockRegion::new(RAM, 2 << 30, 0)],
            swiotlb: Some(SwiotlbPool { start: PhysAddr(POOL), end: PhysAddr(POOL + (2 << 20)), nslabs: 1024 }),
            image,
            kfence: None,
            realm: None,
            device_buffers: vec![DeviceBuffer { what: "GITS_CBASER (command queue)".into(), pa: PhysAddr(CMDQ), bytes: 0x1_0000, alloc_bytes: 0x1_0000 }],
            dma_phys_limit: PhysAddr(RAM + (2 << 30)),
            free_pages: None,
        }
    }

    fn params() -> BootParams {
        let m: linux_harness::machine::MachineSpec = serde_json::from_str(r#"{"cpus":2,"memory_mib":2048,"realm":{"ipa_bits":48}}"#).unwrap();
        crate::scenario::params::boot_params("", &crate::linux_side::kernel::KernelConfig::parse("CONFIG_ARM64_VA_BITS=48\n"), &m).unwrap()
    }

    fn call(function: TracedFn, pa: u64, pages: u64, caller: &str, ret: i32, online: u32) -> TracedCall {
        let state = ObservedBootState { page_alloc_available: true, online_cpus: online, caps_finalized: false };
        TracedCall { function, args: vec![Some(PAGE_OFFSET + pa - RAM), Some(pages)], ret: Some(ret), caller: caller.into(), inlined_into: None, cpu: "01".into(), state, timeline: state, totalram_pages: 500_000 }
    }

    fn share(pa: u64, pages: u64, caller: &str) -> TracedCall {
        call(TracedFn::SetMemoryDecrypted, pa, pages, caller, 0, if caller.starts_with("atomic") { 2 } else { 1 })
    }

    /// 7.3's shares in a 2 GiB realm: the pool, the command queue, one atomic pool.
    fn good() -> Vec<TracedCall> {
        vec![share(POOL, 0x200, "swiotlb_update_mem_attributes+0x48"), share(CMDQ, 0x10, "its_alloc_pages_node+0x5c"), share(0x80a0_0000, 0x40, "atomic_pool_expand.constprop.0+0x1a0")]
    }

    fn all_empty() -> RangeSet {
        RangeSet::from_ranges([(PhysAddr(RAM), PhysAddr(RAM + (2 << 30)))])
    }

    fn findings(trace: &[TracedCall], empty: &RangeSet) -> Vec<String> {
        check(&params(), Checkpoint::EndOfBoot, &side(), trace, empty)
    }

    #[test]
    fn the_kernels_own_shares_agree() {
        assert_eq!(findings(&good(), &all_empty()), Vec::<String>::new());
        // Before the initcalls, no atomic pool is expected yet; nor any ITS buffer when
        // the ITS has not been told about one.
        let mut at_mem_init = side();
        at_mem_init.device_buffers.clear();
        assert_eq!(check(&params(), Checkpoint::MemInit, &at_mem_init, &good()[..1], &all_empty()), Vec::<String>::new());
    }

    #[test]
    fn a_half_shared_pool_is_named() {
        let mut t = good();
        t[0] = share(POOL, 0x100, "swiotlb_update_mem_attributes+0x48");
        let f = findings(&t, &all_empty());
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("the swiotlb default pool (PA 0xbd600000-0xbd800000) was not shared whole by swiotlb_update_mem_attributes: only call #0"), "{f:?}");
    }

    #[test]
    fn missing_doubled_late_and_extra_shares() {
        // The command queue never shared, and the device reads private memory.
        let t = vec![good()[0].clone(), good()[2].clone()];
        let empty = all_empty().minus(&RangeSet::from_ranges([(PhysAddr(CMDQ), PhysAddr(CMDQ + 0x1_0000))]));
        let f = findings(&t, &empty);
        assert!(f.iter().any(|m| m.contains("GITS_CBASER (command queue) at PA 0x40830000-0x40840000: the device reads it, but it is RIPAS RAM")), "{f:?}");
        assert!(f.iter().any(|m| m.contains("was never shared: the model expects its_alloc_pages_node")), "{f:?}");
        // Shared twice.
        let mut t = good();
        t.push(share(CMDQ, 0x10, "its_alloc_pages_node+0x5c"));
        assert!(findings(&t, &all_empty()).iter().any(|m| m.contains("was shared 2 times")));
        // The pool shared once the secondaries are up: not from mem_init().
        let mut t = good();
        t[0] = call(TracedFn::SetMemoryDecrypted, POOL, 0x200, "swiotlb_update_mem_attributes+0x48", 0, 2);
        assert!(findings(&t, &all_empty()).iter().any(|m| m.contains("shared outside mem_init()")));
        // An atomic pool of the wrong size, one too many, and a caller the model does not know.
        let mut t = good();
        t[2] = share(0x80a0_0000, 0x20, "atomic_pool_expand+0x1a0");
        t.push(share(0x80b0_0000, 0x40, "atomic_pool_expand+0x1a0"));
        t.push(share(0x80c0_0000, 1, "my_driver_probe+0x10"));
        let f = findings(&t, &all_empty());
        assert!(f.iter().any(|m| m.contains("shares 32 pages, the model expects 64")), "{f:?}");
        assert!(f.iter().any(|m| m.contains("an atomic DMA pool more than the zones call for")), "{f:?}");
        assert!(f.iter().any(|m| m.contains("extra share: call #4") && m.contains("a caller the model does not know")), "{f:?}");
    }

    #[test]
    fn refused_and_undone_shares_are_not_extra() {
        let mut t = good();
        // An ITS table shared and unshared by its_free_pages(), then a refused share.
        t.push(share(0x4084_0000, 0x10, "its_alloc_pages_node+0x5c"));
        t.push(call(TracedFn::SetMemoryEncrypted, 0x4084_0000, 0x10, "its_free_pages+0x30", 0, 1));
        t.push(call(TracedFn::SetMemoryDecrypted, 0x4085_0000, 0x10, "its_alloc_pages_node+0x5c", -22, 1));
        assert_eq!(findings(&t, &all_empty()), Vec::<String>::new());
        // The swiotlb share the host refused still counts as made.
        let mut t = good();
        t[0].ret = Some(-22);
        assert_eq!(findings(&t, &all_empty()), Vec::<String>::new());
    }

    #[test]
    fn a_pool_of_another_size_is_named() {
        let mut s = side();
        s.swiotlb = Some(SwiotlbPool { start: PhysAddr(POOL), end: PhysAddr(POOL + (1 << 20)), nslabs: 512 });
        s.device_buffers.clear();
        let t = vec![share(POOL, 0x100, "swiotlb_update_mem_attributes+0x48")];
        let f = check(&params(), Checkpoint::MemInit, &s, &t, &all_empty());
        assert_eq!(f, ["swiotlb default pool: 512 slabs at PA 0xbd600000, the model sizes it 1024 slabs (kernel/dma/swiotlb.c:293-307, arch/arm64/mm/init.c:343-352)"]);
    }

    /// A level-1 table that reads as full of valid entries pointing outside RAM (what a
    /// poisoning host leaves in a table zeroed before it was shared) is one finding.
    #[test]
    fn garbage_level_1_entries_are_one_finding() {
        let mut s = side();
        for i in 0..3 {
            s.device_buffers.push(DeviceBuffer { what: format!("GITS_BASER0 (devices) level 2, entry {i}"), pa: PhysAddr(0x000a_e72c_5c5c_0000), bytes: 0x1_0000, alloc_bytes: 0x1_0000 });
        }
        let f = check(&params(), Checkpoint::EndOfBoot, &s, &good(), &all_empty());
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].starts_with("GITS_BASER0 (devices): 3 level-1 entries the device reads as valid point outside the guest's RAM (the first, GITS_BASER0 (devices) level 2, entry 0, at PA 0xae72c5c5c0000)"), "{f:?}");
    }

    #[test]
    fn caller_names() {
        assert_eq!(caller_fn("atomic_pool_expand.constprop.0+0x1a0"), "atomic_pool_expand");
        assert_eq!(caller_fn("its_alloc_pages_node+0x5c"), "its_alloc_pages_node");
        assert_eq!(caller_fn("swiotlb_update_mem_attributes"), "swiotlb_update_mem_attributes");
    }
}
