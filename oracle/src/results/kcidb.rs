//! `kcidb.json`: the results for KernelCI's KCIDB (I/O schema v5.3): a checkout per
//! kernel source and patch set, a build per kernel variant, and tests per scenario ×
//! checkpoint × check (`linear_map.SCENARIO.CHECKPOINT.map_diff`, `.rsi`), per scenario
//! (`.calls`, `.warnings`) and the scenario's verdict itself (`linear_map.SCENARIO`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{Results, ScenarioResult};

/// The schema version written (`kcidb_io.schema.LATEST` when this was written).
pub const VERSION: (u32, u32) = (5, 3);

/// The KCIDB document of `r`.
pub fn kcidb(r: &Results) -> Value {
    let origin = &r.run.origin;
    let mut checkouts: BTreeMap<String, Value> = BTreeMap::new();
    let mut builds: BTreeMap<String, Value> = BTreeMap::new();
    let mut tests = Vec::new();
    for s in &r.scenarios {
        // A scenario that never built has no build to hang its tests on: it gets a
        // failed build of its own.
        let build_id = match &s.kernel {
            Some(k) => {
                // The hash's first 16 digits name the patch set (all of it if a file from
                // elsewhere holds a shorter one).
                let patches = if k.patchset_hash.is_empty() { "none" } else { k.patchset_hash.get(..16).unwrap_or(&k.patchset_hash) };
                let checkout = format!("{origin}:{}+{}", slug(&k.source), slug(patches));
                let build = format!("{origin}:{}", k.variant);
                checkouts.entry(checkout.clone()).or_insert_with(|| {
                    json!({
                        "id": checkout, "origin": origin, "tree_name": k.source,
                        "patchset_hash": k.patchset_hash, "valid": true,
                        "comment": format!("{} with {} patch(es)", k.source, k.patch_subjects.len()),
                        "misc": {"patches": k.patches, "patch_subjects": k.patch_subjects},
                    })
                });
                builds.entry(build.clone()).or_insert_with(|| {
                    json!({
                        "id": build, "origin": origin, "checkout_id": checkout,
                        "architecture": "arm64", "compiler": k.compiler,
                        "config_name": format!("tinyconfig+{}", k.configs.join("+")),
                        "status": "PASS",
                        "misc": {"variant": k.variant, "configs": k.configs},
                    })
                });
                build
            }
            // Not run on this kernel version: nothing was built, on purpose.
            None if s.is_not_run() => {
                let checkout = format!("{origin}:not-run");
                let build = format!("{origin}:not-run-{}", slug(&s.scenario));
                checkouts.entry(checkout.clone()).or_insert_with(|| json!({"id": checkout, "origin": origin, "comment": "scenarios not run on this kernel version"}));
                builds.insert(
                    build.clone(),
                    json!({"id": build, "origin": origin, "checkout_id": checkout, "architecture": "arm64", "status": "SKIP",
                           "comment": excerpt(s.not_run.as_deref().unwrap_or(""))}),
                );
                build
            }
            None => {
                let checkout = format!("{origin}:unbuilt");
                let build = format!("{origin}:unbuilt-{}", slug(&s.scenario));
                checkouts.entry(checkout.clone()).or_insert_with(|| json!({"id": checkout, "origin": origin, "valid": false, "comment": "a kernel that could not be prepared"}));
                builds.insert(
                    build.clone(),
                    json!({"id": build, "origin": origin, "checkout_id": checkout, "architecture": "arm64", "status": "FAIL",
                           "log_excerpt": excerpt(s.infrastructure_failure.as_deref().unwrap_or(""))}),
                );
                build
            }
        };
        tests.extend(scenario_tests(origin, &build_id, s));
    }
    json!({
        "version": {"major": VERSION.0, "minor": VERSION.1},
        "checkouts": checkouts.into_values().collect::<Vec<_>>(),
        "builds": builds.into_values().collect::<Vec<_>>(),
        "tests": tests,
    })
}

fn scenario_tests(origin: &str, build_id: &str, s: &ScenarioResult) -> Vec<Value> {
    let base = format!("linear_map.{}", slug(&s.scenario));
    let test = |path: String, status: &str, comment: String, log: String| {
        let mut t = json!({
            "id": format!("{origin}:{}:{path}", build_id.split_once(':').map_or(build_id, |(_, b)| b)),
            "origin": origin, "build_id": build_id, "path": path, "status": status, "comment": comment,
            "environment": {"comment": "QEMU virt (TCG), the scenario's machine", "misc": {"scenario_file": s.file}},
        });
        if !log.is_empty() {
            t["log_excerpt"] = Value::String(excerpt(&log));
        }
        t
    };
    let mut out = Vec::new();
    let status = if s.is_infrastructure_failure() {
        "ERROR"
    } else if s.is_not_run() {
        "SKIP"
    } else if s.as_expected {
        "PASS"
    } else {
        "FAIL"
    };
    let mut whole = test(base.clone(), status, s.verdict.clone(), super::text::scenario(s, !s.as_expected));
    whole["duration"] = json!(s.seconds);
    out.push(whole);
    if s.is_infrastructure_failure() || s.is_not_run() {
        return out;
    }
    let expected_divergence = matches!(s.expect, crate::scenario::Expect::Diverge { .. });
    for c in &s.checkpoints {
        let at = format!("{base}.{}", slug(&c.checkpoint));
        let diverges = !c.divergences.is_empty();
        let map_status = if !diverges || (expected_divergence && s.as_expected) { "PASS" } else { "FAIL" };
        let log: String = c.divergences.iter().map(|d| format!("{}-{} {}\n", d.start, d.end, d.explanation)).collect();
        out.push(test(format!("{at}.map_diff"), map_status, format!("{} divergent range(s)", c.divergences.len()), log));
        if s.monitor.is_some() {
            let status = if c.rsi_mismatches.is_empty() { "PASS" } else { "FAIL" };
            out.push(test(format!("{at}.rsi"), status, format!("{} RSI mismatch(es)", c.rsi_mismatches.len()), c.rsi_mismatches.join("\n")));
            if !s.calls.is_empty() {
                let status = if c.sharing.is_empty() || (expected_divergence && s.as_expected) { "PASS" } else { "FAIL" };
                out.push(test(format!("{at}.sharing"), status, format!("{} finding(s) of the caller model", c.sharing.len()), c.sharing.join("\n")));
            }
        }
    }
    if !s.calls.is_empty() {
        let log: String = s.calls.iter().filter(|c| c.mismatch || !c.boot_state_disagreement.is_empty()).map(|c| format!("{}\n", c.text)).collect();
        let status = if s.call_mismatches() + s.boot_state_disagreements() == 0 { "PASS" } else { "FAIL" };
        let what = format!("{} call(s), {} with a different return code in the model, {} in another boot state than the timeline's", s.calls.len(), s.call_mismatches(), s.boot_state_disagreements());
        out.push(test(format!("{base}.calls"), status, what, log));
    }
    let warn_status = if s.kernel_warnings.is_empty() { "PASS" } else { "FAIL" };
    out.push(test(format!("{base}.warnings"), warn_status, format!("{} kernel WARN(s)", s.kernel_warnings.len()), s.kernel_warnings.join("\n")));
    out
}

/// A name as a KCIDB path element or id part: `[a-zA-Z0-9_-]`.
fn slug(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

/// KCIDB log excerpts are at most 16 KiB.
fn excerpt(t: &str) -> String {
    const MAX: usize = 16384;
    if t.len() <= MAX {
        return t.to_string();
    }
    let mut end = MAX - 32;
    while !t.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}\n... (cut, see report.txt)", &t[..end])
}
