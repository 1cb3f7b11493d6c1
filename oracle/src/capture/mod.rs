//! Capture: boot a prepared scenario to its stop points and read the Linux side at each.
//! QEMU starts paused; each checkpoint is a breakpoint on a vmlinux symbol (its entry, or
//! the return address read from x30 at its entry) or a source line; when it is hit every
//! vCPU is stopped and the linear map is read from guest RAM. `end-of-boot` is where the
//! kernel finishes its own ptdump walk for `/init` (`note_page_flush`): the walk there is
//! cross-checked line for line against the ptdump text the kernel prints from that same
//! walk, which runs with every other vCPU held (docs/walker.md). With tracing, every call
//! of the traced functions is recorded. The result is an immutable observation.

pub mod boot_events;
pub mod breakpoints;
pub mod handler;
pub mod stop_point;
pub mod trace;

use std::collections::BTreeMap;

use linux_harness::boot::boot_with;
use linux_harness::{BootOutcome, EndAction};

use crate::error::{Context, Error, Result};
use crate::linux_side::monitor_log::MonitorEvents;
use crate::linux_side::ptdump::Ptdump;
use crate::linux_side::ptdump_check::{compare, remerge, Mismatch};
use crate::linux_side::code_sites::CodeSite;
use crate::linux_side::{dwarf, LinuxSide};
use crate::prepare::Prepared;
use crate::named::Named;
use crate::timeline::{Anchor, Checkpoint, TracedFn};
use boot_events::BootEvent;
use breakpoints::{Breakpoints, Purpose};
use handler::CaptureHandler;
pub use stop_point::StopPoint;
use trace::TracedCall;

/// The Linux side of a booted scenario at its stop points, and what else the boot showed.
pub struct Capture {
    /// The Linux side at each stop point.
    pub sides: BTreeMap<StopPoint, LinuxSide>,
    /// Stop points in the order they were hit.
    pub order: Vec<StopPoint>,
    /// At end-of-boot: the walk against the in-guest ptdump.
    pub ptdump: Option<PtdumpCheck>,
    /// How many times the kernel's ptdump walk was caught (seq_file retries with a
    /// bigger buffer; the last one is the text that was printed).
    pub ptdump_walks: usize,
    pub console: String,
    /// WARN blocks in the kernel log.
    pub warnings: usize,
    /// The call trace, in call order (empty unless tracing was asked for).
    pub trace: Vec<TracedCall>,
    /// The boot events that open the split gate's windows, as they happened (traced
    /// boots only), and those this build has nowhere to see.
    pub boot_events: Vec<boot_events::EventAt>,
    pub unobserved_events: Vec<boot_events::BootEvent>,
    /// Traced functions this build has nowhere to stop in: no symbol, no clone, no
    /// inlined instance (docs/call-tracing.md).
    pub trace_gaps: Vec<String>,
    /// Stop point → how many traced calls had been made when it was read.
    pub trace_marks: BTreeMap<StopPoint, usize>,
    /// The EL2 monitor's event log at the end (monitor runs only).
    pub monitor: Option<MonitorEvents>,
    /// Stop point → how many monitor records had been claimed when it was read.
    pub log_marks: BTreeMap<StopPoint, u32>,
}

/// The end-of-boot walk checked against the kernel's own ptdump.
pub struct PtdumpCheck {
    /// Where they disagree (empty: they agree).
    pub mismatches: Vec<Mismatch>,
    /// Lines of the ptdump's linear-map section.
    pub lines: usize,
}

impl Capture {
    /// The Linux side at a named checkpoint.
    pub fn side(&self, c: Checkpoint) -> Option<&LinuxSide> {
        self.sides.get(&StopPoint::Checkpoint(c))
    }
    /// How many traced calls had been made at `point` (all of them if it was not read).
    pub fn trace_mark(&self, point: &StopPoint) -> usize {
        self.trace_marks.get(point).copied().unwrap_or(self.trace.len())
    }
    /// The named checkpoints read, in boot order.
    pub fn checkpoints(&self) -> Vec<Checkpoint> {
        self.order.iter().filter_map(StopPoint::checkpoint).collect()
    }
}

/// The registry for `points` (and the traced functions, with `trace`), and what of the
/// traced functions this build does not let the tracer see.
fn breakpoints(p: &Prepared, points: &[StopPoint], trace: bool) -> Result<(Breakpoints, Vec<String>, Vec<BootEvent>)> {
    let info = p.kernel_info()?;
    let syms = &info.symbols;
    let mut b = Breakpoints::default();
    let mut gaps = Vec::new();
    let mut unobserved = Vec::new();
    if trace {
        for e in BootEvent::ALL {
            let function = e.function_on(p.params.rules);
            let sites = info.sites(function, 0);
            if sites.is_empty() {
                gaps.push(format!("boot event {function}: {function} is not in this build, so the kernel's own {} stands in for the timeline", e.variable()));
                unobserved.push(e);
            }
            for site in sites {
                b.add(site.entry, Purpose::BootEvent(e));
            }
        }
        for &f in TracedFn::all() {
            let sites = info.sites(f.symbol(), f.nargs());
            if sites.is_empty() {
                gaps.push(format!("{f}: not in this build (no symbol, and no clone or inlined instance in the DWARF): its calls are not traced"));
            }
            for site in sites {
                b.add(site.entry, Purpose::Traced(f, site));
            }
        }
    }
    let anchor_sites = |point: &StopPoint, f: &str| -> Result<Vec<CodeSite>> {
        let sites = info.sites(f, 0);
        if sites.is_empty() {
            return Err(Error::Debuginfo(format!("checkpoint {point}: {f} is not in this build (no symbol, and no clone or inlined instance in the DWARF)")));
        }
        Ok(sites)
    };
    for point in points {
        match point {
            StopPoint::Line { file, line } => {
                for va in dwarf::line_addresses(&p.kernel.vmlinux, file, *line)? {
                    b.add(va, Purpose::Stop(point.clone()));
                }
            }
            StopPoint::Checkpoint(c) => match c.anchor_on(p.params.rules) {
                Anchor::Entry(f) => {
                    for site in anchor_sites(point, f)? {
                        b.add(site.entry, Purpose::Stop(point.clone()));
                    }
                }
                Anchor::Return(f) => {
                    for site in anchor_sites(point, f)? {
                        b.add(site.entry, Purpose::StopAtReturn(point.clone(), site.exit));
                    }
                }
                Anchor::PtdumpWalk => {
                    b.add(syms.get("note_page_flush")?, Purpose::PtdumpWalkEnd);
                    // The walk runs alone (handler::WalkHold).
                    b.add(syms.get("ptdump_walk_pgd")?, Purpose::PtdumpWalkStart);
                }
            },
        }
    }
    Ok((b, gaps, unobserved))
}

/// The kernel failed before the boot was over (a panic, or an oops or BUG before a
/// hang): a kernel outcome, with what was read before it.
pub struct KernelFailure {
    pub summary: String,
    pub read: Capture,
}

impl KernelFailure {
    /// The failure as an error, for callers that have no use for a partial capture.
    pub fn into_error(self, file: &std::path::Path) -> Error {
        Error::Capture(format!("{}: the guest did not boot: {}", file.display(), self.summary.lines().next().unwrap_or("")))
    }
}

/// Boots `p` and reads the Linux side at each of `points`; with `trace`, also records
/// every call of the [`TracedFn`]s. A kernel failure is an error here (see
/// [`capture_or_kernel_failure`] to keep what was read before it).
pub fn capture(p: &Prepared, points: &[StopPoint], trace: bool) -> Result<Capture> {
    capture_or_kernel_failure(p, points, trace)?.map_err(|k| k.into_error(&p.file))
}

/// [`capture`], with a kernel failure as a result of its own.
pub fn capture_or_kernel_failure(p: &Prepared, points: &[StopPoint], trace: bool) -> Result<std::result::Result<Capture, KernelFailure>> {
    let info = p.kernel_info()?;
    let (breakpoints, trace_gaps, unobserved) = breakpoints(p, points, trace)?;
    let mut handler = CaptureHandler::new(info, p.scenario.machine.qemu_ram_mib() << 20, p.scenario.machine.needs_monitor(), p.scenario.machine.realm.is_some(), breakpoints);
    let req = p.boot_request(EndAction::Wait);
    let boot = boot_with(&req, Some(&mut handler)).with_context(|| format!("{}: booting", p.file.display()))?;
    if boot.outcome != BootOutcome::Booted {
        if let Some(summary) = kernel_failure(&boot) {
            // What was read before the kernel failed: checkpoints, calls, the monitor.
            // The log as the guest left it: from the live guest, or read before QEMU went.
            let live = boot.guest.as_ref().and_then(|g| g.monitor_log()).and_then(|l| l.ok());
            let monitor = live.as_ref().or(boot.monitor_log_at_end.as_ref()).and_then(|l| l.view().ok().map(|v| MonitorEvents::from_view(&v)));
            let sides = std::mem::take(&mut handler.sides).into_iter().filter_map(|(point, side)| side.ok().map(|s| (point, s))).collect();
            let read = assemble(handler, &boot, sides, monitor, None, trace_gaps, unobserved);
            return Ok(Err(KernelFailure { summary, read }));
        }
        return Err(Error::Capture(format!("{}: the guest did not boot: {}", p.file.display(), boot.outcome.summary())));
    }
    if let Some(e) = handler.trace_error.take() {
        return Err(e).context("tracing");
    }
    let mut sides = BTreeMap::new();
    for point in points {
        let side = handler.sides.remove(point).with_context(|| format!("checkpoint {point} was never reached"))?;
        sides.insert(point.clone(), side.with_context(|| format!("reading the Linux side at {point}"))?);
    }
    let monitor = match boot.guest.as_ref().and_then(|g| g.monitor_log()) {
        Some(log) => {
            let log = log.context("reading the monitor's event log")?;
            let view = log.view().map_err(|e| Error::Guest(format!("the monitor's event log: {e}")))?;
            Some(MonitorEvents::from_view(&view))
        }
        None => None,
    };
    let ptdump = match sides.get(&StopPoint::Checkpoint(Checkpoint::EndOfBoot)) {
        Some(side) => {
            let text = boot.ptdump().context("no in-guest ptdump in the console log")?;
            let ptdump = Ptdump::parse(&text)?;
            let section = ptdump.linear_map().context("the in-guest ptdump has no Linear Mapping section")?;
            Some(PtdumpCheck { mismatches: compare(&remerge(&side.visits), section), lines: section.ranges.len() })
        }
        None => None,
    };
    Ok(Ok(assemble(handler, &boot, sides, monitor, ptdump, trace_gaps, unobserved)))
}

/// A capture from what the handler recorded during `boot` and what was read after it.
fn assemble(
    handler: CaptureHandler,
    boot: &linux_harness::Boot,
    sides: BTreeMap<StopPoint, LinuxSide>,
    monitor: Option<MonitorEvents>,
    ptdump: Option<PtdumpCheck>,
    trace_gaps: Vec<String>,
    unobserved: Vec<BootEvent>,
) -> Capture {
    let mut trace = handler.trace;
    for (i, call) in trace.iter_mut().enumerate() {
        call.timeline = boot_events::timeline_state(&handler.boot_events, &unobserved, i, call.state);
    }
    Capture {
        sides,
        order: handler.order,
        ptdump,
        ptdump_walks: handler.ptdump_walks,
        console: boot.console.clone(),
        warnings: boot.warnings.len(),
        trace,
        boot_events: handler.boot_events,
        unobserved_events: unobserved,
        trace_gaps,
        trace_marks: handler.trace_marks,
        monitor,
        log_marks: handler.log_marks,
    }
}

/// The kernel's own failure in a boot that did not reach `/init`: a panic, or a hang
/// after an oops or BUG in the console (a hang with nothing of the kind stays the
/// oracle's or the machine's: a timeout). `None` when the kernel is not to blame.
fn kernel_failure(boot: &linux_harness::Boot) -> Option<String> {
    const SIGNS: [&str; 4] = ["Internal error: Oops", "Unable to handle kernel", "BUG: ", "Kernel panic"];
    match &boot.outcome {
        BootOutcome::Panicked { message, text } => Some(format!("kernel panic: {message}\n{text}")),
        BootOutcome::Hung { seconds, .. } => {
            let at = boot.console.lines().position(|l| SIGNS.iter().any(|s| l.contains(s)))?;
            let excerpt: Vec<&str> = boot.console.lines().skip(at).take(40).collect();
            Some(format!("kernel failure, then no progress for {seconds:.0} s: {}\n{}", excerpt[0].trim(), excerpt.join("\n")))
        }
        _ => None,
    }
}

/// Boots `p` and reads the named `checkpoints` (and the call trace, with `trace`).
pub fn capture_checkpoints(p: &Prepared, checkpoints: &[Checkpoint], trace: bool) -> Result<Capture> {
    let points: Vec<StopPoint> = checkpoints.iter().map(|c| StopPoint::Checkpoint(*c)).collect();
    capture(p, &points, trace)
}
