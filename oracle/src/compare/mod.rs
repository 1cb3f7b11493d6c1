//! Compare: the Linux side (captured, cross-checked against the kernel's ptdump) against
//! one replay of the model along the same timeline, checkpoint by checkpoint and call by
//! call, and a verdict against what the scenario expects.

pub mod bisect;
pub mod determinism;
pub mod differ;
pub mod repro;
pub mod rsi;
pub mod sharing;
pub mod verdict;
pub mod warnings;

use std::path::Path;

use crate::capture::trace::TracedCall;
use crate::capture::{capture_or_kernel_failure, Capture, KernelFailure, StopPoint};
use crate::diff_class::DiffClass;
use crate::error::{Error, Result};
use crate::linux_side::monitor_log::{empty_after, RangeSet};
use crate::prepare::{prepare_changed, Change, Prepared};
use crate::replay::observed::Observed;
use crate::replay::{replay, ModelSide, Overrides, Replay, ReplayStop};
use crate::timeline::{Checkpoint, TracedFn};
use crate::scenario::params::BootParams;
use differ::{diff, Divergence};
use rsi::{check_page_tables, check_shared, SharedMismatch};
pub use verdict::{exit_code, verdict, Found, Verdict};

/// One checkpoint of one scenario: the model's expectation there and the diff.
#[derive(Clone, Debug)]
pub struct CheckpointResult {
    pub checkpoint: Checkpoint,
    pub model: ModelSide,
    pub divergences: Vec<Divergence>,
    /// Realm only: where the monitor's RSI log (RIPAS EMPTY ranges) disagrees with the
    /// shared bit in the kernel's page tables, or with the model's own RSI calls.
    pub rsi_mismatches: Vec<SharedMismatch>,
    /// Realm only (traced boots): where the kernel's shares disagree with the caller
    /// model (missing, partial, doubled, late or extra shares; device-visible memory not
    /// shared).
    pub sharing: Vec<String>,
}

/// Both sides of one scenario.
pub struct Comparison {
    pub capture: Capture,
    pub replay: Replay,
    /// Per checkpoint, in boot order.
    pub checkpoints: Vec<CheckpointResult>,
    /// Where the kernel decided otherwise than the model before any map was made (the
    /// VA size it runs with): each a divergence of its own.
    pub decision_mismatches: Vec<String>,
}

/// The kernel's VA size (TCR_EL1.T1SZ, `observed`) against the model's decision from the
/// scenario (docs/va-geometries.md): `None` when they agree, else what differs.
pub fn va_size_mismatch(p: &BootParams, observed: u32) -> Option<String> {
    (observed != p.vabits_actual).then(|| {
        format!(
            "VA size: the kernel runs with {observed} bits (TCR_EL1.T1SZ); the model decided {} for a {}-bit kernel on this CPU (LPA2: {}, LVA: {}); the maps are compared at the kernel's size",
            p.vabits_actual, p.kernel_va_bits, p.va_features.lpa2, p.va_features.lva
        )
    })
}

/// A traced call and the model's answer to it.
#[derive(Clone, Copy, Debug)]
pub struct JudgedCall<'a> {
    pub call: &'a TracedCall,
    /// What the model returns for the same call (only for calls it replays).
    pub model_ret: Option<i32>,
}

impl JudgedCall<'_> {
    /// Whether the model disagrees with the kernel about this call's result.
    pub fn mismatch(&self) -> bool {
        matches!((self.call.ret, self.model_ret), (Some(k), Some(m)) if k != m)
    }
    /// Where the kernel's boot-state variables at this call disagree with the boot
    /// state the timeline's events give it (empty: they agree).
    pub fn boot_state_disagreement(&self) -> Vec<String> {
        crate::capture::boot_events::disagreement(&self.call.state, &self.call.timeline)
    }
}

/// Everything `run` learned about one scenario.
pub struct Outcome {
    pub file: std::path::PathBuf,
    pub name: String,
    pub verdict: Verdict,
    /// Per checkpoint, in boot order.
    pub checkpoints: Vec<CheckpointResult>,
    /// WARN blocks in the kernel log.
    pub kernel_warnings: usize,
    pub capture: Option<Capture>,
    /// The model's answer to each traced call (by trace index).
    pub answers: Vec<Option<i32>>,
    /// What the tracer could not see in this build, and calls the model could not
    /// replay for it (docs/call-tracing.md).
    pub trace_gaps: Vec<String>,
    /// Kernel WARNs the model does not raise and WARNs it raises that the kernel did not
    /// print, and decisions the kernel took otherwise than the model (the VA size)
    /// (empty: the model predicts the kernel exactly).
    pub warning_mismatches: Vec<String>,
    /// The scenario, when its file could be read.
    pub scenario: Option<crate::scenario::Scenario>,
    /// The kernel booted, when it was built.
    pub kernel: Option<crate::prepare::KernelBuild>,
    /// Wall time of the scenario, seconds.
    pub seconds: f64,
}

impl Outcome {
    /// Every divergence at every checkpoint.
    pub fn divergences(&self) -> impl Iterator<Item = &Divergence> {
        self.checkpoints.iter().flat_map(|c| &c.divergences)
    }
    /// The traced calls with the model's answers.
    pub fn calls(&self) -> Vec<JudgedCall<'_>> {
        judged(self.capture.as_ref().map(|c| c.trace.as_slice()).unwrap_or_default(), &self.answers)
    }
    /// The traced functions of which some call returned something else than the model.
    pub fn mismatched_functions(&self) -> Vec<TracedFn> {
        self.calls().iter().filter(|c| c.mismatch()).map(|c| c.call.function).collect()
    }
    /// The boot-state variables some call saw otherwise than the timeline says.
    pub fn boot_state_variables_disagreeing(&self) -> Vec<String> {
        let mut vars: Vec<String> = self.calls().iter().flat_map(|c| c.boot_state_disagreement()).filter_map(|d| d.split(':').next().map(str::to_string)).collect();
        vars.sort();
        vars.dedup();
        vars
    }
}

/// Calls recorded with arguments this build's DWARF does not locate, one line per
/// function, site and set of missing arguments.
fn unlocated_arguments(trace: &[TracedCall]) -> Vec<String> {
    let mut groups: Vec<(TracedFn, &str, Vec<usize>, usize)> = Vec::new();
    for call in trace {
        let missing: Vec<usize> = call.args.iter().enumerate().filter(|(_, a)| a.is_none()).map(|(i, _)| i).collect();
        if missing.is_empty() {
            continue;
        }
        match groups.iter_mut().find(|g| g.0 == call.function && g.1 == call.caller && g.2 == missing) {
            Some(g) => g.3 += 1,
            None => groups.push((call.function, &call.caller, missing, 1)),
        }
    }
    groups
        .into_iter()
        .map(|(f, at, missing, n)| {
            let list: Vec<String> = missing.iter().map(usize::to_string).collect();
            format!("{n} call(s) of {f} at {at}: argument(s) {} (from 0) not located by the DWARF at the entry, shown as ?", list.join(", "))
        })
        .collect()
}

/// `trace` with the model's `answers` beside it.
pub fn judged<'a>(trace: &'a [TracedCall], answers: &[Option<i32>]) -> Vec<JudgedCall<'a>> {
    trace.iter().enumerate().map(|(i, call)| JudgedCall { call, model_ret: answers.get(i).copied().flatten() }).collect()
}

/// The RIPAS EMPTY ranges the model's RSI calls leave (all RAM at the start).
fn model_empty_ranges(model: &ModelSide) -> RangeSet {
    empty_after(model.rsi_calls.iter().map(|c| (c.start, c.end, c.ripas == rust_impl::rsi::Ripas::Empty)))
}

/// The replay's stops for a capture: each named checkpoint read, with what was observed
/// there and how many traced calls came before it.
pub fn replay_stops(capture: &Capture) -> Vec<ReplayStop> {
    capture
        .checkpoints()
        .into_iter()
        .map(|c| {
            let point = StopPoint::Checkpoint(c);
            ReplayStop { checkpoint: c, observed: Observed::from_linux_side(&capture.sides[&point]), mark: capture.trace_mark(&point) }
        })
        .collect()
}

/// Boots `p`, reads the Linux side at its checkpoints, replays the model once along them
/// and diffs the two at each. A kernel failure is an error here.
pub fn compare(p: &Prepared) -> Result<Comparison> {
    compare_or_kernel_failure(p)?.map_err(|k| k.into_error(&p.file))
}

/// [`compare`], with a kernel failure as a result of its own.
fn compare_or_kernel_failure(p: &Prepared) -> Result<std::result::Result<Comparison, KernelFailure>> {
    let checkpoints: Vec<StopPoint> = p.scenario.checkpoints.iter().map(|c| StopPoint::Checkpoint(*c)).collect();
    let capture = match capture_or_kernel_failure(p, &checkpoints, p.scenario.trace)? {
        Ok(c) => c,
        Err(k) => return Ok(Err(k)),
    };
    if let Some(check) = capture.ptdump.as_ref().filter(|c| !c.mismatches.is_empty()) {
        return Err(Error::Capture(format!("the host walk disagrees with the kernel's ptdump ({} lines), first at {}", check.mismatches.len(), check.mismatches[0])));
    }
    // The realm host's answers are the environment's, not policy: the model's host
    // answers each request as the monitor's did (partial progress, refusals).
    let host = capture.monitor.as_ref().map(|m| m.host_answers()).unwrap_or_default();
    // A kernel that took another VA size than the model decided diverges there; the rest
    // of the boot is still judged, at the kernel's size.
    let mut params = p.params.clone();
    let observed_va = capture.sides.values().next().map(|s| s.config.va_bits);
    let decision_mismatches: Vec<String> = observed_va.and_then(|v| va_size_mismatch(&p.params, v)).into_iter().collect();
    if let (Some(v), false) = (observed_va, decision_mismatches.is_empty()) {
        params.vabits_actual = v;
    }
    let replay = replay(&params, &replay_stops(&capture), &capture.trace, host, Overrides::default())?;
    let mut results = Vec::new();
    for (checkpoint, model) in &replay.at {
        let point = StopPoint::Checkpoint(*checkpoint);
        let side = &capture.sides[&point];
        let divergences = diff(&side.linear_map, &model.linear_map);
        let (rsi_mismatches, sharing) = match (&capture.monitor, p.params.realm_ipa_bits) {
            (Some(events), Some(_)) => {
                let events = events.before(capture.log_marks.get(&point).copied().unwrap_or(u32::MAX));
                let empty = RangeSet::from_ranges(events.empty_ranges());
                let mut m = check_page_tables(&empty, &side.linear_map);
                m.extend(check_shared(&empty, &model_empty_ranges(model), "the model's RSI calls"));
                // The caller model needs the calls: only traced realm boots have them.
                let trace = &capture.trace[..capture.trace_mark(&point)];
                let sharing = if p.scenario.trace { sharing::check(&p.params, *checkpoint, side, trace, &empty) } else { Vec::new() };
                (m, sharing)
            }
            _ => (Vec::new(), Vec::new()),
        };
        results.push(CheckpointResult { checkpoint: *checkpoint, model: model.clone(), divergences, rsi_mismatches, sharing });
    }
    Ok(Ok(Comparison { capture, replay, checkpoints: results, decision_mismatches }))
}

/// Runs one scenario file to a verdict; never fails (failures are verdicts).
pub fn run_one(file: &Path) -> Outcome {
    run_one_changed(file, &Change::default())
}

/// [`run_one`] with the user's change (`--kernel`, `--series`) applied to the scenario.
pub fn run_one_changed(file: &Path, change: &Change) -> Outcome {
    let started = std::time::Instant::now();
    let name = file.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut o = match prepare_changed(file, change) {
        Ok(p) => run_prepared(&p),
        Err(Error::NotRun { version, why }) => not_run(file, version, why),
        Err(e) => {
            let mut o = infrastructure_failure(file, &name, e);
            o.scenario = crate::scenario::Scenario::load(file).ok();
            o
        }
    };
    o.seconds = started.elapsed().as_secs_f64();
    o
}

/// The outcome of a scenario that says it does not run on kernel `version`: its own
/// name, and what it expects there.
fn not_run(file: &Path, version: (u32, u32), why: String) -> Outcome {
    let scenario = crate::scenario::Scenario::load(file).ok().map(|mut s| {
        s.expect = s.expect_on(Some(version)).clone();
        s
    });
    let name = scenario.as_ref().map_or_else(|| file.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(), |s| s.name.clone());
    Outcome {
        verdict: Verdict::NotRun(format!("Linux {}.{}: {why}", version.0, version.1)),
        scenario,
        ..infrastructure_failure(file, &name, Error::Usage(String::new()))
    }
}

/// The outcome of a scenario that could not be run.
pub fn infrastructure_failure(file: &Path, name: &str, e: Error) -> Outcome {
    Outcome {
        file: file.to_path_buf(),
        name: name.to_string(),
        verdict: Verdict::Infrastructure(e.to_string()),
        checkpoints: vec![],
        kernel_warnings: 0,
        capture: None,
        answers: vec![],
        trace_gaps: vec![],
        warning_mismatches: vec![],
        scenario: None,
        kernel: None,
        seconds: 0.0,
    }
}

/// Runs a prepared scenario to a verdict; never fails (failures are verdicts).
pub fn run_prepared(p: &Prepared) -> Outcome {
    let c = match compare_or_kernel_failure(p) {
        Ok(Ok(c)) => c,
        Ok(Err(KernelFailure { summary, read: capture })) => {
            let last = capture.checkpoints().last().map_or("none".to_string(), |c| c.name().to_string());
            let mut why = format!("{}\nlast checkpoint reached: {last}; {} traced call(s) before it", summary.trim_end(), capture.trace.len());
            // What the EL2 monitor refused before the end: a realm access to memory that
            // was not RAM any more, with its IPA and PC.
            if let Some(m) = &capture.monitor {
                let faults: Vec<String> = m.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).map(crate::linux_side::monitor_log::describe).collect();
                why.push_str(&format!("\nmonitor: {} stage-2 fault(s)", faults.len()));
                for f in faults {
                    why.push_str(&format!("\n  {f}"));
                }
            }
            return Outcome {
                file: p.file.clone(),
                name: p.scenario.name.clone(),
                verdict: verdict::failure_verdict(&p.scenario.expect, &summary, why),
                checkpoints: vec![],
                kernel_warnings: capture.warnings,
                trace_gaps: capture.trace_gaps.clone(),
                warning_mismatches: vec![],
                capture: Some(capture),
                answers: vec![],
                scenario: Some(p.scenario.clone()),
                kernel: Some(p.kernel_build()),
                seconds: 0.0,
            };
        }
        Err(e) => {
            let mut o = infrastructure_failure(&p.file, &p.scenario.name, e);
            o.scenario = Some(p.scenario.clone());
            o.kernel = Some(p.kernel_build());
            return o;
        }
    };
    let kernel_warnings = c.capture.warnings;
    let mut all: Vec<Found<'_>> =
        c.checkpoints.iter().flat_map(|cp| cp.divergences.iter().map(|d| Found { checkpoint: cp.checkpoint, classes: &d.classes, side: d.side() })).collect();
    // An RSI log that disagrees with the page tables or the model is a shared-bit
    // divergence (of PA ranges, beside the maps' VA ranges).
    all.extend(c.checkpoints.iter().flat_map(|cp| cp.rsi_mismatches.iter().map(|_| Found { checkpoint: cp.checkpoint, classes: &[DiffClass::Shared], side: None })));
    // A share the caller model does not expect (or one it expects and misses).
    all.extend(c.checkpoints.iter().flat_map(|cp| cp.sharing.iter().map(|_| Found { checkpoint: cp.checkpoint, classes: &[DiffClass::Sharing], side: None })));
    // A realm access the monitor had to refuse (a stage-2 fault) is a kernel outcome,
    // like a WARN.
    let faults = c.capture.monitor.as_ref().map_or(0, |m| m.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).count());
    // Kernel WARNs the model raises at the same sites are predicted; the rest count.
    let model_warnings = c.checkpoints.last().map(|cp| cp.model.warnings.clone()).unwrap_or_default();
    let mut warning_mismatches = warnings::unpredicted(&linux_harness::console::warnings(&c.capture.console), &model_warnings);
    // A decision the kernel took otherwise (the VA size) counts like an unpredicted WARN.
    warning_mismatches.extend(c.decision_mismatches.iter().cloned());
    let mut verdict = verdict(&p.scenario.expect, &all, warning_mismatches.len() + faults);
    // A call whose return code the model does not reproduce is a divergence too, and so
    // is one made in another boot state than the timeline gives it (a moved window).
    let calls = judged(&c.capture.trace, &c.replay.answers);
    if calls.iter().any(|j| j.mismatch() || !j.boot_state_disagreement().is_empty()) && verdict.as_expected() {
        verdict = Verdict::UnexpectedDivergence;
    }
    // A traced call the model neither replays nor accounts for otherwise would be
    // ignored: no verdict on this kernel until the model covers it.
    let unaccounted = crate::replay::accounting::unaccounted(&c.capture.trace);
    if !unaccounted.is_empty() {
        verdict = Verdict::Infrastructure(format!("the model does not replay {} (docs/call-tracing.md): no verdict on what they changed", unaccounted.join(", ")));
    }
    let mut trace_gaps = c.capture.trace_gaps.clone();
    trace_gaps.extend(unlocated_arguments(&c.capture.trace));
    for &i in &c.replay.unreplayable {
        let call = &c.capture.trace[i];
        trace_gaps.push(format!("call #{i} {}({}) at {}: arguments not located in this build, not replayed by the model", call.function, call.args_text().join(", "), call.caller));
    }
    Outcome { file: p.file.clone(), name: p.scenario.name.clone(), verdict, checkpoints: c.checkpoints, kernel_warnings, capture: Some(c.capture),
        answers: c.replay.answers,
        trace_gaps,
        warning_mismatches,
        scenario: Some(p.scenario.clone()),
        kernel: Some(p.kernel_build()),
        seconds: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_at_another_va_size_than_decided_is_named() {
        let m: linux_harness::machine::MachineSpec = serde_json::from_str(r#"{"cpus":2,"memory_mib":2048,"cpu":"max,lpa2=off"}"#).unwrap();
        let config = crate::linux_side::kernel::KernelConfig::parse("CONFIG_ARM64_VA_BITS=52\n");
        let p = crate::scenario::params::boot_params("", &config, &m).unwrap();
        assert_eq!(p.vabits_actual, 48);
        assert_eq!(va_size_mismatch(&p, 48), None);
        let e = va_size_mismatch(&p, 52).unwrap();
        assert!(e.contains("runs with 52 bits") && e.contains("decided 48") && e.contains("LPA2: false"), "{e}");
    }
}
