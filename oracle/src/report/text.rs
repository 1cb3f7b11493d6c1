//! `oracle run` as text: a verdict line per scenario, then what a kernel developer needs
//! when it is not a plain match (the call trace, the monitor's view, divergent ranges).

use std::fmt::Write as _;

use crate::compare::{Outcome, Verdict};
use crate::report::trace::call_line;
use crate::timeline::TracedFn;

/// The report for one outcome: a verdict line, then details when not a plain match.
pub fn outcome(o: &Outcome) -> String {
    let mut s = String::new();
    let names: Vec<&str> = o.checkpoints.iter().map(|c| c.checkpoint.name()).collect();
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
    let calls = o.calls();
    if !calls.is_empty() {
        {
            let mismatches = calls.iter().filter(|t| t.mismatch()).count();
            let mut per_function: Vec<(TracedFn, usize)> = Vec::new();
            for t in &calls {
                match per_function.iter_mut().find(|(f, _)| *f == t.call.function) {
                    Some((_, n)) => *n += 1,
                    None => per_function.push((t.call.function, 1)),
                }
            }
            let counts: Vec<String> = per_function.iter().map(|(f, n)| format!("{f} x{n}")).collect();
            let _ = writeln!(s, "  call trace: {} call(s) ({}), {mismatches} with a different return code in the model", calls.len(), counts.join(", "));
            // The first calls, then every call the model disagrees with.
            const SHOWN: usize = 12;
            for (i, t) in calls.iter().enumerate() {
                if i < SHOWN || t.mismatch() {
                    let _ = writeln!(s, "    {}", call_line(t));
                }
            }
            if calls.len() > SHOWN {
                let _ = writeln!(s, "    ... {} more call(s) (all in the report data)", calls.len() - SHOWN);
            }
        }
    }
    if let Some(events) = o.capture.as_ref().and_then(|c| c.monitor.as_ref()) {
        let rsi = events.of_kind(lmo_monitor::eventlog::Kind::Rsi).count();
        let faults = events.of_kind(lmo_monitor::eventlog::Kind::Stage2Fault).count();
        let shared: Vec<String> = events.empty_ranges().iter().map(|(a, b)| format!("{:#x}-{:#x}", a.0, b.0)).collect();
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
            let _ = writeln!(s, "  at {}: {m}", c.checkpoint);
        }
    }
    if !matches!(o.verdict, Verdict::Match) {
        for c in o.checkpoints.iter().filter(|c| !c.divergences.is_empty()) {
            let _ = writeln!(s, "  at {}:", c.checkpoint);
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

/// The summary line of a run.
pub fn summary(outcomes: &[Outcome]) -> String {
    let ok = outcomes.iter().filter(|o| o.verdict.as_expected()).count();
    let infra = outcomes.iter().filter(|o| matches!(o.verdict, Verdict::Infrastructure(_))).count();
    format!("{} scenario(s): {ok} as expected, {} not as expected, {infra} infrastructure failure(s)\n", outcomes.len(), outcomes.len() - ok - infra)
}
