//! From what `compare` learned (an `Outcome`, with the capture and the replay) to the
//! plain data of [`ScenarioResult`], and the matrix entry of a scenario file.

use std::path::Path;

use super::{CallData, CheckpointData, DivergenceData, Line, MatrixEntry, MonitorData, ScenarioResult};
use crate::compare::{Outcome, Verdict};
use crate::report::trace::call_line;
use crate::scenario::Scenario;
use rust_impl::linear_map::{AttrText, LinearMap, MapLine};

/// The plain data of one outcome.
pub fn scenario_result(o: &Outcome) -> ScenarioResult {
    let deterministic = |c: &str| o.scenario.as_ref().is_none_or(|s| !s.nondeterministic.iter().any(|n| n.checkpoint.name() == c));
    let linux_map = |c: crate::timeline::Checkpoint| {
        o.capture.as_ref().and_then(|cap| cap.side(c)).map(|side| side.linear_map.lines.iter().map(line).collect()).unwrap_or_default()
    };
    let checkpoints = o
        .checkpoints
        .iter()
        .map(|c| CheckpointData {
            checkpoint: c.checkpoint.name().to_string(),
            deterministic: deterministic(c.checkpoint.name()),
            model_steps: c.model.steps.clone(),
            divergences: c
                .divergences
                .iter()
                .map(|d| DivergenceData {
                    start: d.start.to_string(),
                    end: d.end.to_string(),
                    classes: d.classes.iter().map(|k| k.name().to_string()).collect(),
                    explanation: d.explanation(),
                    linux: d.linux.iter().map(line_text).collect(),
                    model: d.model.iter().map(line_text).collect(),
                })
                .collect(),
            rsi_mismatches: c.rsi_mismatches.iter().map(ToString::to_string).collect(),
            sharing: c.sharing.clone(),
            linux: linux_map(c.checkpoint),
            model: c.model.linear_map.lines.iter().map(line).collect(),
        })
        .collect();
    let calls = o
        .calls()
        .iter()
        .map(|j| {
            let t = j.call;
            CallData {
                function: t.function.symbol().to_string(),
                args: t.args_text(),
                ret: t.ret,
                model_ret: j.model_ret,
                mismatch: j.mismatch(),
                caller: t.caller.clone(),
                cpu: t.cpu.clone(),
                page_alloc_available: t.state.page_alloc_available,
                online_cpus: t.state.online_cpus,
                caps_finalized: t.state.caps_finalized,
                boot_state_disagreement: j.boot_state_disagreement(),
                text: call_line(j),
            }
        })
        .collect();
    let monitor = o.capture.as_ref().and_then(|c| c.monitor.as_ref()).map(|events| MonitorData {
        events: events.records.iter().map(crate::linux_side::monitor_log::describe).collect(),
        rsi_calls: events.of_kind(lmo_monitor::eventlog::Kind::Rsi).count(),
        stage2_faults: events.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).count(),
        empty_ranges: events.empty_ranges().iter().map(|(a, b)| format!("{:#x}-{:#x}", a.0, b.0)).collect(),
    });
    ScenarioResult {
        scenario: o.name.clone(),
        file: o.file.display().to_string(),
        description: o.scenario.as_ref().map(|s| s.description.clone()).unwrap_or_default(),
        verdict: o.verdict.label().to_string(),
        as_expected: o.verdict.as_expected(),
        infrastructure_failure: match &o.verdict {
            Verdict::Infrastructure(why) => Some(why.clone()),
            _ => None,
        },
        kernel_failure: match &o.verdict {
            Verdict::KernelFailure(why) | Verdict::ExpectedKernelFailure(why) => Some(why.clone()),
            _ => None,
        },
        not_run: match &o.verdict {
            Verdict::NotRun(why) => Some(why.clone()),
            _ => None,
        },
        expect: o.scenario.as_ref().map(|s| s.expect.clone()).unwrap_or(crate::scenario::Expect::Match),
        kernel: o.kernel.clone(),
        seconds: o.seconds,
        kernel_warnings: o.capture.as_ref().map(|c| linux_harness::console::warnings(&c.console).into_iter().map(|w| w.text).collect()).unwrap_or_default(),
        checkpoints,
        calls,
        trace_gaps: o.trace_gaps.clone(),
        warning_mismatches: o.warning_mismatches.clone(),
        monitor,
    }
}

/// A normalised line as data.
pub fn line(l: &MapLine) -> Line {
    Line(
        l.start.to_string(),
        l.end.to_string(),
        l.level.name().to_string(),
        l.cont,
        format!("{:#x}", l.pa.0),
        AttrText { attrs: l.attrs, valid: l.valid }.to_string(),
        l.shared,
    )
}

/// A normalised line as `oracle dump` prints it.
pub fn line_text(l: &MapLine) -> String {
    LinearMap { lines: vec![*l] }.to_string().trim_end().to_string()
}

/// The matrix entry of a scenario file (its kernel named from the file alone, so a
/// shard can be chosen before anything is built).
pub fn matrix_entry(file: &Path) -> MatrixEntry {
    let name = file.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let kernel = match Scenario::load(file) {
        Ok(s) => format!("{} + [{}] + [{}]", s.kernel.source, s.kernel.patches.join(", "), s.kernel.configs.join(", ")),
        Err(_) => "(unreadable scenario)".to_string(),
    };
    MatrixEntry { scenario: name, file: file.display().to_string(), kernel }
}
