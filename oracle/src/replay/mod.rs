//! The model side: one replay of the boot along the timeline (docs/boot-timeline.md),
//! from the scenario's decisions ([`BootParams`]) and what was observed in the
//! guest ([`observed::Observed`]), keeping the model's map at each checkpoint asked for,
//! and answering each traced call the model decides (split_kernel_leaf_mapping, a
//! realm's set_memory_{en,de}crypted) with the return code it would give.
//!
//! Steps: map_mem and arm64_rsi_init ([`Stage::MapMem`]), mem_init, kfence_init, the
//! secondaries and capability finalisation, the stop_machine repaint, then
//! mark_linear_text_alias_ro, the initcalls and mark_rodata_ro. A realm's sharing calls
//! are applied in trace order: those made before the capabilities were final as soon as
//! the model is past mem_init, the others after the text alias is read-only (the
//! initcalls), and at a checkpoint every call the kernel made before it.

pub mod accounting;
pub mod observed;


use std::collections::BTreeSet;

use rust_impl::address::{PhysAddr, VirtAddr};
use rust_impl::cpufeature::cpu_supports_bbml;
use rust_impl::linear_map::LinearMap;
use rust_impl::map_mem::{map_mem, DirectMapPolicy, MapMemInputs};
use rust_impl::mmu::Mmu;
use rust_impl::pgtable::HostEnv;
use rust_impl::rsi::{HostAnswer, HostRsi, RsiCall};
use rust_impl::split::BootState;

use crate::capture::trace::TracedCall;
use crate::error::{Error, Result};
use crate::linux_side::boot_state::ObservedBootState;
use crate::linux_side::free_pages::{self, FreeRanges};
use crate::timeline::{Checkpoint, Stage, TracedFn};
use observed::Observed;
use crate::scenario::params::BootParams;

/// Where the model keeps its own page-table pages: far from guest RAM, never shown.
const MODEL_TABLES: (u64, u64) = (0x100_0000_0000, 1 << 32);

/// The model at one checkpoint.
#[derive(Clone, Debug)]
pub struct ModelSide {
    pub linear_map: LinearMap,
    /// `linear_map_requires_bbml3` as the model computed it.
    pub linear_map_requires_bbml3: bool,
    /// The boot steps replayed up to here, in order, for reports.
    pub steps: Vec<String>,
    /// WARNs the model's kernel paths raised, up to here.
    pub warnings: Vec<rust_impl::pgtable::Warning>,
    /// The RSI calls the model's set_memory_{en,de}crypted made up to here, in order.
    pub rsi_calls: Vec<RsiCall>,
}

/// A checkpoint the replay stops at: what was observed there, and how many traced calls
/// the kernel had made by then.
#[derive(Clone, Debug)]
pub struct ReplayStop {
    pub checkpoint: Checkpoint,
    pub observed: Observed,
    pub mark: usize,
}

/// The replay's results.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The model at each stop, in boot order.
    pub at: Vec<(Checkpoint, ModelSide)>,
    /// The model's return code for each traced call it decides, by trace index (`None`
    /// for calls it does not replay).
    pub answers: Vec<Option<i32>>,
    /// Calls the model should replay but cannot, because this build's DWARF does not
    /// locate their arguments (inlined instances), by trace index.
    pub unreplayable: Vec<usize>,
}

impl Replay {
    /// The model at `c`.
    pub fn at(&self, c: Checkpoint) -> Option<&ModelSide> {
        self.at.iter().find(|(k, _)| *k == c).map(|(_, m)| m)
    }
    /// The model at the last stop.
    pub fn last(&self) -> Option<&ModelSide> {
        self.at.last().map(|(_, m)| m)
    }
}

/// Deliberate changes to one rule of the model, for tests that show a wrong model is
/// caught (and for "what if" questions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    /// Use this instead of `cpu_supports_bbml3()` for the boot CPU.
    pub boot_cpu_bbml3: Option<bool>,
    /// The split gate never sees the capabilities finalised (drops its first -EBUSY
    /// exemption, arch/arm64/mm/mmu.c:818).
    pub forget_finalisation: bool,
}

/// The realm's `prot_ns_shared`, as the scenario's IPA width makes it.
pub fn prot_ns_shared(p: &BootParams) -> Option<u64> {
    p.realm_ipa_bits.map(|b| 1u64 << (b - 1))
}

/// A model result as the C `int` the kernel function returns.
fn ret_code(ret: rust_impl::errno::Result<()>) -> i32 {
    match ret {
        Ok(()) => 0,
        Err(e) => e.to_errno().unwrap_or(-1),
    }
}

fn model_err(what: &str) -> impl Fn(rust_impl::errno::Errno) -> Error + '_ {
    move |e| Error::Model(format!("{what}: {e}"))
}

/// What map_mem() reads, from the scenario's decisions and the observed layout.
fn map_mem_inputs(p: &BootParams, obs: &Observed, overrides: Overrides) -> MapMemInputs {
    let img = obs.image;
    let early_pool = p.kfence && !p.kfence_late;
    MapMemInputs {
        memblock: obs.memblock.clone(),
        text: (img.text, img.init_begin),
        data: (img.init_end, img.bss_stop),
        kfence_pool: obs.kfence.as_ref().filter(|_| early_pool).map(|k| (k.pa, k.size)),
        debug_pagealloc: p.debug_pagealloc,
        rodata_full: p.rodata_full,
        kfence_late: p.kfence_late,
        boot_cpu_bbml3: overrides.boot_cpu_bbml3.unwrap_or_else(|| cpu_supports_bbml(p.cpus[0], p.rules)),
        realm: false,
    }
}

/// The state a replay carries along the timeline.
struct Run<'a> {
    p: &'a BootParams,
    overrides: Overrides,
    mmu: Mmu<HostEnv>,
    requires: bool,
    policy: DirectMapPolicy,
    boot: BootState,
    rsi: HostRsi,
    steps: Vec<String>,
    /// The realm's sharing calls, with their trace index, in trace order.
    enc_dec: Vec<(usize, &'a TracedCall)>,
    /// How many of them the model has applied.
    applied: usize,
    answers: Vec<Option<i32>>,
    unreplayable: Vec<usize>,
    kfence_va: Option<(VirtAddr, u64)>,
    /// KFENCE object pages the model has protected because their object was freed.
    freed_protected: BTreeSet<PhysAddr>,
    /// debug_pagealloc: the free pages the model has unmapped.
    free_unmapped: FreeRanges,
}

impl Run<'_> {
    /// The boot state a call was made in: what was observed of it (page allocator,
    /// online CPUs, finalisation) and what the model decided (everything else).
    fn boot_state_at(&self, call: &ObservedBootState) -> BootState {
        boot_state_at(call, self.requires, self.policy, self.p, self.kfence_va, self.overrides.forget_finalisation)
    }

    /// Applies the sharing calls made before trace index `limit`, in order; with
    /// `before_finalisation`, stops at the first made once the capabilities were final.
    fn apply_calls(&mut self, limit: usize, before_finalisation: bool) {
        while let Some(&(index, call)) = self.enc_dec.get(self.applied) {
            if index >= limit || (before_finalisation && call.timeline.caps_finalized) {
                break;
            }
            self.applied += 1;
            let state = self.boot_state_at(&call.timeline);
            let Some((addr, numpages)) = call.first_two() else {
                self.steps.push(format!("{}({}) from {}: arguments not located in this build, not replayed", call.function, call.args_text().join(", "), call.caller));
                self.unreplayable.push(index);
                continue;
            };
            let (addr, numpages) = (VirtAddr(addr), numpages as u32);
            let ret = if call.function == TracedFn::SetMemoryDecrypted {
                self.mmu.set_memory_decrypted(&state, &mut self.rsi, addr, numpages)
            } else {
                self.mmu.set_memory_encrypted(&state, &mut self.rsi, addr, numpages)
            };
            let code = ret_code(ret);
            self.steps.push(format!("{}({:#x}, {numpages}) = {code}", call.function, addr.0));
            self.answers[index] = Some(code);
        }
    }

    /// Protects the pages of KFENCE objects freed by now and unprotects those allocated
    /// again (kfence_guarded_free / kfence_guarded_alloc), as observed at a checkpoint.
    fn sync_kfence_objects(&mut self, obs: &Observed) -> Result<()> {
        let Some(k) = &obs.kfence else { return Ok(()) };
        let now: BTreeSet<PhysAddr> = k.freed_object_pages.iter().copied().collect();
        for &pa in now.difference(&self.freed_protected) {
            self.mmu.set_memory_valid(&self.boot, self.mmu.lm(pa), 1, false).map_err(model_err("kfence_protect"))?;
        }
        for &pa in self.freed_protected.difference(&now) {
            self.mmu.set_memory_valid(&self.boot, self.mmu.lm(pa), 1, true).map_err(model_err("kfence_unprotect"))?;
        }
        self.freed_protected = now;
        Ok(())
    }

    /// debug_pagealloc: unmaps the pages the allocator holds free by now and maps again
    /// those it handed out since (`debug_pagealloc_unmap_pages()` in
    /// `free_pages_prepare()`, `debug_pagealloc_map_pages()` in `post_alloc_hook()`, both
    /// `__kernel_map_pages()` → `set_memory_valid()`), as observed at a checkpoint.
    fn sync_free_pages(&mut self, obs: &Observed) -> Result<()> {
        let Some(now) = &obs.free_pages else { return Ok(()) };
        let page = self.mmu.granule.page_size();
        for (pa, pages) in free_pages::difference(now, &self.free_unmapped, page) {
            self.mmu.set_memory_valid(&self.boot, self.mmu.lm(pa), pages as u32, false).map_err(model_err("debug_pagealloc_unmap_pages"))?;
        }
        for (pa, pages) in free_pages::difference(&self.free_unmapped, now, page) {
            self.mmu.set_memory_valid(&self.boot, self.mmu.lm(pa), pages as u32, true).map_err(model_err("debug_pagealloc_map_pages"))?;
        }
        self.free_unmapped = now.clone();
        Ok(())
    }

    fn snapshot(&self) -> ModelSide {
        ModelSide {
            linear_map: rust_impl::walk::linear_map(&self.mmu, prot_ns_shared(self.p).unwrap_or(0)),
            linear_map_requires_bbml3: self.requires,
            steps: self.steps.clone(),
            warnings: self.mmu.env.warnings().collect(),
            rsi_calls: self.rsi.calls.clone(),
        }
    }

    /// Runs one step of the timeline.
    fn step(&mut self, stage: Stage, obs: &Observed, first_mark_here: usize) -> Result<()> {
        let img = obs.image;
        match stage {
            Stage::MapMem => {}
            Stage::MemInit => self.boot.mem_init(),
            // kfence_init protects pool pages 0 and 1 and each object's right redzone
            // (mm/kfence/core.c kfence_init_pool).
            Stage::KfenceInit => {
                if let Some(k) = obs.kfence.as_ref().filter(|_| self.p.kfence && !self.p.kfence_late) {
                    let page = obs.granule.page_size();
                    self.boot.kfence_pool = self.kfence_va;
                    let objects = k.size / (2 * page) - 1;
                    let guards = [0, 1].into_iter().chain((0..objects).map(|i| 2 * i + 3));
                    for pa in guards.map(|i| PhysAddr(k.pa.0 + i * page)) {
                        self.mmu.set_memory_valid(&self.boot, self.mmu.lm(pa), 1, false).map_err(model_err("kfence_protect"))?;
                    }
                    self.steps.push(format!("kfence_init: pool at {:#x}, {} guard pages protected", k.pa.0, objects + 2));
                }
            }
            Stage::CapsFinalized => {
                for _ in 1..self.p.cpus.len() {
                    self.boot.set_cpu_online();
                }
                self.boot.finalize_caps(self.p.cpus.iter().all(|c| cpu_supports_bbml(*c, self.p.rules)));
            }
            // The stop_machine repaint when a secondary lacks BBML3 (arch/arm64/mm/mmu.c:1003).
            Stage::Repaint => {
                let repainted = self.mmu.linear_map_maybe_split_to_ptes(&self.boot, img.stext, img.init_begin).map_err(model_err("linear_map_maybe_split_to_ptes"))?;
                let every = self.p.cpus.iter().all(|c| cpu_supports_bbml(*c, self.p.rules));
                self.steps.push(format!("caps finalized: system_supports_bbml3={every}; repaint to PTEs: {repainted}"));
            }
            Stage::RodataRo => {
                // arch/arm64/kernel/smp.c:446, then the initcalls, then mark_rodata_ro()
                // only with rodata_enabled (init/main.c:1575).
                self.mmu.mark_linear_text_alias_ro(img.text, img.init_begin).map_err(model_err("mark_linear_text_alias_ro"))?;
                self.steps.push("mark_linear_text_alias_ro".into());
                self.apply_calls(first_mark_here, false);
                if self.p.rodata_enabled {
                    self.mmu.mark_rodata_ro(&self.boot, img.init_end, img.bss_stop).map_err(model_err("mark_rodata_ro"))?;
                    let rules = self.p.rules;
                    let what = match (rules.mark_rodata_ro_changes_data_alias(), rules.data_alias_unmapped()) {
                        (false, _) => format!("untouched ({})", rules.name()),
                        (true, true) => "present-invalid".to_string(),
                        (true, false) => format!("read-only ({})", rules.name()),
                    };
                    self.steps.push(format!("mark_rodata_ro: linear alias of data/bss {what}"));
                }
            }
        }
        Ok(())
    }
}

/// The boot state a call was made in, from what was observed of it and what the model
/// decided.
fn boot_state_at(call: &ObservedBootState, requires: bool, policy: DirectMapPolicy, p: &BootParams, kfence: Option<(VirtAddr, u64)>, forget_finalisation: bool) -> BootState {
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
        boot.finalize_caps(p.cpus.iter().all(|c| cpu_supports_bbml(*c, p.rules)));
    }
    boot.kfence_pool = kfence;
    boot
}

const STAGES: [Stage; 6] = [Stage::MapMem, Stage::MemInit, Stage::KfenceInit, Stage::CapsFinalized, Stage::Repaint, Stage::RodataRo];

/// Replays the boot once, stopping at each of `stops` (in boot order; `trace` is the
/// kernel's call trace, each stop's `mark` how much of it came before the stop).
pub fn replay(p: &BootParams, stops: &[ReplayStop], trace: &[TracedCall], host: Vec<HostAnswer>, overrides: Overrides) -> Result<Replay> {
    let mut stops: Vec<&ReplayStop> = stops.iter().collect();
    stops.sort_by_key(|s| s.checkpoint);
    let first = &stops.first().ok_or_else(|| Error::Usage("the replay needs at least one checkpoint".into()))?.observed;
    let early_pool = p.kfence && !p.kfence_late;
    if early_pool && first.kfence.is_none() {
        return Err(Error::Model("CONFIG_KFENCE with an early pool, but the guest has no __kfence_pool".into()));
    }
    // The VA size is the model's decision (early_map_kernel()'s, from the scenario's CPU
    // and command line); memstart_addr, which arm64_memblock_init() moves with it, is
    // observed.
    let env = HostEnv::new(p.granule, PhysAddr(MODEL_TABLES.0), MODEL_TABLES.1);
    let mut mmu = Mmu::new(env, p.granule, p.vabits_actual, first.memstart_addr)
        .and_then(|m| m.with_kernel_va_bits(p.kernel_va_bits))
        .map_err(model_err("allocating swapper_pg_dir"))?;
    mmu.rules = p.rules;
    let inputs = map_mem_inputs(p, first, overrides);
    let requires = map_mem(&mut mmu, &inputs).map_err(model_err("map_mem"))?;
    let mut steps = Vec::new();
    if p.kernel_va_bits != p.vabits_actual {
        steps.push(format!(
            "VA size: a {}-bit kernel runs with {} bits (boot CPU LPA2: {}, LVA: {})",
            p.kernel_va_bits, p.vabits_actual, p.va_features.lpa2, p.va_features.lva
        ));
    }
    steps.push(format!(
        "map_mem: force_pte_mapping={} linear_map_requires_bbml3={requires} (boot CPU BBML3: {})",
        inputs.force_pte_mapping(),
        inputs.boot_cpu_bbml3
    ));
    let policy = inputs.policy();
    let kfence_va = first.kfence.as_ref().filter(|_| early_pool).map(|k| (mmu.lm(k.pa), k.size));
    let mut answers = vec![None; trace.len()];
    let mut unreplayable = Vec::new();
    // The split gate answers each traced split call on the map as map_mem left it (a
    // split there can only succeed or run out of memory), in the boot state of the call.
    for (i, call) in trace.iter().enumerate().filter(|(_, c)| c.function == TracedFn::SplitKernelLeafMapping) {
        let kfence = first.kfence.as_ref().map(|k| (mmu.lm(k.pa), k.size));
        let state = boot_state_at(&call.timeline, requires, policy, p, kfence, overrides.forget_finalisation);
        let Some((start, end)) = call.first_two() else {
            unreplayable.push(i);
            continue;
        };
        let mut m = mmu.clone();
        answers[i] = Some(ret_code(m.split_kernel_leaf_mapping(&state, VirtAddr(start), VirtAddr(end))));
    }
    let mut boot = BootState::at_map_mem(requires, policy);
    // arm64_rsi_init() finds the realm after map_mem (arch/arm64/kernel/setup.c:355).
    if let Some(shared) = prot_ns_shared(p) {
        boot.rsi_init(shared);
        steps.push(format!("arm64_rsi_init: realm, prot_ns_shared={shared:#x}"));
    }
    let mut run = Run {
        p,
        overrides,
        mmu,
        requires,
        policy,
        boot,
        rsi: HostRsi::replaying(host),
        steps,
        enc_dec: trace.iter().enumerate().filter(|(_, c)| c.function.is_enc_dec()).collect(),
        applied: 0,
        answers,
        unreplayable,
        kfence_va,
        freed_protected: BTreeSet::new(),
        free_unmapped: Vec::new(),
    };
    let last_stage = stops.last().map(|s| s.checkpoint.stage()).unwrap_or(Stage::MapMem);
    let mut at = Vec::new();
    let mut next = 0;
    for stage in STAGES.into_iter().take_while(|s| *s <= last_stage) {
        let here_mark = stops.get(next).map_or(trace.len(), |s| s.mark);
        run.step(stage, &stops[next.min(stops.len() - 1)].observed, here_mark)?;
        if stage >= Stage::MemInit {
            run.apply_calls(here_mark, true);
        }
        while let Some(stop) = stops.get(next).filter(|s| s.checkpoint.stage() == stage) {
            run.apply_calls(stop.mark, false);
            if stage >= Stage::KfenceInit && early_pool {
                run.sync_kfence_objects(&stop.observed)?;
            }
            if p.debug_pagealloc {
                run.sync_free_pages(&stop.observed)?;
            }
            at.push((stop.checkpoint, run.snapshot()));
            next += 1;
            if stage >= Stage::MemInit {
                let mark = stops.get(next).map_or(0, |s| s.mark);
                run.apply_calls(mark, true);
            }
        }
    }
    let mut unreplayable = run.unreplayable;
    unreplayable.sort_unstable();
    Ok(Replay { at, answers: run.answers, unreplayable })
}
