//! Reproducing a reported bug: rebuild (cached), boot and check each run of a
//! reported-bug entry ([`crate::scenario::reported`]) against what the entry says it
//! shows. `report::repro` writes it up for a mail.

use std::path::{Path, PathBuf};

use crate::diff_class::DiffClass;
use crate::timeline::Checkpoint;

use crate::compare::{infrastructure_failure, run_prepared, Outcome, Verdict};
use crate::error::Result;
use crate::prepare::{prepare_scenario, Change};
use crate::scenario::reported::{Entry, ModelExpect, Run, RunExpect};

/// One run, done.
pub struct RunResult {
    pub run: Run,
    /// The kernel variant as a person names it ("7.3.4 + revert-realm-split-fix").
    pub variant: String,
    pub outcome: Outcome,
    /// Expectations the run did not meet (empty: as the entry says).
    pub unmet: Vec<String>,
}

impl RunResult {
    pub fn as_expected(&self) -> bool {
        self.unmet.is_empty()
    }
    pub fn infrastructure(&self) -> bool {
        matches!(self.outcome.verdict, Verdict::Infrastructure(_))
    }
}

/// An entry, reproduced or not.
pub struct Repro {
    pub file: PathBuf,
    pub entry: Entry,
    pub runs: Vec<RunResult>,
}

impl Repro {
    /// Every run came out as the entry says.
    pub fn reproduced(&self) -> bool {
        self.runs.iter().all(RunResult::as_expected)
    }
    pub fn infrastructure_failure(&self) -> bool {
        self.runs.iter().any(RunResult::infrastructure)
    }
}

/// What a run's outcome shows, measured against `expect`.
pub fn unmet(expect: &RunExpect, o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    if let Verdict::Infrastructure(why) = &o.verdict {
        out.push(format!("infrastructure failure: {}", why.lines().next().unwrap_or("")));
        return out;
    }
    let console = o.capture.as_ref().map(|c| c.console.as_str()).unwrap_or_default();
    match (&o.verdict, expect.model) {
        (Verdict::KernelFailure(_) | Verdict::ExpectedKernelFailure(_), ModelExpect::KernelFailure) => {}
        (Verdict::KernelFailure(why) | Verdict::ExpectedKernelFailure(why), _) => out.push(format!("the kernel failed: {}", why.lines().next().unwrap_or(""))),
        (_, ModelExpect::KernelFailure) => out.push("the kernel was to fail before the boot was over, and booted".into()),
        _ => {}
    }
    let faults = o.capture.as_ref().and_then(|c| c.monitor.as_ref()).map_or(0, |m| m.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).count());
    match (expect.stage2_faults, faults) {
        (true, 0) => out.push("the monitor was to refuse an access (a stage-2 fault) and did not".into()),
        (false, n) if n > 0 => out.push(format!("the monitor refused {n} access(es) (stage-2 faults)")),
        _ => {}
    }
    let divergent: Vec<Checkpoint> = o.checkpoints.iter().filter(|c| !c.divergences.is_empty() || !c.rsi_mismatches.is_empty() || !c.sharing.is_empty()).map(|c| c.checkpoint).collect();
    let mismatched_calls = o.mismatched_functions();
    let boot_state = o.boot_state_variables_disagreeing();
    let mut classes: Vec<DiffClass> = o.divergences().flat_map(|d| d.classes.iter().copied()).collect();
    if o.checkpoints.iter().any(|c| !c.rsi_mismatches.is_empty()) {
        classes.push(DiffClass::Shared);
    }
    if o.checkpoints.iter().any(|c| !c.sharing.is_empty()) {
        classes.push(DiffClass::Sharing);
    }
    let names = |v: &[Checkpoint]| v.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    match expect.model {
        ModelExpect::Match => {
            if !divergent.is_empty() {
                out.push(format!("Linux and the model were to agree, but diverge at {}", names(&divergent)));
            }
            if !mismatched_calls.is_empty() {
                let fns: Vec<&str> = mismatched_calls.iter().map(|f| f.symbol()).collect();
                out.push(format!("the model returns something else for {} call(s) ({})", mismatched_calls.len(), fns.join(", ")));
            }
            if !boot_state.is_empty() {
                out.push(format!("calls were made in another boot state than the timeline's ({})", boot_state.join(", ")));
            }
        }
        ModelExpect::KernelFailure => {}
        ModelExpect::Diverge => {
            if divergent.is_empty() && mismatched_calls.is_empty() && boot_state.is_empty() {
                out.push("Linux and the model were to diverge, but agree everywhere".into());
            }
            for c in &expect.divergent_at {
                if !divergent.contains(c) {
                    out.push(format!("no divergence at {c}"));
                }
            }
            for c in &expect.classes {
                if !classes.contains(c) {
                    out.push(format!("no divergence of class \"{c}\""));
                }
            }
            for f in &expect.call_mismatches {
                if !mismatched_calls.contains(f) {
                    out.push(format!("the model agrees with every call of {f}"));
                }
            }
            for v in &expect.boot_state {
                if !boot_state.iter().any(|b| b == v.name()) {
                    out.push(format!("every call saw {} as the timeline gives it", v.name()));
                }
            }
        }
    }
    match (expect.warns, o.kernel_warnings) {
        (true, 0) => out.push("the kernel was to WARN and did not".into()),
        (false, n) if n > 0 => out.push(format!("the kernel WARNed {n} time(s)")),
        _ => {}
    }
    for text in &expect.kernel_log {
        if !console.contains(text.as_str()) {
            out.push(format!("the kernel log lacks {text:?}"));
        }
    }
    for text in &expect.kernel_log_absent {
        if console.contains(text.as_str()) {
            out.push(format!("the kernel log has {text:?}"));
        }
    }
    for text in &expect.sharing {
        if !o.checkpoints.iter().flat_map(|c| &c.sharing).any(|f| f.contains(text.as_str())) {
            out.push(format!("no finding of the realm caller model says {text:?}"));
        }
    }
    out
}

/// Runs every run of the entry at `file`.
pub fn repro(file: &Path) -> Result<Repro> {
    repro_changed(file, &Change::default())
}

/// [`repro`] with the user's `change` on every run (`oracle repro --series/--kernel`:
/// does a candidate fix make the buggy run match? does the bug show on my tree?).
pub fn repro_changed(file: &Path, change: &Change) -> Result<Repro> {
    let entry = Entry::load(file)?;
    let mut runs = Vec::new();
    for run in &entry.runs {
        let mut scenario = entry.scenario_for(file, run)?;
        change.apply_kernel(&mut scenario);
        let series = if scenario.kernel.patches.is_empty() { String::new() } else { format!(" + {}", scenario.kernel.patches.join(" + ")) };
        let variant = format!("{}{series}", scenario.kernel.source.trim_start_matches("debian:"));
        let outcome = match prepare_scenario(file, scenario.clone(), &change.series) {
            Ok(p) => run_prepared(&p),
            Err(e) => infrastructure_failure(file, &scenario.name, e),
        };
        let unmet = unmet(&run.expect, &outcome);
        runs.push(RunResult { run: run.clone(), variant, outcome, unmet });
    }
    Ok(Repro { file: file.to_path_buf(), entry, runs })
}

/// Exit status for a set of entries: 2 infrastructure, 1 one not reproduced, 0 all
/// reproduced.
pub fn exit_code(repros: &[Repro]) -> u8 {
    if repros.iter().any(Repro::infrastructure_failure) {
        2
    } else if repros.iter().all(Repro::reproduced) {
        0
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::differ::Divergence;
    use crate::compare::CheckpointResult;
    use crate::diff_class::DiffClass;
    use crate::timeline::Checkpoint;

    fn outcome(divergent: bool, warnings: usize) -> Outcome {
        let model = crate::replay::ModelSide {
            linear_map: rust_impl::linear_map::LinearMap { lines: vec![] },
            linear_map_requires_bbml3: true,
            steps: vec![],
            warnings: vec![],
            rsi_calls: vec![],
        };
        let divergences = if divergent { vec![Divergence { start: rust_impl::address::VirtAddr(0), end: rust_impl::address::VirtAddr(0x1000), classes: vec![DiffClass::Granularity], linux: vec![], model: vec![] }] } else { vec![] };
        Outcome {
            file: "x".into(),
            name: "x".into(),
            verdict: Verdict::Match,
            checkpoints: vec![CheckpointResult { checkpoint: Checkpoint::CapsFinalized, model, divergences, rsi_mismatches: vec![], sharing: vec![] }],
            kernel_warnings: warnings,
            capture: None,
            answers: vec![],
            trace_gaps: vec![],
            warning_mismatches: vec![],
            scenario: None,
            kernel: None,
            seconds: 0.0,
        }
    }

    fn expect(model: ModelExpect) -> RunExpect {
        RunExpect { model, divergent_at: vec![], classes: vec![], call_mismatches: vec![], boot_state: vec![], sharing: vec![], stage2_faults: false, warns: false, kernel_log: vec![], kernel_log_absent: vec![] }
    }

    #[test]
    fn expectations_are_each_checked() {
        assert!(unmet(&expect(ModelExpect::Match), &outcome(false, 0)).is_empty());
        assert_eq!(unmet(&expect(ModelExpect::Match), &outcome(true, 0)), vec!["Linux and the model were to agree, but diverge at caps-finalized".to_string()]);
        assert_eq!(unmet(&expect(ModelExpect::Diverge), &outcome(false, 0)), vec!["Linux and the model were to diverge, but agree everywhere".to_string()]);
        let mut e = expect(ModelExpect::Diverge);
        e.divergent_at = vec![Checkpoint::MemInit];
        e.classes = vec![DiffClass::Granularity, DiffClass::Shared];
        e.warns = true;
        let u = unmet(&e, &outcome(true, 0));
        assert_eq!(u, vec!["no divergence at mem-init".to_string(), "no divergence of class \"shared bit\"".into(), "the kernel was to WARN and did not".into()]);
        assert_eq!(unmet(&expect(ModelExpect::Match), &outcome(false, 2)), vec!["the kernel WARNed 2 time(s)".to_string()]);
    }
}
