//! `report.txt`: one line per scenario that came out as expected (an expected divergence
//! says how many ranges, not which), and the details a kernel developer needs only for
//! what did not (or for everything, verbose): the call trace, the monitor's view, the
//! divergent ranges.

use std::fmt::Write as _;

use super::{Results, ScenarioResult};

/// Calls shown before the rest are summarised (every mismatching call is shown).
const CALLS_SHOWN: usize = 12;
/// Divergent ranges shown per checkpoint.
const RANGES_SHOWN: usize = 8;

/// The whole report: a block per scenario, then the summary line.
pub fn report(r: &Results, verbose: bool) -> String {
    let mut s: String = r.scenarios.iter().map(|o| scenario(o, verbose)).collect();
    s.push_str(&summary(r));
    s
}

/// One scenario: its verdict line, then details when it is not as expected (or verbose).
pub fn scenario(o: &ScenarioResult, verbose: bool) -> String {
    let mut s = String::new();
    let names: Vec<&str> = o.checkpoints.iter().map(|c| c.checkpoint.as_str()).collect();
    let detail = match o.infrastructure_failure.as_ref().or(o.kernel_failure.as_ref()).or(o.not_run.as_ref()) {
        Some(why) => why.lines().next().unwrap_or("").to_string(),
        None => format!(
            "{} divergent range(s) at {} checkpoint(s) [{}], {} kernel WARN(s)",
            o.divergences().count(),
            names.len(),
            names.join(" "),
            o.kernel_warnings.len()
        ),
    };
    let _ = writeln!(s, "{:28} {:26} {detail}", o.scenario, o.verdict);
    // Shown whatever the verdict: a verdict on a build the tracer could not fully see.
    for gap in &o.trace_gaps {
        let _ = writeln!(s, "  tracing: {gap}");
    }
    if o.as_expected && !verbose {
        return s;
    }
    if let Some(why) = o.infrastructure_failure.as_ref().or(o.kernel_failure.as_ref()) {
        for line in why.lines().skip(1) {
            let _ = writeln!(s, "  {line}");
        }
    }
    if !o.calls.is_empty() {
        let mut per_function: Vec<(&str, usize)> = Vec::new();
        for c in &o.calls {
            match per_function.iter_mut().find(|(f, _)| *f == c.function) {
                Some((_, n)) => *n += 1,
                None => per_function.push((&c.function, 1)),
            }
        }
        let counts: Vec<String> = per_function.iter().map(|(f, n)| format!("{f} x{n}")).collect();
        let _ = writeln!(
            s,
            "  call trace: {} call(s) ({}), {} with a different return code in the model, {} in another boot state than the timeline's",
            o.calls.len(),
            counts.join(", "),
            o.call_mismatches(),
            o.boot_state_disagreements()
        );
        for (i, c) in o.calls.iter().enumerate() {
            if i < CALLS_SHOWN || c.mismatch || !c.boot_state_disagreement.is_empty() {
                let _ = writeln!(s, "    {}", c.text);
            }
        }
        if o.calls.len() > CALLS_SHOWN {
            let _ = writeln!(s, "    ... {} more call(s) (all in report.json)", o.calls.len() - CALLS_SHOWN);
        }
    }
    if let Some(m) = &o.monitor {
        let checks = o.rsi_mismatches();
        let _ = writeln!(
            s,
            "  monitor: {} event(s), {} RSI call(s), {} stage-2 fault(s); RIPAS EMPTY: {}; RSI log vs page tables and model: {}",
            m.events.len(),
            m.rsi_calls,
            m.stage2_faults,
            if m.empty_ranges.is_empty() { "none".to_string() } else { m.empty_ranges.join(", ") },
            if checks == 0 { "agree".to_string() } else { format!("{checks} mismatch(es)") }
        );
        if !o.calls.is_empty() {
            let n = o.sharing_findings();
            let _ = writeln!(s, "  shares vs the caller model (swiotlb, ITS, atomic pools): {}", if n == 0 { "agree".to_string() } else { format!("{n} finding(s)") });
        }
    }
    for c in &o.checkpoints {
        for m in &c.rsi_mismatches {
            let _ = writeln!(s, "  at {}: {m}", c.checkpoint);
        }
        for m in &c.sharing {
            let _ = writeln!(s, "  at {}: sharing: {m}", c.checkpoint);
        }
    }
    for c in o.checkpoints.iter().filter(|c| !c.divergences.is_empty()) {
        let _ = writeln!(s, "  at {}:", c.checkpoint);
        for d in c.divergences.iter().take(RANGES_SHOWN) {
            let _ = writeln!(s, "    {}-{} {}", d.start, d.end, d.explanation);
            for (side, lines) in [("linux", &d.linux), ("model", &d.model)] {
                if lines.is_empty() {
                    let _ = writeln!(s, "      {side}: (nothing mapped)");
                }
                for l in lines {
                    let _ = writeln!(s, "      {side}: {l}");
                }
            }
        }
        if c.divergences.len() > RANGES_SHOWN {
            let _ = writeln!(s, "    ... and {} more", c.divergences.len() - RANGES_SHOWN);
        }
    }
    for m in &o.warning_mismatches {
        let _ = writeln!(s, "  {m}");
    }
    for w in &o.kernel_warnings {
        let _ = writeln!(s, "  kernel WARN:");
        for line in w.lines() {
            let _ = writeln!(s, "    {line}");
        }
    }
    s
}

/// The summary of a run: the series it put on every kernel, if any, then one line.
pub fn summary(r: &Results) -> String {
    let mut s = String::new();
    if let Some(k) = &r.run.kernel {
        let _ = writeln!(s, "kernel source for every scenario: {k}");
    }
    // Another version's rules than the model's own (7.3), with how many scenarios.
    let mut rules: Vec<(&str, usize)> = Vec::new();
    for k in r.scenarios.iter().filter_map(|o| o.kernel.as_ref()).filter(|k| k.model_rules != "7.3" && !k.model_rules.is_empty()) {
        match rules.iter_mut().find(|(m, _)| *m == k.model_rules) {
            Some(e) => e.1 += 1,
            None => rules.push((&k.model_rules, 1)),
        }
    }
    for (m, n) in rules {
        let _ = writeln!(s, "model rules {m}: {n} scenario(s)");
    }
    if let Some(series) = &r.run.series {
        let _ = writeln!(s, "series {} ({} patch(es)) on each scenario's own kernel:", series.origin, series.subjects.len());
        for (i, subject) in series.subjects.iter().enumerate() {
            let _ = writeln!(s, "  {}/{}: {subject}", i + 1, series.subjects.len());
        }
    }
    s + &summary_line(r)
}

/// The one-line summary of a run. A scenario is counted once: an infrastructure
/// failure, else not run on this version, else as expected or not (a file from
/// elsewhere may claim several).
fn summary_line(r: &Results) -> String {
    let infra = r.scenarios.iter().filter(|o| o.is_infrastructure_failure()).count();
    let not_run = r.scenarios.iter().filter(|o| o.is_not_run() && !o.is_infrastructure_failure()).count();
    let ok = r.scenarios.iter().filter(|o| o.as_expected && !o.is_infrastructure_failure() && !o.is_not_run()).count();
    let partial = if r.complete { String::new() } else { format!(" (INCOMPLETE: {} of {} planned)", r.scenarios.len(), r.planned().len()) };
    let bad = r.scenarios.len() - ok - infra - not_run;
    let not_run = if not_run > 0 { format!(", {not_run} not run on this kernel version") } else { String::new() };
    format!("{} scenario(s): {ok} as expected, {bad} not as expected, {infra} infrastructure failure(s){not_run}{partial}\n", r.scenarios.len())
}
