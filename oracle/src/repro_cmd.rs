//! `oracle repro ENTRY...`: rebuild (cached), boot and check each run of a reported-bug
//! entry ([`crate::reported`]), and print a report a kernel developer can paste into a
//! mail: what was expected, what happened, the kernel log excerpts, the divergent ranges
//! from both sides and the model's call-by-call verdict.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::prepare::prepare_scenario;
use crate::reported::{Entry, ModelExpect, Run, RunExpect};
use crate::run_cmd::{run_prepared, Outcome, Verdict};

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
    fn infrastructure(&self) -> bool {
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
    let trace = o.capture.as_ref().map(|c| c.trace.as_slice()).unwrap_or_default();
    let console = o.capture.as_ref().map(|c| c.console.as_str()).unwrap_or_default();
    let divergent: Vec<&str> = o.checkpoints.iter().filter(|c| !c.divergences.is_empty() || !c.rsi_mismatches.is_empty()).map(|c| c.name.as_str()).collect();
    let mismatched_calls: Vec<&str> = trace.iter().filter(|t| t.mismatch()).map(|t| t.function).collect();
    let mut classes: Vec<&str> = o.divergences().flat_map(|d| d.classes.iter().map(|c| c.name())).collect();
    if o.checkpoints.iter().any(|c| !c.rsi_mismatches.is_empty()) {
        classes.push("shared bit");
    }
    match expect.model {
        ModelExpect::Match => {
            if !divergent.is_empty() {
                out.push(format!("Linux and the model were to agree, but diverge at {}", divergent.join(", ")));
            }
            if !mismatched_calls.is_empty() {
                out.push(format!("the model returns something else for {} call(s) ({})", mismatched_calls.len(), mismatched_calls.join(", ")));
            }
        }
        ModelExpect::Diverge => {
            if divergent.is_empty() && mismatched_calls.is_empty() {
                out.push("Linux and the model were to diverge, but agree everywhere".into());
            }
            for c in &expect.divergent_at {
                if !divergent.contains(&c.0.as_str()) {
                    out.push(format!("no divergence at {}", c.0));
                }
            }
            for c in &expect.classes {
                if !classes.contains(&c.as_str()) {
                    out.push(format!("no divergence of class {c:?}"));
                }
            }
            for f in &expect.call_mismatches {
                if !mismatched_calls.contains(&f.as_str()) {
                    out.push(format!("the model agrees with every call of {f}"));
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
    out
}

/// Runs every run of the entry at `file`.
pub fn repro(file: &Path) -> Result<Repro> {
    let entry = Entry::load(file)?;
    let mut runs = Vec::new();
    for run in &entry.runs {
        let scenario = entry.scenario_for(file, run)?;
        let series = if scenario.kernel.patches.is_empty() { String::new() } else { format!(" + {}", scenario.kernel.patches.join(" + ")) };
        let variant = format!("{}{series}", scenario.kernel.source.trim_start_matches("debian:"));
        let outcome = match prepare_scenario(file, scenario.clone(), &[]) {
            Ok(p) => run_prepared(&p),
            Err(e) => Outcome {
                file: file.to_path_buf(),
                name: scenario.name.clone(),
                verdict: Verdict::Infrastructure(format!("{e:#}")),
                checkpoints: vec![],
                kernel_warnings: 0,
                capture: None,
            },
        };
        let unmet = unmet(&run.expect, &outcome);
        runs.push(RunResult { run: run.clone(), variant, outcome, unmet });
    }
    Ok(Repro { file: file.to_path_buf(), entry, runs })
}

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
    }];
    if !e.divergent_at.is_empty() {
        parts.push(format!("at {}", e.divergent_at.iter().map(|c| c.0.as_str()).collect::<Vec<_>>().join(", ")));
    }
    if !e.classes.is_empty() {
        parts.push(format!("({})", e.classes.join(", ")));
    }
    if !e.call_mismatches.is_empty() {
        parts.push(format!("with different results for {}", e.call_mismatches.join(", ")));
    }
    parts.push(if e.warns { "the kernel WARNs".into() } else { "no WARN".into() });
    if !e.kernel_log.is_empty() {
        parts.push(format!("log: {}", e.kernel_log.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ")));
    }
    parts.join("; ")
}

impl Repro {
    /// The report, as text for a mail.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let e = &self.entry;
        let _ = writeln!(s, "Subject: {}", e.title);
        let _ = writeln!(s);
        let _ = writeln!(s, "Reported-by: {}", e.report.reporter);
        let _ = writeln!(s, "Affected:    {}", e.report.affected);
        let _ = writeln!(s, "Fix:         {}", e.report.fix);
        let _ = writeln!(s, "Entry:       {}", self.file.display());
        let _ = writeln!(s);
        for line in textwrap(&e.report.summary, 88) {
            let _ = writeln!(s, "{line}");
        }
        for r in &self.runs {
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
                if c.divergences.is_empty() && c.rsi_mismatches.is_empty() {
                    continue;
                }
                if !any {
                    let _ = writeln!(s, "\ndivergent ranges (Linux, then the model):");
                    any = true;
                }
                let _ = writeln!(s, "  at {}:", c.name);
                for d in &c.divergences {
                    for line in d.to_string().lines() {
                        let _ = writeln!(s, "    {line}");
                    }
                }
                for m in &c.rsi_mismatches {
                    let _ = writeln!(s, "    {m}");
                }
            }
            if !any {
                let _ = writeln!(s, "\nthe linear map matches the model at every checkpoint ({})", o.checkpoints.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", "));
            }
            if let Some(c) = &o.capture {
                let judged: Vec<_> = c.trace.iter().filter(|t| t.model_ret.is_some()).collect();
                if !judged.is_empty() {
                    let _ = writeln!(s, "\nthe model's call-by-call verdict:");
                    for t in judged {
                        let _ = writeln!(s, "  {t}");
                    }
                }
                if let Some(m) = &c.monitor {
                    let empty: Vec<String> = m.empty_ranges().iter().map(|(a, b)| format!("{a:#x}-{b:#x}")).collect();
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
            if self.infrastructure_failure() {
                "INFRASTRUCTURE FAILURE"
            } else if self.reproduced() {
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
    use crate::differ::{DiffClass, Divergence};
    use crate::run_cmd::CheckpointResult;

    fn outcome(divergent: bool, warnings: usize) -> Outcome {
        let model = crate::replay::ModelSide {
            linear_map: rust_impl::linear_map::LinearMap { lines: vec![] },
            linear_map_requires_bbml3: true,
            steps: vec![],
            warnings: 0,
            rsi_calls: vec![],
            enc_dec_returns: vec![],
        };
        let divergences = if divergent { vec![Divergence { start: 0, end: 0x1000, classes: vec![DiffClass::Granularity], linux: vec![], model: vec![] }] } else { vec![] };
        Outcome {
            file: "x".into(),
            name: "x".into(),
            verdict: Verdict::Match,
            checkpoints: vec![CheckpointResult { name: "caps-finalized".into(), model, divergences, rsi_mismatches: vec![] }],
            kernel_warnings: warnings,
            capture: None,
        }
    }

    fn expect(model: ModelExpect) -> RunExpect {
        RunExpect { model, divergent_at: vec![], classes: vec![], call_mismatches: vec![], warns: false, kernel_log: vec![], kernel_log_absent: vec![] }
    }

    #[test]
    fn expectations_are_each_checked() {
        assert!(unmet(&expect(ModelExpect::Match), &outcome(false, 0)).is_empty());
        assert_eq!(unmet(&expect(ModelExpect::Match), &outcome(true, 0)), vec!["Linux and the model were to agree, but diverge at caps-finalized".to_string()]);
        assert_eq!(unmet(&expect(ModelExpect::Diverge), &outcome(false, 0)), vec!["Linux and the model were to diverge, but agree everywhere".to_string()]);
        let mut e = expect(ModelExpect::Diverge);
        e.divergent_at = vec![crate::scenario::Checkpoint("mem-init".into())];
        e.classes = vec!["granularity".into(), "shared bit".into()];
        e.warns = true;
        let u = unmet(&e, &outcome(true, 0));
        assert_eq!(u, vec!["no divergence at mem-init".to_string(), "no divergence of class \"shared bit\"".into(), "the kernel was to WARN and did not".into()]);
        assert_eq!(unmet(&expect(ModelExpect::Match), &outcome(false, 2)), vec!["the kernel WARNed 2 time(s)".to_string()]);
    }
}
