//! Reading the Linux side at boot checkpoints. QEMU starts paused; each checkpoint is a
//! breakpoint on a vmlinux symbol (its entry, or the return address read from x30 at
//! its entry); when it is hit every vCPU is stopped, and the linear map is read from
//! guest RAM. `end-of-boot` is where the kernel finishes its own ptdump walk for `/init`
//! (`note_page_flush`): the walk there is cross-checked line for line against the
//! ptdump text the kernel prints from that same walk.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use linux_harness::boot::{boot_with, StopHandler};
use linux_harness::gdbstub::{GdbStub, StopReply};
use linux_harness::qemu::{RunFiles, VIRT_RAM_BASE};
use linux_harness::{BootOutcome, BootRequest, EndAction};

use crate::cpu_regs::CpuRegs;
use crate::guest_memory::MappedRam;
use crate::monitor_events::MonitorEvents;
use crate::linux_side::{kernel_view, read_linux_side_with, KernelView, LinuxSide};
use crate::prepare::Prepared;
use crate::ptdump::Ptdump;
use crate::ptdump_check::{compare, remerge, Mismatch};
use crate::symbols::KernelSymbols;
use crate::trace::TracedCall;

/// Where a checkpoint stops the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// At the entry of a function.
    Entry(&'static str),
    /// When a function returns (a one-shot breakpoint at the return address).
    Return(&'static str),
    /// At the first instruction of a source line (DWARF line table), `line:FILE:LINE`.
    Line(String, u64),
    /// Where the kernel's own ptdump walk for `/init` ends.
    PtdumpWalk,
}

/// The anchor of each checkpoint of [`crate::scenario::CHECKPOINTS`] (spec section 1),
/// or of a source line written `line:arch/arm64/mm/init.c:386`.
pub fn anchor(checkpoint: &str) -> Result<Anchor> {
    if let Some(spec) = checkpoint.strip_prefix("line:") {
        let (file, line) = spec.rsplit_once(':').context("a line checkpoint is line:FILE:LINE")?;
        let line = line.parse().with_context(|| format!("{line:?} is not a line number"))?;
        return Ok(Anchor::Line(file.to_string(), line));
    }
    Ok(match checkpoint {
        "after-map-mem" => Anchor::Return("paging_init"),
        "after-rsi-init" => Anchor::Return("arm64_rsi_init"),
        "mem-init" => Anchor::Return("mem_init"),
        "before-smp" => Anchor::Entry("smp_init"),
        "caps-finalized" => Anchor::Entry("linear_map_maybe_split_to_ptes"),
        "after-repaint" => Anchor::Return("linear_map_maybe_split_to_ptes"),
        "after-rodata-ro" => Anchor::Return("mark_rodata_ro"),
        "end-of-boot" => Anchor::PtdumpWalk,
        other => bail!("unknown checkpoint {other:?}"),
    })
}

/// The Linux side of a booted scenario at its checkpoints.
pub struct Capture {
    /// Checkpoint name → the Linux side read there (in timeline order of hits).
    pub sides: BTreeMap<String, LinuxSide>,
    /// Checkpoints in the order they were hit.
    pub order: Vec<String>,
    /// end-of-boot only: disagreements with the in-guest ptdump (empty: they agree).
    pub ptdump_mismatches: Vec<Mismatch>,
    pub ptdump_lines: usize,
    /// How many times the kernel's ptdump walk was caught (seq_file retries with a
    /// bigger buffer; the last one is the text that was printed).
    pub captures: usize,
    pub console: String,
    /// WARN blocks in the kernel log.
    pub warnings: usize,
    /// The call trace, in call order (empty unless tracing was asked for).
    pub trace: Vec<TracedCall>,
    /// Checkpoint name → how many traced calls had been made when it was read.
    pub trace_marks: BTreeMap<String, usize>,
    /// The EL2 monitor's event log at the end (monitor runs only).
    pub monitor: Option<MonitorEvents>,
    /// Checkpoint name → how many monitor records had been claimed when it was read.
    pub log_marks: BTreeMap<String, u32>,
}

/// The end-of-boot dump `oracle dump` prints.
pub struct Dump {
    pub side: LinuxSide,
    /// The EL2 monitor's event log (monitor runs only).
    pub monitor: Option<MonitorEvents>,
    pub ptdump_mismatches: Vec<Mismatch>,
    pub ptdump_lines: usize,
    pub captures: usize,
    pub console: String,
    pub warnings: usize,
}

struct CheckpointHandler<'a> {
    prepared: &'a Prepared,
    ram_size: u64,
    /// Entry breakpoints: VA → (checkpoint, stop at the return instead).
    entries: BTreeMap<u64, Vec<(String, bool)>>,
    /// Armed return breakpoints: VA → checkpoints.
    returns: BTreeMap<u64, Vec<String>>,
    note_page_flush: Option<u64>,
    /// `ptdump_walk_pgd`: from its entry to `note_page_flush` only the walking vCPU
    /// runs, so no other CPU maps or unmaps pages under the kernel's own walk.
    ptdump_walk_pgd: Option<u64>,
    /// The vCPU walking, while a ptdump walk is in progress.
    walking: Option<String>,
    sides: BTreeMap<String, Result<LinuxSide>>,
    order: Vec<String>,
    trace_marks: BTreeMap<String, usize>,
    log_marks: BTreeMap<String, u32>,
    ptdump_walks: usize,
    /// Traced function entries: VA → (function, number of arguments).
    traced: BTreeMap<u64, (&'static str, usize)>,
    /// Calls waiting for their return: return address → (thread, index in `trace`).
    returning: BTreeMap<u64, Vec<(String, usize)>>,
    trace: Vec<TracedCall>,
    syms: &'a KernelSymbols,
    /// Where the kernel is, once known (for reading boot-state variables).
    view: Option<KernelView>,
    /// The first error met while tracing (reported after the boot).
    trace_error: Option<anyhow::Error>,
}

impl CheckpointHandler<'_> {
    fn read(&self, gdb: &mut GdbStub, thread: &str, files: &RunFiles) -> Result<LinuxSide> {
        let regs = CpuRegs {
            ttbr1: gdb.read_register(thread, "TTBR1_EL1")?,
            tcr: gdb.read_register(thread, "TCR_EL1")?,
            mair: gdb.read_register(thread, "MAIR_EL1")?,
        };
        let mem = MappedRam::open(&files.ram, VIRT_RAM_BASE).context("mapping guest RAM")?;
        read_linux_side_with(&mem, VIRT_RAM_BASE, self.ram_size, &self.prepared.kernel, Some(regs), self.syms)
    }

    /// Records a call of a traced function and arms a breakpoint at its return address.
    fn trace_entry(&mut self, function: &'static str, nargs: usize, gdb: &mut GdbStub, thread: &str, files: &RunFiles) -> Result<()> {
        let mem = MappedRam::open(&files.ram, VIRT_RAM_BASE).context("mapping guest RAM")?;
        let view = match self.view {
            Some(v) => v,
            None => {
                let (_, va_bits) = crate::linux_side::translation_config(&self.prepared.kernel.config)?;
                let v = kernel_view(&mem, VIRT_RAM_BASE, self.ram_size, &self.prepared.kernel, self.syms, va_bits)?;
                self.view = Some(v);
                v
            }
        };
        let args = (0..nargs).map(|i| gdb.read_register(thread, &format!("x{i}"))).collect::<linux_harness::Result<Vec<u64>>>()?;
        let lr = gdb.read_register(thread, "x30")?;
        let state = crate::trace::boot_state(&mem, self.syms, &view)?;
        self.trace.push(TracedCall { function, args, ret: None, caller: self.syms.symbolize(lr.wrapping_sub(4)), cpu: thread.to_string(), state, model_ret: None });
        if !gdb.inserted().contains(&lr) {
            gdb.set_breakpoint(lr)?;
        }
        self.returning.entry(lr).or_default().push((thread.to_string(), self.trace.len() - 1));
        Ok(())
    }

    /// Completes the calls returning to `pc` on `thread`.
    fn trace_return(&mut self, pc: u64, gdb: &mut GdbStub, thread: &str) -> Result<()> {
        let Some(waiting) = self.returning.get_mut(&pc) else { return Ok(()) };
        if let Some(pos) = waiting.iter().rposition(|(t, _)| t == thread) {
            let (_, index) = waiting.remove(pos);
            self.trace[index].ret = Some(gdb.read_register(thread, "x0")? as u32 as i32);
        }
        if waiting.is_empty() {
            self.returning.remove(&pc);
            if !self.traced.contains_key(&pc) && !self.entries.contains_key(&pc) && Some(pc) != self.note_page_flush {
                gdb.clear_breakpoint(pc)?;
            }
        }
        Ok(())
    }

    fn capture(&mut self, name: &str, gdb: &mut GdbStub, thread: &str, files: &RunFiles) {
        let side = self.read(gdb, thread, files);
        self.trace_marks.insert(name.to_string(), self.trace.len());
        if self.prepared.scenario.machine.needs_monitor() {
            if let Ok(n) = linux_harness::monitor::records_claimed(&files.ram) {
                self.log_marks.insert(name.to_string(), n);
            }
        }
        if !self.order.iter().any(|n| n == name) {
            self.order.push(name.to_string());
        }
        self.sides.insert(name.to_string(), side);
    }
}

impl StopHandler for CheckpointHandler<'_> {
    fn resume_only(&self) -> Option<String> {
        self.walking.clone()
    }

    fn single_vcpu_timed_out(&mut self) {
        self.walking = None;
    }

    fn breakpoints(&self) -> Vec<u64> {
        let mut bps: Vec<u64> =
            self.entries.keys().chain(self.traced.keys()).copied().chain(self.note_page_flush).chain(self.ptdump_walk_pgd).collect();
        bps.sort_unstable();
        bps.dedup();
        bps
    }

    fn on_stop(&mut self, stop: &StopReply, gdb: &mut GdbStub, files: &RunFiles) -> linux_harness::Result<()> {
        let thread = stop.thread.clone().unwrap_or_else(|| "p1.1".into());
        let pc = gdb.read_register(&thread, "pc")?;
        if self.returning.contains_key(&pc) {
            if let Err(e) = self.trace_return(pc, gdb, &thread) {
                self.trace_error.get_or_insert(e);
            }
        }
        if let Some(&(function, nargs)) = self.traced.get(&pc) {
            if let Err(e) = self.trace_entry(function, nargs, gdb, &thread, files) {
                self.trace_error.get_or_insert(e);
            }
        }
        if Some(pc) == self.ptdump_walk_pgd {
            self.walking = Some(thread.clone());
        }
        if Some(pc) == self.note_page_flush {
            self.ptdump_walks += 1;
            self.capture("end-of-boot", gdb, &thread, files);
            self.walking = None;
        }
        if let Some(list) = self.entries.remove(&pc) {
            // These points are passed once at boot: entry breakpoints are one-shot, and a
            // checkpoint with several addresses (a source line) is done at the first.
            gdb.clear_breakpoint(pc)?;
            for (name, _) in &list {
                let siblings: Vec<u64> = self.entries.iter().filter(|(_, l)| l.iter().any(|(n, _)| n == name)).map(|(va, _)| *va).collect();
                for va in siblings {
                    if let Some(l) = self.entries.get_mut(&va) {
                        l.retain(|(n, _)| n != name);
                        if l.is_empty() {
                            self.entries.remove(&va);
                            gdb.clear_breakpoint(va)?;
                        }
                    }
                }
            }
            for (name, at_return) in list {
                if at_return {
                    let lr = gdb.read_register(&thread, "x30")?;
                    if !gdb.inserted().contains(&lr) {
                        gdb.set_breakpoint(lr)?;
                    }
                    self.returns.entry(lr).or_default().push(name);
                } else {
                    self.capture(&name, gdb, &thread, files);
                }
            }
        }
        if let Some(list) = self.returns.remove(&pc) {
            gdb.clear_breakpoint(pc)?;
            for name in list {
                self.capture(&name, gdb, &thread, files);
            }
        }
        Ok(())
    }
}

/// Whether the scenario boots with debug_pagealloc on (CONFIG_DEBUG_PAGEALLOC and the
/// command line).
fn debug_pagealloc_active(p: &Prepared) -> Result<bool> {
    let config = linux_harness::config::parse_config(&std::fs::read_to_string(&p.kernel.config)?);
    Ok(crate::boot_params::boot_params(&p.scenario.cmdline, &config, &p.scenario.machine)?.debug_pagealloc)
}

/// Boots `p` and reads the Linux side at each of `checkpoints`; with `trace`, also
/// records every call of the functions in [`crate::trace::TRACED`].
pub fn capture_checkpoints(p: &Prepared, checkpoints: &[String], trace: bool) -> Result<Capture> {
    let syms = KernelSymbols::load(&p.kernel.vmlinux)?;
    let mut traced = BTreeMap::new();
    if trace {
        for &(f, n) in crate::trace::TRACED {
            traced.insert(syms.get(f)?, (f, n));
        }
    }
    let mut handler = CheckpointHandler {
        traced,
        returning: BTreeMap::new(),
        trace: Vec::new(),
        syms: &syms,
        view: None,
        trace_error: None,
        prepared: p,
        ram_size: p.scenario.machine.qemu_ram_mib() << 20,
        entries: BTreeMap::new(),
        returns: BTreeMap::new(),
        note_page_flush: None,
        ptdump_walk_pgd: None,
        walking: None,
        sides: BTreeMap::new(),
        order: Vec::new(),
        trace_marks: BTreeMap::new(),
        log_marks: BTreeMap::new(),
        ptdump_walks: 0,
    };
    for cp in checkpoints {
        match anchor(cp)? {
            Anchor::Entry(f) => handler.entries.entry(syms.get(f)?).or_default().push((cp.clone(), false)),
            Anchor::Return(f) => handler.entries.entry(syms.get(f)?).or_default().push((cp.clone(), true)),
            Anchor::Line(file, line) => {
                for va in crate::dwarf::line_addresses(&p.kernel.vmlinux, &file, line)? {
                    handler.entries.entry(va).or_default().push((cp.clone(), false));
                }
            }
            Anchor::PtdumpWalk => {
                handler.note_page_flush = Some(syms.get("note_page_flush")?);
                // Only debug_pagealloc maps and unmaps linear-map pages as other CPUs
                // allocate; there the kernel's walk runs with the other vCPUs stopped.
                if debug_pagealloc_active(p)? {
                    handler.ptdump_walk_pgd = Some(syms.get("ptdump_walk_pgd")?);
                }
            }
        }
    }
    let req = BootRequest {
        kernel: &p.kernel,
        initramfs: &p.initramfs,
        machine: &p.scenario.machine,
        cmdline: &p.scenario.cmdline,
        end: EndAction::Wait,
        timeout: p.scenario.timeout(),
        keep_run_dir: false,
        monitor_boot_info_override: None,
    };
    let boot = boot_with(&req, Some(&mut handler)).with_context(|| format!("{}: booting", p.file.display()))?;
    if boot.outcome != BootOutcome::Booted {
        bail!("{}: the guest did not boot: {}", p.file.display(), boot.outcome.summary());
    }
    if let Some(e) = handler.trace_error.take() {
        return Err(e.context("tracing"));
    }
    let mut sides = BTreeMap::new();
    for cp in checkpoints {
        let side = handler.sides.remove(cp).ok_or_else(|| anyhow!("checkpoint {cp} was never reached"))?;
        sides.insert(cp.clone(), side.with_context(|| format!("reading the Linux side at {cp}"))?);
    }
    let monitor = match boot.guest.as_ref().and_then(|g| g.monitor_log()) {
        Some(log) => {
            let log = log.context("reading the monitor's event log")?;
            let view = log.view().map_err(|e| anyhow!("{e}"))?;
            Some(MonitorEvents::from_view(&view))
        }
        None => None,
    };
    let (mut ptdump_mismatches, mut ptdump_lines) = (Vec::new(), 0);
    if let Some(side) = sides.get("end-of-boot") {
        let text = boot.ptdump().context("no in-guest ptdump in the console log")?;
        let ptdump = Ptdump::parse(&text)?;
        let section = ptdump.linear_map().context("the in-guest ptdump has no Linear Mapping section")?;
        ptdump_mismatches = compare(&remerge(&side.visits), section);
        ptdump_lines = section.ranges.len();
    }
    Ok(Capture {
        sides,
        order: handler.order,
        ptdump_mismatches,
        ptdump_lines,
        captures: handler.ptdump_walks,
        console: boot.console.clone(),
        warnings: boot.warnings.len(),
        trace: handler.trace,
        trace_marks: handler.trace_marks,
        monitor,
        log_marks: handler.log_marks,
    })
}

/// Boots `p` and reads its linear map at the end of boot.
pub fn dump_scenario(p: &Prepared) -> Result<Dump> {
    let mut c = capture_checkpoints(p, &["end-of-boot".to_string()], false)?;
    let side = c.sides.remove("end-of-boot").context("no end-of-boot capture")?;
    Ok(Dump { side, monitor: c.monitor, ptdump_mismatches: c.ptdump_mismatches, ptdump_lines: c.ptdump_lines, captures: c.captures, console: c.console, warnings: c.warnings })
}
