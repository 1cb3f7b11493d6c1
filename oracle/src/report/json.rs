//! `oracle run --json`: the same results as data, for nightly dashboards and tools.

use crate::compare::{Outcome, Verdict};

/// The results file of `oracle run --json`: the outcomes so far, and whether the run
/// got through all `total` scenarios (`complete: false` in a file left by an
/// interrupted run).
pub fn run(outcomes: &[Outcome], total: usize) -> serde_json::Value {
    serde_json::json!({
        "schema": RUN_SCHEMA,
        "complete": outcomes.len() == total,
        "scenarios": total,
        "outcomes": outcomes.iter().map(outcome).collect::<Vec<_>>(),
    })
}

/// Names the layout of [`run`]'s document; changed when a field changes meaning.
pub const RUN_SCHEMA: &str = "lmo-run/1";

/// The machine-readable form of an outcome (for nightly reports and KCIDB-style tools).
pub fn outcome(o: &Outcome) -> serde_json::Value {
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
                        "start": d.start.to_string(),
                        "end": d.end.to_string(),
                        "classes": d.classes.iter().map(|k| k.name()).collect::<Vec<_>>(),
                        "explanation": d.explanation(),
                        "linux": d.linux.iter().map(line_text).collect::<Vec<_>>(),
                        "model": d.model.iter().map(line_text).collect::<Vec<_>>(),
                    })
                })
                .collect();
            let rsi: Vec<String> = c.rsi_mismatches.iter().map(|m| m.to_string()).collect();
            json!({ "checkpoint": c.checkpoint.name(), "model_steps": c.model.steps, "divergences": divergences, "rsi_mismatches": rsi })
        })
        .collect();
    let trace: Vec<_> = o
        .calls()
        .iter()
        .map(|j| {
            let t = j.call;
            json!({
                "function": t.function.symbol(),
                "args": t.args.iter().map(|a| format!("{a:#x}")).collect::<Vec<_>>(),
                "ret": t.ret,
                "model_ret": j.model_ret,
                "mismatch": j.mismatch(),
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
        "monitor_events": o.capture.iter().flat_map(|c| c.monitor.iter()).flat_map(|m| &m.records).map(crate::linux_side::monitor_log::describe).collect::<Vec<_>>(),
    })
}


/// The machine-readable form of a reported-bug reproduction.
pub fn repro(r: &crate::compare::repro::Repro) -> serde_json::Value {
    use serde_json::json;
    let verdict = if r.infrastructure_failure() {
        "infrastructure failure"
    } else if r.reproduced() {
        "reproduced"
    } else {
        "not reproduced"
    };
    let runs: Vec<_> = r
        .runs
        .iter()
        .map(|run| {
            json!({
                "run": run.run.name,
                "variant": run.variant,
                "as_expected": run.as_expected(),
                "unmet": run.unmet,
                "outcome": outcome(&run.outcome),
            })
        })
        .collect();
    json!({
        "entry": r.entry.name,
        "file": r.file.display().to_string(),
        "title": r.entry.title,
        "verdict": verdict,
        "reproduced": r.reproduced(),
        "infrastructure_failure": r.infrastructure_failure(),
        "runs": runs,
    })
}
