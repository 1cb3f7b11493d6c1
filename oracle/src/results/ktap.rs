//! `ktap.txt`: the results in KTAP version 1 (Documentation/dev-tools/ktap.rst), one
//! subtest per scenario with one per checkpoint inside it, so kernel tooling
//! (`kunit.py parse`) reads them like any kernel test output.

use std::fmt::Write as _;

use super::{Results, ScenarioResult};

/// The KTAP document of `r`.
pub fn ktap(r: &Results) -> String {
    let mut s = String::from("KTAP version 1\n");
    let _ = writeln!(s, "1..{}", r.scenarios.len());
    for (i, o) in r.scenarios.iter().enumerate() {
        scenario(&mut s, i + 1, o);
    }
    s
}

fn scenario(s: &mut String, number: usize, o: &ScenarioResult) {
    if let Some(why) = &o.not_run {
        let _ = writeln!(s, "ok {number} {} # SKIP {}", o.scenario, one_line(why));
        return;
    }
    let _ = writeln!(s, "    KTAP version 1");
    let _ = writeln!(s, "    # Subtest: {}", o.scenario);
    let _ = writeln!(s, "    1..{}", o.checkpoints.len().max(1));
    if o.checkpoints.is_empty() {
        // No checkpoint was reached: one failing line says why.
        let why = o.infrastructure_failure.as_deref().or(o.kernel_failure.as_deref()).unwrap_or("no checkpoint was reached");
        let _ = writeln!(s, "    # {}", one_line(why));
        if o.as_expected && o.kernel_failure.is_some() {
            let _ = writeln!(s, "    ok 1 boot # the kernel fails, as expected");
        } else {
            let _ = writeln!(s, "    not ok 1 boot");
        }
    }
    for (i, c) in o.checkpoints.iter().enumerate() {
        // A checkpoint is ok when it holds nothing the scenario does not expect.
        let unexpected = !o.as_expected && (!c.divergences.is_empty() || !c.rsi_mismatches.is_empty() || !c.sharing.is_empty());
        for d in c.divergences.iter().take(3) {
            let _ = writeln!(s, "    # {}-{} {}", d.start, d.end, one_line(&d.explanation));
        }
        let _ = writeln!(s, "    {} {} {}", if unexpected { "not ok" } else { "ok" }, i + 1, c.checkpoint);
    }
    let directive = if o.as_expected && o.divergences().next().is_some() { format!(" # {} divergent range(s), as expected", o.divergences().count()) } else { String::new() };
    let _ = writeln!(s, "{} {number} {}{directive}", if o.as_expected { "ok" } else { "not ok" }, o.scenario);
}

/// KTAP diagnostics are one line each.
fn one_line(t: &str) -> String {
    t.lines().next().unwrap_or("").replace('#', "")
}
