//! A reproduction of a reported bug as text to paste into a mail: what was expected, what
//! happened, kernel log excerpts, the divergent ranges from both sides, the model's
//! call-by-call verdict and the realm memory the monitor saw shared.

use std::fmt::Write as _;

use crate::compare::repro::Repro;
use crate::compare::Verdict;
use crate::report::trace::call_line;
use crate::scenario::reported::{ModelExpect, RunExpect};

/// The lines of the kernel log a reader of the report needs: the expected ones, and the
/// first lines of each WARNING.
fn log_excerpts(console: &str, expect: &RunExpect) -> Vec<String> {
    let lines: Vec<&str> = console.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out: Vec<String> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let wanted = expect.kernel_log.iter().any(|t| l.contains(t.as_str()));
        let warning = l.contains("WARNING: ");
        if wanted || warning {
            out.push(l.to_string());
        }
        if warning {
            // The call trace's first frames say who asked.
            let frames = lines[i + 1..].iter().skip_while(|l| !l.contains("Call trace:")).skip(1).take(4);
            out.extend(frames.map(|f| f.to_string()));
        }
    }
    out.dedup();
    out
}

fn describe_expect(e: &RunExpect) -> String {
    let mut parts = vec![match e.model {
        ModelExpect::Match => "Linux matches the model".to_string(),
        ModelExpect::Diverge => "Linux diverges from the model".to_string(),
        ModelExpect::KernelFailure => "the kernel fails before the boot is over".to_string(),
    }];
    if !e.divergent_at.is_empty() {
        parts.push(format!("at {}", e.divergent_at.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")));
    }
    if !e.classes.is_empty() {
        parts.push(format!("({})", e.classes.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")));
    }
    if !e.call_mismatches.is_empty() {
        parts.push(format!("with different results for {}", e.call_mismatches.iter().map(|f| f.symbol()).collect::<Vec<_>>().join(", ")));
    }
    parts.push(if e.warns { "the kernel WARNs".into() } else { "no WARN".into() });
    if e.stage2_faults {
        parts.push("the monitor refuses an access (stage-2 fault)".into());
    }
    if !e.kernel_log.is_empty() {
        parts.push(format!("log: {}", e.kernel_log.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ")));
    }
    parts.join("; ")
}

/// The report of a reproduction, as text for a mail.
pub fn report(repro: &Repro) -> String {
    {
        let mut s = String::new();
        let e = &repro.entry;
        let _ = writeln!(s, "Subject: {}", e.title);
        let _ = writeln!(s);
        let _ = writeln!(s, "Reported-by: {}", e.report.reporter);
        let _ = writeln!(s, "Affected:    {}", e.report.affected);
        let _ = writeln!(s, "Fix:         {}", e.report.fix);
        let _ = writeln!(s, "Entry:       {}", repro.file.display());
        let _ = writeln!(s);
        for line in textwrap(&e.report.summary, 88) {
            let _ = writeln!(s, "{line}");
        }
        for r in &repro.runs {
            let _ = writeln!(s);
            let _ = writeln!(s, "== {}: {} ==", r.run.name, r.variant);
            let _ = writeln!(s, "expected: {}", describe_expect(&r.run.expect));
            let result = if r.as_expected() {
                "as expected".to_string()
            } else {
                format!("NOT as expected: {}", r.unmet.join("; "))
            };
            let _ = writeln!(s, "result:   {result}");
            let o = &r.outcome;
            if let Verdict::Infrastructure(why) = &o.verdict {
                let _ = writeln!(s, "{why}");
                continue;
            }
            let _ = writeln!(s, "verdict:  {} ({} WARN(s))", o.verdict.label(), o.kernel_warnings);
            if let Some(c) = &o.capture {
                let excerpts = log_excerpts(&c.console, &r.run.expect);
                if !excerpts.is_empty() {
                    let _ = writeln!(s, "\nkernel log (excerpts):");
                    for l in excerpts {
                        let _ = writeln!(s, "  {l}");
                    }
                }
            }
            let mut any = false;
            for c in &o.checkpoints {
                if c.divergences.is_empty() && c.rsi_mismatches.is_empty() && c.sharing.is_empty() {
                    continue;
                }
                if !any {
                    let _ = writeln!(s, "\ndivergent ranges (Linux, then the model):");
                    any = true;
                }
                let _ = writeln!(s, "  at {}:", c.checkpoint);
                for d in &c.divergences {
                    for line in d.to_string().lines() {
                        let _ = writeln!(s, "    {line}");
                    }
                }
                for m in &c.rsi_mismatches {
                    let _ = writeln!(s, "    {m}");
                }
                for m in &c.sharing {
                    let _ = writeln!(s, "    sharing: {m}");
                }
            }
            if let crate::compare::Verdict::KernelFailure(why) | crate::compare::Verdict::ExpectedKernelFailure(why) = &o.verdict {
                // No map to compare: how the kernel failed, what was read before, what
                // the monitor refused.
                let _ = writeln!(s, "\nthe kernel failed before the boot was over:");
                for line in why.lines().filter(|l| !l.trim().is_empty()) {
                    let _ = writeln!(s, "  {line}");
                }
                if let Some(c) = &o.capture {
                    let _ = writeln!(s, "\ncalls traced before it:");
                    for t in o.calls() {
                        let _ = writeln!(s, "  {}", call_line(&t));
                    }
                    let _ = c;
                }
            } else if !any {
                let _ = writeln!(s, "\nthe linear map matches the model at every checkpoint ({})", o.checkpoints.iter().map(|c| c.checkpoint.name()).collect::<Vec<_>>().join(", "));
            }
            if let Some(c) = &o.capture {
                let judged: Vec<_> = o.calls().into_iter().filter(|t| t.model_ret.is_some()).collect();
                if !judged.is_empty() {
                    let _ = writeln!(s, "\nthe model's call-by-call verdict:");
                    for t in &judged {
                        let _ = writeln!(s, "  {}", call_line(t));
                    }
                }
                // Shared memory means something only in a realm (the monitor also runs
                // other guests: per-CPU identities, reserved memory).
                let realm = o.scenario.as_ref().is_some_and(|s| s.machine.realm.is_some());
                if let Some(m) = c.monitor.as_ref().filter(|_| realm) {
                    let empty: Vec<String> = m.empty_ranges().iter().map(|(a, b)| format!("{:#x}-{:#x}", a.0, b.0)).collect();
                    let _ = writeln!(s, "\nrealm memory shared per the monitor's RSI log: {}", if empty.is_empty() { "none".into() } else { empty.join(", ") });
                }
            }
        }
        if let Some(text) = &e.report.report_text {
            let _ = writeln!(s, "\n-- report text --\n{text}");
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{}: {}",
            e.name,
            if repro.infrastructure_failure() {
                "INFRASTRUCTURE FAILURE"
            } else if repro.reproduced() {
                "reproduced (every run as the entry says)"
            } else {
                "NOT reproduced"
            }
        );
        s
    }
}

/// Wraps `text` at `width` columns on spaces.
fn textwrap(text: &str, width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for w in text.split_whitespace() {
        if !line.is_empty() && line.len() + 1 + w.len() > width {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    if !line.is_empty() {
        out.push(line);
    }
    out
}

