//! What changed between two runs (`oracle compare-runs OLD NEW`, the nightly's
//! `--baseline`): divergences that are new, fixed or still there, call results that
//! changed, verdicts that changed, each with its scenario and checkpoint. Divergences at
//! a checkpoint the scenario declares nondeterministic are counted, not compared range
//! by range (they move from boot to boot).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use super::{Results, ScenarioResult};

/// One divergent range, as compared across runs.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Range {
    pub scenario: String,
    pub checkpoint: String,
    pub start: String,
    pub end: String,
    pub classes: Vec<String>,
}

/// The differences between two runs.
#[derive(Debug, Default)]
pub struct Changes {
    pub new: Vec<Range>,
    pub fixed: Vec<Range>,
    pub still: Vec<Range>,
    /// `scenario: old verdict -> new verdict`, and whether it got worse.
    pub verdicts: Vec<(String, String, String, bool)>,
    /// `scenario: call: old -> new` for a call whose kernel or model result changed.
    pub calls: Vec<(String, String)>,
    /// Scenarios in only one of the runs.
    pub only_old: Vec<String>,
    pub only_new: Vec<String>,
}

impl Changes {
    /// A regression: a scenario that was as expected and is not, or a new divergence,
    /// or a call result that changed, in a scenario now not as expected.
    pub fn regressed(&self, new: &Results) -> bool {
        let bad: BTreeSet<&str> = new.scenarios.iter().filter(|s| !s.as_expected).map(|s| s.scenario.as_str()).collect();
        self.verdicts.iter().any(|v| v.3) || self.new.iter().any(|r| bad.contains(r.scenario.as_str())) || self.calls.iter().any(|(s, _)| bad.contains(s.as_str()))
    }
}

fn ranges(s: &ScenarioResult) -> BTreeSet<Range> {
    s.checkpoints
        .iter()
        .filter(|c| c.deterministic)
        .flat_map(|c| {
            c.divergences.iter().map(|d| Range { scenario: s.scenario.clone(), checkpoint: c.checkpoint.clone(), start: d.start.clone(), end: d.end.clone(), classes: d.classes.clone() })
        })
        .collect()
}

/// Each call as `function(args) from caller` with its n-th occurrence, and its results.
fn calls(s: &ScenarioResult) -> BTreeMap<String, String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    s.calls
        .iter()
        .map(|c| {
            let key = format!("{}({}) from {}", c.function, c.args.join(", "), c.caller);
            let n = seen.entry(key.clone()).or_default();
            *n += 1;
            let fmt = |r: Option<i32>| r.map_or("-".to_string(), |v| v.to_string());
            (format!("{key} #{n}"), format!("kernel {} model {}", fmt(c.ret), fmt(c.model_ret)))
        })
        .collect()
}

/// What changed from `old` to `new`.
pub fn changes(old: &Results, new: &Results) -> Changes {
    let mut ch = Changes::default();
    let old_by: BTreeMap<&str, &ScenarioResult> = old.scenarios.iter().map(|s| (s.scenario.as_str(), s)).collect();
    let new_by: BTreeMap<&str, &ScenarioResult> = new.scenarios.iter().map(|s| (s.scenario.as_str(), s)).collect();
    ch.only_old = old_by.keys().filter(|k| !new_by.contains_key(*k)).map(|k| k.to_string()).collect();
    ch.only_new = new_by.keys().filter(|k| !old_by.contains_key(*k)).map(|k| k.to_string()).collect();
    for (name, n) in &new_by {
        let Some(o) = old_by.get(name) else {
            ch.new.extend(ranges(n));
            continue;
        };
        let (ro, rn) = (ranges(o), ranges(n));
        ch.new.extend(rn.difference(&ro).cloned());
        ch.fixed.extend(ro.difference(&rn).cloned());
        ch.still.extend(rn.intersection(&ro).cloned());
        if o.verdict != n.verdict {
            ch.verdicts.push((name.to_string(), o.verdict.clone(), n.verdict.clone(), o.as_expected && !n.as_expected));
        }
        let (co, cn) = (calls(o), calls(n));
        for (k, v) in &cn {
            match co.get(k) {
                Some(old_v) if old_v != v => ch.calls.push((name.to_string(), format!("{k}: {old_v} -> {v}"))),
                None if !co.is_empty() => ch.calls.push((name.to_string(), format!("{k}: new call, {v}"))),
                _ => {}
            }
        }
        for k in co.keys().filter(|k| !cn.contains_key(*k) && !cn.is_empty()) {
            ch.calls.push((name.to_string(), format!("{k}: no longer made")));
        }
    }
    ch
}

/// The changes as text for people.
pub fn report(ch: &Changes) -> String {
    let mut s = String::new();
    let list = |s: &mut String, title: &str, v: &[Range]| {
        let _ = writeln!(s, "{title}: {}", v.len());
        for r in v {
            let _ = writeln!(s, "  {} at {}: {}-{} [{}]", r.scenario, r.checkpoint, r.start, r.end, r.classes.join(", "));
        }
    };
    list(&mut s, "new divergences", &ch.new);
    list(&mut s, "fixed divergences", &ch.fixed);
    let _ = writeln!(s, "still diverging: {} range(s) in {} scenario(s)", ch.still.len(), ch.still.iter().map(|r| &r.scenario).collect::<BTreeSet<_>>().len());
    let _ = writeln!(s, "verdicts changed: {}", ch.verdicts.len());
    for (name, o, n, worse) in &ch.verdicts {
        let _ = writeln!(s, "  {name}: {o} -> {n}{}", if *worse { "  (REGRESSION)" } else { "" });
    }
    let _ = writeln!(s, "call results changed: {}", ch.calls.len());
    for (name, c) in &ch.calls {
        let _ = writeln!(s, "  {name}: {c}");
    }
    for (title, v) in [("only in the old run", &ch.only_old), ("only in the new run", &ch.only_new)] {
        if !v.is_empty() {
            let _ = writeln!(s, "{title}: {}", v.join(", "));
        }
    }
    s
}
