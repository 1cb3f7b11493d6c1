//! `oracle run SCENARIO|DIR...`: for each scenario, the Linux side (read from guest RAM,
//! cross-checked against the kernel's ptdump), the model's replay of the same boot, their
//! diff, and a verdict against what the scenario expects.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use linux_harness::config::parse_config;

use crate::boot_params::boot_params;
use crate::differ::{diff, Divergence};
use crate::dump_cmd::{capture_checkpoints, Capture};
use crate::prepare::{prepare, Prepared};
use crate::replay::{replay_to, ModelSide, Observed, Overrides};
use crate::monitor_events::{check_shared, empty_after, shared_pa_ranges, RangeSet, SharedMismatch};
use crate::scenario::Expect;

/// The RIPAS EMPTY ranges the model's RSI calls leave (all RAM at the start).
fn model_empty_ranges(model: &ModelSide) -> RangeSet {
    empty_after(model.rsi_calls.iter().map(|c| (c.start.0, c.end.0, c.ripas == rust_impl::rsi::Ripas::Empty)))
}

/// How one scenario came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Linux and the model agree, as expected.
    Match,
    /// They diverge, as the scenario says they do.
    ExpectedDivergence,
    /// They diverge (or the kernel WARNed) where the scenario expects a match.
    UnexpectedDivergence,
    /// The scenario expects a divergence that is no longer there.
    DivergenceDisappeared,
    /// Patch, build, QEMU, walker or model failure: no verdict on the kernel.
    Infrastructure(String),
}

impl Verdict {
    pub fn as_expected(&self) -> bool {
        matches!(self, Verdict::Match | Verdict::ExpectedDivergence)
    }
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::ExpectedDivergence => "diverges as expected",
            Verdict::UnexpectedDivergence => "UNEXPECTED DIVERGENCE",
            Verdict::DivergenceDisappeared => "EXPECTED DIVERGENCE GONE",
            Verdict::Infrastructure(_) => "INFRASTRUCTURE FAILURE",
        }
    }
}

/// One checkpoint of one scenario: the model's expectation there and the diff.
pub struct CheckpointResult {
    pub name: String,
    pub model: ModelSide,
    pub divergences: Vec<Divergence>,
    /// Realm only: where the monitor's RSI log (RIPAS EMPTY ranges) disagrees with the
    /// shared bit in the kernel's page tables, or with the model's own RSI calls.
    pub rsi_mismatches: Vec<SharedMismatch>,
}

/// Everything `run` learned about one scenario.
pub struct Outcome {
    pub file: PathBuf,
    pub name: String,
    pub verdict: Verdict,
    /// Per checkpoint, in timeline order.
    pub checkpoints: Vec<CheckpointResult>,
    /// WARN blocks in the kernel log.
    pub kernel_warnings: usize,
    pub capture: Option<Capture>,
}

impl Outcome {
    /// Every divergence at every checkpoint.
    pub fn divergences(&self) -> impl Iterator<Item = &Divergence> {
        self.checkpoints.iter().flat_map(|c| &c.divergences)
    }
}

/// Both sides of one scenario at each of its checkpoints, and their diffs.
pub fn compare(p: &Prepared) -> Result<(Capture, Vec<CheckpointResult>)> {
    let names: Vec<String> = p.scenario.checkpoints.iter().map(|c| c.0.clone()).collect();
    let mut capture = capture_checkpoints(p, &names, p.scenario.trace)?;
    if !capture.ptdump_mismatches.is_empty() {
        let first = &capture.ptdump_mismatches[0];
        anyhow::bail!("the host walk disagrees with the kernel's ptdump ({} lines), first at {first}", capture.ptdump_mismatches.len());
    }
    let config_text = std::fs::read_to_string(&p.kernel.config).with_context(|| format!("reading {}", p.kernel.config.display()))?;
    let params = boot_params(&p.scenario.cmdline, &parse_config(&config_text), &p.scenario.machine)?;
    if let Some(first) = capture.sides.values().next() {
        let obs = Observed::from_linux_side(first);
        crate::replay::replay_calls(&params, &obs, &mut capture.trace)?;
    }
    let mut results: Vec<CheckpointResult> = Vec::new();
    for name in &capture.order {
        let side = &capture.sides[name];
        let mark = capture.trace_marks.get(name).copied().unwrap_or(capture.trace.len());
        let model = replay_to(&params, &Observed::from_linux_side(side), Overrides::default(), name, &capture.trace[..mark])?;
        let divergences = diff(&side.linear_map, &model.linear_map);
        let rsi_mismatches = match (&capture.monitor, params.realm_ipa_bits) {
            (Some(events), Some(_)) => {
                let events = events.before(capture.log_marks.get(name).copied().unwrap_or(u32::MAX));
                let empty = RangeSet::from_ranges(events.empty_ranges());
                let model_empty = model_empty_ranges(&model);
                let mut m = check_shared(&empty, &shared_pa_ranges(&side.linear_map), "the kernel's page tables");
                m.extend(check_shared(&empty, &model_empty, "the model's RSI calls"));
                m
            }
            _ => Vec::new(),
        };
        results.push(CheckpointResult { name: name.clone(), model, divergences, rsi_mismatches });
    }
    // The model's return code for each realm sharing call, from the replay that saw
    // the most of the trace.
    if let Some(last) = results.iter().max_by_key(|r| r.model.enc_dec_returns.len()) {
        for &(i, code) in &last.model.enc_dec_returns {
            capture.trace[i].model_ret = Some(code);
        }
    }
    Ok((capture, results))
}

/// Runs one scenario file to a verdict; never fails (failures are verdicts).
pub fn run_one(file: &Path) -> Outcome {
    let name = file.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match prepare(file) {
        Ok(p) => run_prepared(&p),
        Err(e) => infrastructure_failure(file, &name, e),
    }
}

fn infrastructure_failure(file: &Path, name: &str, e: anyhow::Error) -> Outcome {
    Outcome {
        file: file.to_path_buf(),
        name: name.to_string(),
        verdict: Verdict::Infrastructure(format!("{e:#}")),
        checkpoints: vec![],
        kernel_warnings: 0,
        capture: None,
    }
}

/// Runs a prepared scenario to a verdict; never fails (failures are verdicts).
pub fn run_prepared(p: &Prepared) -> Outcome {
    let (capture, checkpoints) = match compare(p) {
        Ok(x) => x,
        Err(e) => return infrastructure_failure(&p.file, &p.scenario.name, e),
    };
    let kernel_warnings = capture.warnings;
    let mut all: Vec<Divergence> = checkpoints.iter().flat_map(|c| c.divergences.iter().cloned()).collect();
    // An RSI log that disagrees with the page tables or the model is a shared-bit
    // divergence.
    all.extend(checkpoints.iter().flat_map(|c| &c.rsi_mismatches).map(|m| Divergence {
        start: m.start,
        end: m.end,
        classes: vec![crate::differ::DiffClass::Shared],
        linux: vec![],
        model: vec![],
    }));
    // A realm access the monitor had to refuse (a stage-2 fault) is a kernel outcome,
    // like a WARN.
    let faults = capture.monitor.as_ref().map_or(0, |m| m.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).count());
    let mut verdict = verdict(&p.scenario.expect, &all, kernel_warnings + faults);
    // A call whose return code the model does not reproduce is a divergence too.
    if capture.trace.iter().any(|c| c.mismatch()) && verdict.as_expected() {
        verdict = Verdict::UnexpectedDivergence;
    }
    Outcome { file: p.file.clone(), name: p.scenario.name.clone(), verdict, checkpoints, kernel_warnings, capture: Some(capture) }
}

/// The verdict for a scenario's expectation, given the divergences and the number of
/// WARN blocks in the kernel log.
pub fn verdict(expect: &Expect, divergences: &[Divergence], kernel_warnings: usize) -> Verdict {
    match expect {
        Expect::Match if divergences.is_empty() && kernel_warnings == 0 => Verdict::Match,
        Expect::Match => Verdict::UnexpectedDivergence,
        Expect::Diverge { .. } if divergences.is_empty() => Verdict::DivergenceDisappeared,
        Expect::Diverge { classes, .. } => {
            let outside = |d: &Divergence| d.classes.iter().any(|c| !classes.iter().any(|k| k == c.name()));
            if kernel_warnings > 0 || (!classes.is_empty() && divergences.iter().any(outside)) {
                Verdict::UnexpectedDivergence
            } else {
                Verdict::ExpectedDivergence
            }
        }
    }
}

/// Scenario files named directly or found (`*.json`, sorted) in named directories.
pub fn scenario_files(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(a)
                .with_context(|| format!("listing {}", a.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            found.sort();
            out.extend(found);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// The report for one outcome: a verdict line, then details when not a plain match.
pub fn report(o: &Outcome) -> String {
    let mut s = String::new();
    let names: Vec<&str> = o.checkpoints.iter().map(|c| c.name.as_str()).collect();
    let detail = match &o.verdict {
        Verdict::Infrastructure(why) => why.lines().next().unwrap_or("").to_string(),
        _ => format!(
            "{} divergent range(s) at {} checkpoint(s) [{}], {} kernel WARN(s)",
            o.divergences().count(),
            names.len(),
            names.join(" "),
            o.kernel_warnings
        ),
    };
    let _ = writeln!(s, "{:28} {:26} {detail}", o.name, o.verdict.label());
    if let Some(c) = &o.capture {
        if !c.trace.is_empty() {
            let mismatches = c.trace.iter().filter(|t| t.mismatch()).count();
            let mut per_function: Vec<(&str, usize)> = Vec::new();
            for t in &c.trace {
                match per_function.iter_mut().find(|(f, _)| *f == t.function) {
                    Some((_, n)) => *n += 1,
                    None => per_function.push((t.function, 1)),
                }
            }
            let counts: Vec<String> = per_function.iter().map(|(f, n)| format!("{f} x{n}")).collect();
            let _ = writeln!(s, "  call trace: {} call(s) ({}), {mismatches} with a different return code in the model", c.trace.len(), counts.join(", "));
            // The first calls, then every call the model disagrees with.
            const SHOWN: usize = 12;
            for (i, t) in c.trace.iter().enumerate() {
                if i < SHOWN || t.mismatch() {
                    let _ = writeln!(s, "    {t}");
                }
            }
            if c.trace.len() > SHOWN {
                let _ = writeln!(s, "    ... {} more call(s) (all in the report data)", c.trace.len() - SHOWN);
            }
        }
    }
    if let Some(events) = o.capture.as_ref().and_then(|c| c.monitor.as_ref()) {
        let rsi = events.of_kind(lmo_monitor::eventlog::Kind::Rsi).count();
        let faults = events.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).count();
        let shared: Vec<String> = events.empty_ranges().iter().map(|(a, b)| format!("{a:#x}-{b:#x}")).collect();
        let checks = o.checkpoints.iter().map(|c| c.rsi_mismatches.len()).sum::<usize>();
        let _ = writeln!(
            s,
            "  monitor: {} event(s), {rsi} RSI call(s), {faults} stage-2 fault(s); RIPAS EMPTY: {}; RSI log vs page tables and model: {}",
            events.records.len(),
            if shared.is_empty() { "none".to_string() } else { shared.join(", ") },
            if checks == 0 { "agree".to_string() } else { format!("{checks} mismatch(es)") }
        );
    }
    for c in &o.checkpoints {
        for m in &c.rsi_mismatches {
            let _ = writeln!(s, "  at {}: {m}", c.name);
        }
    }
    if !matches!(o.verdict, Verdict::Match) {
        for c in o.checkpoints.iter().filter(|c| !c.divergences.is_empty()) {
            let _ = writeln!(s, "  at {}:", c.name);
            for d in c.divergences.iter().take(8) {
                for line in d.to_string().lines() {
                    let _ = writeln!(s, "    {line}");
                }
            }
            if c.divergences.len() > 8 {
                let _ = writeln!(s, "    ... and {} more", c.divergences.len() - 8);
            }
        }
    }
    s
}

/// The machine-readable form of an outcome (for nightly reports and KCIDB-style tools).
pub fn report_json(o: &Outcome) -> serde_json::Value {
    use serde_json::json;
    let line_text = |l: &rust_impl::linear_map::MapLine| rust_impl::linear_map::LinearMap { lines: vec![*l] }.to_string().trim_end().to_string();
    let checkpoints: Vec<_> = o
        .checkpoints
        .iter()
        .map(|c| {
            let divergences: Vec<_> = c
                .divergences
                .iter()
                .map(|d| {
                    json!({
                        "start": format!("{:#018x}", d.start),
                        "end": format!("{:#018x}", d.end),
                        "classes": d.classes.iter().map(|k| k.name()).collect::<Vec<_>>(),
                        "explanation": d.explanation(),
                        "linux": d.linux.iter().map(line_text).collect::<Vec<_>>(),
                        "model": d.model.iter().map(line_text).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let rsi: Vec<String> = c.rsi_mismatches.iter().map(|m| m.to_string()).collect();
            json!({ "checkpoint": c.name, "model_steps": c.model.steps, "divergences": divergences, "rsi_mismatches": rsi })
        })
        .collect();
    let trace: Vec<_> = o
        .capture
        .iter()
        .flat_map(|c| &c.trace)
        .map(|t| {
            json!({
                "function": t.function,
                "args": t.args.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>(),
                "ret": t.ret,
                "model_ret": t.model_ret,
                "mismatch": t.mismatch(),
                "caller": t.caller,
                "cpu": t.cpu,
                "page_alloc_available": t.state.page_alloc_available,
                "online_cpus": t.state.online_cpus,
                "caps_finalized": t.state.caps_finalized,
            })
        })
        .collect();
    let infrastructure = match &o.verdict {
        Verdict::Infrastructure(why) => Some(why.clone()),
        _ => None,
    };
    json!({
        "scenario": o.name,
        "file": o.file.display().to_string(),
        "verdict": o.verdict.label(),
        "as_expected": o.verdict.as_expected(),
        "infrastructure_failure": infrastructure,
        "kernel_warnings": o.kernel_warnings,
        "checkpoints": checkpoints,
        "trace": trace,
        "monitor_events": o.capture.iter().flat_map(|c| c.monitor.iter()).flat_map(|m| &m.records).map(crate::monitor_events::describe).collect::<Vec<_>>(),
    })
}

/// Exit status for a set of outcomes: 2 if any infrastructure failure, else 1 if any
/// verdict is not as expected, else 0.
pub fn exit_code(outcomes: &[Outcome]) -> u8 {
    if outcomes.iter().any(|o| matches!(o.verdict, Verdict::Infrastructure(_))) {
        2
    } else if outcomes.iter().any(|o| !o.verdict.as_expected()) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::differ::DiffClass;

    fn div(classes: &[DiffClass]) -> Divergence {
        Divergence { start: 0, end: 0x1000, classes: classes.to_vec(), linux: vec![], model: vec![] }
    }

    fn diverge(classes: &[&str]) -> Expect {
        Expect::Diverge { what: "w".into(), why: "y".into(), classes: classes.iter().map(|c| c.to_string()).collect() }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(&Expect::Match, &[], 0), Verdict::Match);
        assert_eq!(verdict(&Expect::Match, &[div(&[DiffClass::Granularity])], 0), Verdict::UnexpectedDivergence);
        // A WARN where a clean boot is expected is a kernel outcome.
        assert_eq!(verdict(&Expect::Match, &[], 1), Verdict::UnexpectedDivergence);
        assert_eq!(verdict(&diverge(&["presence"]), &[div(&[DiffClass::Presence])], 0), Verdict::ExpectedDivergence);
        // A divergence of a class the entry does not name is still unexpected.
        assert_eq!(verdict(&diverge(&["presence"]), &[div(&[DiffClass::Presence, DiffClass::Attributes])], 0), Verdict::UnexpectedDivergence);
        assert_eq!(verdict(&diverge(&[]), &[div(&[DiffClass::Shared])], 0), Verdict::ExpectedDivergence);
        // An expected divergence that went away is reported.
        assert_eq!(verdict(&diverge(&["presence"]), &[], 0), Verdict::DivergenceDisappeared);
        assert!(!Verdict::DivergenceDisappeared.as_expected());
    }
}
