//! Boot replay: the model's expectation of the linear map at the end of boot, from the
//! scenario's decisions ([`BootParams`]) and what was observed in the guest (memblock
//! banks, where the kernel image sits, and for a realm the set_memory_{en,de}crypted
//! calls the kernel made, whose addresses come from its allocators). Mirrors the boot
//! timeline of spec section 1: map_mem, arm64_rsi_init, the realm's decrypts at
//! mem_init and init_IRQ, kfence_init, mark_linear_text_alias_ro, the repaint when a
//! secondary lacks BBML3, the decrypts of initcalls, and mark_rodata_ro.

use anyhow::{anyhow, bail, Result};
use rust_impl::address::PhysAddr;
use rust_impl::cpufeature::cpu_supports_bbml3;
use rust_impl::granule::Granule;
use rust_impl::linear_map::LinearMap;
use rust_impl::map_mem::{map_mem, MapMemInputs, MemblockRegion};
use rust_impl::mmu::Mmu;
use rust_impl::pgtable::HostEnv;
use rust_impl::rsi::{HostRsi, RsiCall};
use rust_impl::split::BootState;

use crate::boot_params::BootParams;
use crate::linux_side::{ImageLayout, LinuxSide};

/// Where the model keeps its own page-table pages: far from guest RAM, never shown.
const MODEL_TABLES: (u64, u64) = (0x100_0000_0000, 1 << 32);

/// What the replay takes from the guest: inputs the kernel does not decide by policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    pub granule: Granule,
    pub va_bits: u32,
    pub memstart_addr: u64,
    pub memblock: Vec<crate::memblock::MemblockRegion>,
    pub image: ImageLayout,
    /// The KFENCE early pool, when the kernel made one.
    pub kfence: Option<crate::kfence::KfencePool>,
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
        }
    }
}

/// The model's side of a comparison.
pub struct ModelSide {
    pub linear_map: LinearMap,
    /// `linear_map_requires_bbml3` as the model computed it.
    pub linear_map_requires_bbml3: bool,
    /// The boot steps replayed, in order, for reports.
    pub steps: Vec<String>,
    /// WARNs the model's kernel paths raised.
    pub warnings: usize,
    /// The RSI calls the model's set_memory_{en,de}crypted made, in order.
    pub rsi_calls: Vec<RsiCall>,
    /// What the model returned for each replayed set_memory_{en,de}crypted call: index
    /// in the trace, return code.
    pub enc_dec_returns: Vec<(usize, i32)>,
}

/// The traced calls the replay applies to the map (realm sharing and unsharing).
pub const ENC_DEC: &[&str] = &["set_memory_decrypted", "set_memory_encrypted"];

/// The realm's `prot_ns_shared`, as the scenario's IPA width makes it.
pub fn prot_ns_shared(p: &BootParams) -> Option<u64> {
    p.realm_ipa_bits.map(|b| 1u64 << (b - 1))
}

/// The boot state a call was made in, from what was observed of it (page allocator,
/// online CPUs, finalisation) and what the model decided (everything else).
fn boot_state_at(call: &crate::trace::ObservedBootState, requires: bool, policy: rust_impl::map_mem::DirectMapPolicy, p: &BootParams, kfence: Option<(rust_impl::address::VirtAddr, u64)>, forget_finalisation: bool) -> BootState {
    let mut boot = BootState::at_map_mem(requires, policy);
    if let Some(shared) = prot_ns_shared(p) {
        boot.rsi_init(shared);
    }
    if call.page_alloc_available {
        boot.mem_init();
    }
    for _ in 1..call.online_cpus {
        boot.set_cpu_online();
    }
    if call.caps_finalized && !forget_finalisation {
        boot.finalize_caps(p.cpus.iter().all(|c| cpu_supports_bbml3(*c)));
    }
    boot.kfence_pool = kfence;
    boot
}

/// A model result as the C `int` the kernel function returns.
fn ret_code(ret: rust_impl::errno::Result<()>) -> i32 {
    match ret {
        Ok(()) => 0,
        Err(e) => e.to_errno().unwrap_or(-1),
    }
}

fn model_err(what: &str) -> impl Fn(rust_impl::errno::Errno) -> anyhow::Error + '_ {
    move |e| anyhow!("model: {what}: {e}")
}

/// Deliberate changes to one rule of the model, for tests that show a wrong model is
/// caught (and for "what if" questions from the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Use this instead of `cpu_supports_bbml3()` for the boot CPU.
    pub boot_cpu_bbml3: Option<bool>,
    /// The split gate never sees the capabilities finalised (drops gate 2.1).
    pub forget_finalisation: bool,
}

/// Replays the boot up to the end of boot (after `mark_rodata_ro`), applying the
/// realm calls of `trace`.
pub fn replay_end_of_boot(p: &BootParams, obs: &Observed, trace: &[crate::trace::TracedCall]) -> Result<ModelSide> {
    replay_to(p, obs, Overrides::default(), "end-of-boot", trace)
}

/// [`replay_end_of_boot`] with one rule overridden.
pub fn replay_end_of_boot_with(p: &BootParams, obs: &Observed, overrides: Overrides, trace: &[crate::trace::TracedCall]) -> Result<ModelSide> {
    replay_to(p, obs, overrides, "end-of-boot", trace)
}

fn inputs_boot_cpu_bbml3(p: &BootParams, overrides: Overrides) -> bool {
    overrides.boot_cpu_bbml3.unwrap_or_else(|| cpu_supports_bbml3(p.cpus[0]))
}

/// What map_mem() reads, from the scenario's decisions and the observed layout.
fn map_mem_inputs(p: &BootParams, obs: &Observed, overrides: Overrides) -> MapMemInputs {
    let img = obs.image;
    let early_pool = p.kfence && !p.kfence_late;
    MapMemInputs {
        memblock: obs.memblock.iter().map(|r| MemblockRegion { base: PhysAddr(r.base), size: r.size, flags: r.flags }).collect(),
        text: (PhysAddr(img.text), PhysAddr(img.init_begin)),
        data: (PhysAddr(img.init_end), PhysAddr(img.bss_stop)),
        kfence_pool: obs.kfence.as_ref().filter(|_| early_pool).map(|k| (PhysAddr(k.pa), k.size)),
        debug_pagealloc: p.debug_pagealloc,
        rodata_full: p.rodata_full,
        kfence_late: p.kfence_late,
        boot_cpu_bbml3: inputs_boot_cpu_bbml3(p, overrides),
        realm: false,
    }
}

/// Where each named checkpoint falls in the replayed timeline: the model stops after
/// the last step that happens before it (spec section 1).
fn rank(checkpoint: &str) -> Result<u8> {
    Ok(match checkpoint {
        "after-map-mem" | "after-rsi-init" => 1,
        "mem-init" => 2,
        "before-smp" => 3,
        "caps-finalized" => 4,
        "after-repaint" => 5,
        "after-rodata-ro" | "end-of-boot" => 6,
        other => bail!("model: unknown checkpoint {other:?}"),
    })
}

/// Replays the boot up to `checkpoint` (one of [`crate::scenario::CHECKPOINTS`]);
/// `trace` holds the calls the kernel made before that checkpoint (a realm's
/// set_memory_{en,de}crypted calls among them are applied where they happened).
pub fn replay_to(p: &BootParams, obs: &Observed, overrides: Overrides, checkpoint: &str, trace: &[crate::trace::TracedCall]) -> Result<ModelSide> {
    let stop = rank(checkpoint)?;
    let kfence_pool = if p.kfence && !p.kfence_late {
        Some(obs.kfence.clone().ok_or_else(|| anyhow!("model: CONFIG_KFENCE with an early pool, but the guest has no __kfence_pool"))?)
    } else {
        None
    };
    let env = HostEnv::new(obs.granule, PhysAddr(MODEL_TABLES.0), MODEL_TABLES.1);
    let mut mmu = Mmu::new(env, obs.granule, obs.va_bits, PhysAddr(obs.memstart_addr)).map_err(model_err("allocating swapper_pg_dir"))?;
    let boot_cpu_bbml3 = inputs_boot_cpu_bbml3(p, overrides);
    let every_cpu_bbml3 = p.cpus.iter().all(|c| cpu_supports_bbml3(*c));
    let img = obs.image;
    let inputs = map_mem_inputs(p, obs, overrides);
    let mut steps = Vec::new();
    let requires = map_mem(&mut mmu, &inputs).map_err(model_err("map_mem"))?;
    steps.push(format!(
        "map_mem: force_pte_mapping={} linear_map_requires_bbml3={requires} (boot CPU BBML3: {boot_cpu_bbml3})",
        inputs.force_pte_mapping()
    ));
    let mut boot = BootState::at_map_mem(requires, inputs.policy());
    // Step 4: arm64_rsi_init() finds the realm, after map_mem.
    if let Some(shared) = prot_ns_shared(p) {
        boot.rsi_init(shared);
        steps.push(format!("arm64_rsi_init: realm, prot_ns_shared={shared:#x}"));
    }
    let kfence_va = kfence_pool.as_ref().map(|k| (mmu.lm(PhysAddr(k.pa)), k.size));
    // The realm's sharing calls in trace order: those made before the capabilities
    // were final (swiotlb at mem_init, the ITS at init_IRQ) go before kfence_init,
    // the rest (initcalls) after the text alias is made read-only.
    // Outside a realm no ops are registered and the calls return 0 untouched.
    let enc_dec: Vec<(usize, &crate::trace::TracedCall)> = trace.iter().enumerate().filter(|(_, c)| ENC_DEC.contains(&c.function)).collect();
    let mut rsi = HostRsi::new();
    let mut returns = Vec::new();
    let mut applied = 0;
    let mut apply = |mmu: &mut Mmu<HostEnv>, steps: &mut Vec<String>, until_finalized: bool| -> Result<()> {
        while applied < enc_dec.len() && (!until_finalized || !enc_dec[applied].1.state.caps_finalized) {
            let (index, call) = enc_dec[applied];
            applied += 1;
            let state = boot_state_at(&call.state, requires, inputs.policy(), p, kfence_va, overrides.forget_finalisation);
            let (addr, numpages) = (rust_impl::address::VirtAddr(call.args[0]), call.args[1] as u32);
            let ret = if call.function == "set_memory_decrypted" {
                mmu.set_memory_decrypted(&state, &mut rsi, addr, numpages)
            } else {
                mmu.set_memory_encrypted(&state, &mut rsi, addr, numpages)
            };
            let code = ret_code(ret);
            steps.push(format!("{}({:#x}, {numpages}) = {code}", call.function, addr.0));
            returns.push((index, code));
        }
        Ok(())
    };
    macro_rules! done {
        () => {{
            // Whatever the kernel did before this checkpoint is in the map.
            apply(&mut mmu, &mut steps, false)?;
            return Ok(ModelSide {
                linear_map: rust_impl::walk::linear_map(&mmu, prot_ns_shared(p).unwrap_or(0)),
                linear_map_requires_bbml3: requires,
                warnings: mmu.env.warnings().count(),
                steps,
                rsi_calls: rsi.calls,
                enc_dec_returns: returns,
            });
        }};
    }
    if stop <= 1 {
        done!();
    }
    boot.mem_init();
    apply(&mut mmu, &mut steps, true)?;
    if stop <= 2 {
        done!();
    }
    // Step 9: kfence_init protects pool pages 0 and 1 and each object's right redzone
    // (kfence_init_pool); objects freed since are protected too (kfence_guarded_free).
    if let Some(k) = &kfence_pool {
        let page = obs.granule.page_size();
        boot.kfence_pool = Some((mmu.lm(PhysAddr(k.pa)), k.size));
        let objects = k.size / (2 * page) - 1;
        let guards = [0, 1].into_iter().chain((0..objects).map(|i| 2 * i + 3));
        for pa in guards.map(|i| k.pa + i * page).chain(k.freed_object_pages.iter().copied()) {
            mmu.set_memory_valid(&boot, mmu.lm(PhysAddr(pa)), 1, false).map_err(model_err("kfence_protect"))?;
        }
        steps.push(format!("kfence_init: pool at {:#x}, {} guard pages and {} freed objects protected", k.pa, objects + 2, k.freed_object_pages.len()));
    }
    if stop <= 3 {
        done!();
    }
    for _ in 1..p.cpus.len() {
        boot.set_cpu_online();
    }
    boot.finalize_caps(every_cpu_bbml3);
    if stop <= 4 {
        done!();
    }
    // Step 13: the stop_machine repaint when a secondary lacks BBML3.
    let repainted = mmu.linear_map_maybe_split_to_ptes(&boot, PhysAddr(img.stext), PhysAddr(img.init_begin)).map_err(model_err("linear_map_maybe_split_to_ptes"))?;
    steps.push(format!("caps finalized: system_supports_bbml3={every_cpu_bbml3}; repaint to PTEs: {repainted}"));
    if stop <= 5 {
        done!();
    }
    // Step 15.
    mmu.mark_linear_text_alias_ro(PhysAddr(img.text), PhysAddr(img.init_begin)).map_err(model_err("mark_linear_text_alias_ro"))?;
    steps.push("mark_linear_text_alias_ro".into());
    // Step 16: initcalls.
    apply(&mut mmu, &mut steps, false)?;
    // Step 17, only with rodata_enabled.
    if p.rodata_enabled {
        mmu.mark_rodata_ro(&boot, PhysAddr(img.init_end), PhysAddr(img.bss_stop)).map_err(model_err("mark_rodata_ro"))?;
        steps.push("mark_rodata_ro: linear alias of data/bss present-invalid".into());
    }
    done!()
}

/// Sets `model_ret` on each traced `split_kernel_leaf_mapping` call: the model's split
/// gate, with its own decisions (linear_map_requires_bbml3 from the scenario, BBML3 from
/// the CPU identities) and the boot state the kernel was in when it made the call, run
/// on the map as map_mem left it (a split there can only succeed).
pub fn replay_calls(p: &BootParams, obs: &Observed, trace: &mut [crate::trace::TracedCall]) -> Result<()> {
    replay_calls_with(p, obs, trace, Overrides::default())
}

/// [`replay_calls`] with one rule overridden.
pub fn replay_calls_with(p: &BootParams, obs: &Observed, trace: &mut [crate::trace::TracedCall], overrides: Overrides) -> Result<()> {
    if !trace.iter().any(|c| c.function == "split_kernel_leaf_mapping") {
        return Ok(());
    }
    let base = replay_to(p, obs, overrides, "after-map-mem", &[])?;
    let kfence_pool = obs.kfence.as_ref().map(|k| k.pa);
    for call in trace.iter_mut().filter(|c| c.function == "split_kernel_leaf_mapping") {
        let env = HostEnv::new(obs.granule, PhysAddr(MODEL_TABLES.0), MODEL_TABLES.1);
        let mut mmu = Mmu::new(env, obs.granule, obs.va_bits, PhysAddr(obs.memstart_addr)).map_err(model_err("allocating swapper_pg_dir"))?;
        let inputs = map_mem_inputs(p, obs, overrides);
        map_mem(&mut mmu, &inputs).map_err(model_err("map_mem"))?;
        let kfence = kfence_pool.zip(obs.kfence.as_ref()).map(|(pa, k)| (mmu.lm(PhysAddr(pa)), k.size));
        let boot = boot_state_at(&call.state, base.linear_map_requires_bbml3, inputs.policy(), p, kfence, overrides.forget_finalisation);
        let (start, end) = (call.args[0], call.args[1]);
        let ret = mmu.split_kernel_leaf_mapping(&boot, rust_impl::address::VirtAddr(start), rust_impl::address::VirtAddr(end));
        call.model_ret = Some(ret_code(ret));
    }
    Ok(())
}
