//! `oracle repro --json`: reproductions as data, for the nightly and other tools (each
//! run's outcome in the results schema of `oracle run`).

/// The results file of `oracle repro --json`: the entries so far, and whether all
/// `total` are there.
pub fn repros(done: &[crate::compare::repro::Repro], total: usize) -> serde_json::Value {
    serde_json::json!({
        "schema": REPRO_SCHEMA,
        "complete": done.len() == total,
        "entries": done.iter().map(repro).collect::<Vec<_>>(),
    })
}

/// Names the layout of [`repros`]' document.
pub const REPRO_SCHEMA: &str = "lmo-repro/1";

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
                "outcome": crate::results::collect::scenario_result(&run.outcome),
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
