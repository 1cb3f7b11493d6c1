//! The debugger-stop handler of a capture: at each breakpoint it does what the
//! registry says the address is for (read the Linux side, record a traced call or its
//! return, hold the other vCPUs for the kernel's ptdump walk), then brings the debugger's
//! breakpoints in line with the registry.

use std::collections::BTreeMap;

use linux_harness::boot::StopHandler;
use linux_harness::gdbstub::{GdbStub, StopReply};
use linux_harness::qemu::{RunFiles, VIRT_RAM_BASE};
use rust_impl::address::PhysAddr;

use crate::capture::boot_events::{BootEvent, EventAt};
use crate::capture::breakpoints::{Breakpoints, Purpose};
use crate::capture::stop_point::StopPoint;
use crate::capture::trace::TracedCall;
use crate::error::{Error, Result};
use crate::linux_side::code_sites::{CodeSite, Exit, ParamAt};
use crate::linux_side::cpu_regs::CpuRegs;
use crate::linux_side::guest_memory::MappedRam;
use crate::linux_side::kernel::{GuestKernel, KernelInfo};
use crate::linux_side::kernel_view::KernelView;
use crate::linux_side::{boot_state, gic_tables, read_linux_side, LinuxSide};
use crate::timeline::TracedFn;

/// The kernel's ptdump walk for `/init` runs alone: its vCPU is held at the walk's start
/// until every other vCPU has reached the idle loop (`cpu_do_idle`, interrupts masked,
/// no lock held) and is held there; then it walks alone to `note_page_flush`. So no other
/// CPU maps or unmaps pages under the walk (debug_pagealloc does as pages are allocated
/// and freed), and no held CPU owns a lock the walk needs. `/init` pins itself to its
/// CPU, so the walk cannot move to a held one. Once the walk holds its locks
/// (`walk_page_range_debug`) the walking vCPU's IRQs and FIQs are masked too, up to
/// `note_page_flush`: no interrupt, softirq or preempting task on that CPU allocates or
/// frees pages between the walk passing an address and the host reading it.
struct WalkHold {
    walker: String,
    /// Other vCPUs still running towards the idle loop.
    pending: Vec<String>,
    /// The walker's PSTATE.{I,F} before they were masked, while they are.
    saved_irq_mask: Option<u64>,
}

/// PSTATE (the gdbstub's `cpsr`) bits I and F.
const PSTATE_IF: u64 = (1 << 7) | (1 << 6);

/// The pagewalk entry ptdump calls with its locks held: `walk_page_range_debug` since
/// Linux 6.15 (mm/ptdump.c), `walk_page_range_novma` before.
const WALK_ENTRIES: [&str; 2] = ["walk_page_range_debug", "walk_page_range_novma"];

/// What a capture collects while the guest boots.
pub struct CaptureHandler<'a> {
    pub info: &'a KernelInfo,
    pub ram_size: u64,
    pub monitor: bool,
    /// A realm: read what the GIC's ITS and redistributors were told at each checkpoint.
    realm: bool,
    pub breakpoints: Breakpoints,
    /// The vCPUs held around the kernel's ptdump walk, while it is in progress.
    hold: Option<WalkHold>,
    pub sides: BTreeMap<StopPoint, Result<LinuxSide>>,
    pub order: Vec<StopPoint>,
    pub trace: Vec<TracedCall>,
    pub trace_marks: BTreeMap<StopPoint, usize>,
    pub log_marks: BTreeMap<StopPoint, u32>,
    pub boot_events: Vec<EventAt>,
    pub ptdump_walks: usize,
    /// Where the kernel is, once known (for reading boot-state variables).
    view: Option<KernelView>,
    /// The first error met while tracing (reported after the boot).
    pub trace_error: Option<Error>,
}

impl<'a> CaptureHandler<'a> {
    pub fn new(info: &'a KernelInfo, ram_size: u64, monitor: bool, realm: bool, breakpoints: Breakpoints) -> Self {
        CaptureHandler {
            info,
            ram_size,
            monitor,
            realm,
            breakpoints,
            hold: None,
            sides: BTreeMap::new(),
            order: Vec::new(),
            trace: Vec::new(),
            trace_marks: BTreeMap::new(),
            log_marks: BTreeMap::new(),
            boot_events: Vec::new(),
            ptdump_walks: 0,
            view: None,
            trace_error: None,
        }
    }

    fn ram(files: &RunFiles) -> Result<MappedRam> {
        MappedRam::open(&files.ram, PhysAddr(VIRT_RAM_BASE)).map_err(|e| Error::io("mapping guest RAM", e))
    }

    /// Reads the Linux side at `point`, with the CPU's translation registers.
    fn capture(&mut self, point: StopPoint, gdb: &mut GdbStub, thread: &str, files: &RunFiles) {
        let side = (|| -> Result<LinuxSide> {
            let regs = CpuRegs { ttbr1: gdb.read_register(thread, "TTBR1_EL1")?, tcr: gdb.read_register(thread, "TCR_EL1")?, mair: gdb.read_register(thread, "MAIR_EL1")? };
            let mem = Self::ram(files)?;
            let gk = GuestKernel::attach(&mem, PhysAddr(VIRT_RAM_BASE), self.ram_size, self.info)?;
            let mut side = read_linux_side(&gk, Some(regs))?;
            if self.realm {
                // What the ITS and redistributors were told, from their own registers.
                let mut failed = None;
                side.device_buffers = gic_tables::device_buffers(&mut |pa, len| match gdb.read_physical(pa, len) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        failed.get_or_insert(e);
                        None
                    }
                });
                // Every register and table read stays inside the machine's map (the
                // redistributor walk stops at GICR_TYPER.Last): a failed read is ours.
                if let Some(e) = failed {
                    return Err(Error::Capture(format!("reading the GIC's table registers: {e}")));
                }
            }
            Ok(side)
        })();
        self.trace_marks.insert(point.clone(), self.trace.len());
        if self.monitor {
            if let Ok(n) = linux_harness::monitor::records_claimed(&files.ram) {
                self.log_marks.insert(point.clone(), n);
            }
        }
        if !self.order.contains(&point) {
            self.order.push(point.clone());
        }
        self.sides.insert(point, side);
    }

    /// Records a call of `function` entered at `site` and arms a breakpoint where it
    /// returns (a real call; an inlined instance has no return value to read).
    fn trace_entry(&mut self, function: TracedFn, site: &CodeSite, gdb: &mut GdbStub, thread: &str, files: &RunFiles) -> Result<()> {
        let mem = Self::ram(files)?;
        let gk = match self.view {
            Some(view) => GuestKernel { mem: &mem, info: self.info, view },
            None => {
                let gk = GuestKernel::attach(&mem, PhysAddr(VIRT_RAM_BASE), self.ram_size, self.info)?;
                self.view = Some(gk.view);
                gk
            }
        };
        let mut args = Vec::with_capacity(function.nargs());
        for at in site.params.iter().take(function.nargs()) {
            args.push(match *at {
                ParamAt::Reg(n) => Some(gdb.read_register(thread, &format!("x{n}"))?),
                ParamAt::RegPlus(n, off) => Some(gdb.read_register(thread, &format!("x{n}"))?.wrapping_add(off as u64)),
                ParamAt::Const(c) => Some(c),
                ParamAt::Unknown => None,
            });
        }
        args.resize(function.nargs(), None);
        let state = boot_state::read(&gk)?;
        let totalram_pages = gk.read_u64_sym("_totalram_pages")?;
        match &site.exit {
            Exit::Call => {
                let lr = gdb.read_register(thread, "x30")?;
                let sp = gdb.read_register(thread, "sp")?;
                let caller = self.info.symbols.symbolize(lr.wrapping_sub(4));
                self.trace.push(TracedCall { function, args, ret: None, caller, cpu: thread.to_string(), state, timeline: state, inlined_into: None, totalram_pages });
                self.breakpoints.add(lr, Purpose::TraceReturn { sp, index: self.trace.len() - 1 });
            }
            Exit::Inlined { into, .. } => {
                let caller = self.info.symbols.symbolize(site.entry);
                self.trace.push(TracedCall { function, args, ret: None, caller, cpu: thread.to_string(), state, timeline: state, inlined_into: Some(into.clone()), totalram_pages });
            }
        }
        Ok(())
    }

    /// Completes the innermost call returning to `pc` on the stack `thread` runs on now
    /// (whichever vCPU the task called from).
    fn trace_return(&mut self, pc: u64, gdb: &mut GdbStub, thread: &str) -> Result<()> {
        let sp_now = gdb.read_register(thread, "sp")?;
        let index = self
            .breakpoints
            .purposes(pc)
            .iter()
            .filter_map(|p| match p {
                Purpose::TraceReturn { sp, index } if *sp == sp_now => Some(*index),
                _ => None,
            })
            .max();
        if let Some(index) = index {
            self.trace[index].ret = Some(gdb.read_register(thread, "x0")? as u32 as i32);
            self.breakpoints.remove_one(pc, |p| matches!(p, Purpose::TraceReturn { index: i, .. } if *i == index));
        }
        Ok(())
    }

    fn handle(&mut self, pc: u64, gdb: &mut GdbStub, thread: &str, files: &RunFiles) -> Result<()> {
        let mut returned = false;
        for purpose in self.breakpoints.purposes(pc) {
            match purpose {
                Purpose::TraceReturn { .. } if !returned => {
                    returned = true;
                    if let Err(e) = self.trace_return(pc, gdb, thread) {
                        self.trace_error.get_or_insert(e);
                    }
                }
                Purpose::TraceReturn { .. } => {}
                Purpose::Traced(f, site) => {
                    if let Err(e) = self.trace_entry(f, &site, gdb, thread, files) {
                        self.trace_error.get_or_insert(e);
                    }
                }
                Purpose::BootEvent(event) => {
                    let cpu = match event {
                        // set_cpu_online(cpu, online): only bringing a CPU online counts.
                        BootEvent::CpuOnline if gdb.read_register(thread, "x1")? & 0xff == 0 => continue,
                        BootEvent::CpuOnline => Some(gdb.read_register(thread, "x0")? & 0xffff_ffff),
                        _ => None,
                    };
                    self.boot_events.push(EventAt { event, mark: self.trace.len(), cpu });
                }
                Purpose::PtdumpWalkStart => self.hold_for_walk(gdb, thread)?,
                Purpose::IdleHold => {
                    if let Some(h) = self.hold.as_mut() {
                        h.pending.retain(|t| t != thread);
                        if h.pending.is_empty() {
                            self.breakpoints.remove_all(|p| *p == Purpose::IdleHold);
                        }
                    }
                }
                Purpose::PtdumpWalkReads => self.mask_walker_irqs(gdb, thread)?,
                Purpose::PtdumpWalkEnd => {
                    self.ptdump_walks += 1;
                    self.capture(StopPoint::Checkpoint(crate::timeline::Checkpoint::EndOfBoot), gdb, thread, files);
                    if let Some(saved) = self.hold.take().and_then(|h| h.saved_irq_mask.filter(|_| h.walker == thread)) {
                        let pstate = gdb.read_register(thread, "cpsr")?;
                        gdb.write_register(thread, "cpsr", (pstate & !PSTATE_IF) | saved)?;
                    }
                    self.breakpoints.remove_all(|p| matches!(p, Purpose::IdleHold | Purpose::PtdumpWalkReads));
                }
                // These points are passed once at boot; a stop point with several
                // addresses (a source line) is done at the first.
                Purpose::Stop(point) => {
                    self.breakpoints.remove_all(|p| *p == Purpose::Stop(point.clone()));
                    self.capture(point, gdb, thread, files);
                }
                Purpose::StopAtReturn(point, exit) => {
                    self.breakpoints.remove_all(|p| matches!(p, Purpose::StopAtReturn(s, _) if *s == point));
                    match exit {
                        Exit::Call => {
                            let lr = gdb.read_register(thread, "x30")?;
                            self.breakpoints.add(lr, Purpose::Returned(point));
                        }
                        // The first end of the inlined code reached is its return.
                        Exit::Inlined { ends, .. } => {
                            for end in ends {
                                self.breakpoints.add(end, Purpose::Returned(point.clone()));
                            }
                        }
                    }
                }
                Purpose::Returned(point) => {
                    self.breakpoints.remove_all(|p| *p == Purpose::Returned(point.clone()));
                    self.capture(point, gdb, thread, files);
                }
            }
        }
        Ok(())
    }

    /// The walk starts on `walker`: hold it until the other vCPUs are idle.
    fn hold_for_walk(&mut self, gdb: &mut GdbStub, walker: &str) -> Result<()> {
        let mut pending = Vec::new();
        for t in gdb.threads()? {
            if t != walker && !self.info.symbols.symbolize(gdb.read_register(&t, "pc")?).starts_with("cpu_do_idle+") {
                pending.push(t);
            }
        }
        if !pending.is_empty() {
            self.breakpoints.add(self.info.symbols.get("cpu_do_idle")?, Purpose::IdleHold);
        }
        let entry = WALK_ENTRIES.iter().find_map(|f| self.info.symbols.get(f).ok());
        let entry = entry.ok_or_else(|| Error::Debuginfo(format!("none of {WALK_ENTRIES:?} is in vmlinux: where does ptdump's walk start?")))?;
        self.breakpoints.add(entry, Purpose::PtdumpWalkReads);
        if std::env::var_os("LMO_PROFILE").is_some() {
            eprintln!("ptdump walk on vCPU {walker}: waiting for {pending:?} to reach the idle loop");
        }
        self.hold = Some(WalkHold { walker: walker.to_string(), pending, saved_irq_mask: None });
        Ok(())
    }

    /// The walk proper starts on `thread`: if it is the held walk's vCPU, mask its IRQs
    /// and FIQs (once; ptdump walks several ranges) until the walk's end.
    fn mask_walker_irqs(&mut self, gdb: &mut GdbStub, thread: &str) -> Result<()> {
        let Some(hold) = self.hold.as_mut().filter(|h| h.walker == thread && h.saved_irq_mask.is_none()) else { return Ok(()) };
        let pstate = gdb.read_register(thread, "cpsr")?;
        gdb.write_register(thread, "cpsr", pstate | PSTATE_IF)?;
        hold.saved_irq_mask = Some(pstate & PSTATE_IF);
        if std::env::var_os("LMO_PROFILE").is_some() {
            eprintln!("ptdump walk on vCPU {thread}: PSTATE {pstate:#x}, IRQs and FIQs masked for the walk");
        }
        Ok(())
    }

    /// Sets and clears the debugger's breakpoints so they are the registry's.
    fn sync(&self, gdb: &mut GdbStub) -> Result<()> {
        let wanted = self.breakpoints.addresses();
        let inserted: Vec<u64> = gdb.inserted().iter().copied().collect();
        for va in inserted.iter().filter(|va| !wanted.contains(va)) {
            gdb.clear_breakpoint(*va)?;
        }
        for va in wanted.iter().filter(|va| !inserted.contains(va)) {
            gdb.set_breakpoint(*va)?;
        }
        Ok(())
    }
}

impl StopHandler for CaptureHandler<'_> {
    fn resume_only(&self) -> Option<Vec<String>> {
        self.hold.as_ref().map(|h| if h.pending.is_empty() { vec![h.walker.clone()] } else { h.pending.clone() })
    }

    fn breakpoints(&self) -> Vec<u64> {
        self.breakpoints.addresses()
    }

    fn on_stop(&mut self, stop: &StopReply, gdb: &mut GdbStub, files: &RunFiles) -> linux_harness::Result<()> {
        let thread = stop.thread.clone().unwrap_or_else(|| "p1.1".into());
        let pc = gdb.read_register(&thread, "pc")?;
        // Errors of the debugger itself end the boot; the rest are reported after it.
        let r = self.handle(pc, gdb, &thread, files).and_then(|()| self.sync(gdb));
        match r {
            Ok(()) => Ok(()),
            Err(Error::Harness(e)) => Err(e),
            Err(e) => {
                self.trace_error.get_or_insert(e);
                Ok(())
            }
        }
    }
}
