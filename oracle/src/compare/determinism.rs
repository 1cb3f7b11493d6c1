//! Reruns a scenario K times and checks every run says the same thing: the verdict, the
//! kernel's WARN count, and at each checkpoint the scenario calls deterministic the
//! normalised Linux side and its divergences from the model. Checkpoints a scenario
//! lists as nondeterministic (with why) are compared by verdict only.

use std::fmt::Write as _;

use crate::compare::{run_prepared, Outcome};
use crate::prepare::Prepared;
use crate::timeline::Checkpoint;

/// What must be the same from run to run, as text: one named part per item, so a
/// difference can be reported by name and first differing line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub parts: Vec<(String, String)>,
}

/// The fingerprint of `o`, taking dumps only at `deterministic` checkpoints.
pub fn fingerprint(o: &Outcome, deterministic: &[Checkpoint]) -> Fingerprint {
    let mut parts = vec![("verdict".to_string(), format!("{:?}", o.verdict)), ("kernel WARNs".to_string(), o.kernel_warnings.to_string())];
    for cp in deterministic {
        if let Some(side) = o.capture.as_ref().and_then(|c| c.side(*cp)) {
            parts.push((format!("Linux side at {cp}"), side.linear_map.to_string()));
        }
        if let Some(r) = o.checkpoints.iter().find(|r| r.checkpoint == *cp) {
            let mut d = String::new();
            for x in &r.divergences {
                let _ = writeln!(d, "{x:?}");
            }
            for x in &r.rsi_mismatches {
                let _ = writeln!(d, "{x:?}");
            }
            for x in &r.sharing {
                let _ = writeln!(d, "{x}");
            }
            parts.push((format!("divergences at {cp}"), d));
        }
    }
    Fingerprint { parts }
}

/// Where run `run` (1-based) first differs from run 1.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    pub run: usize,
    /// Which part: "verdict", "Linux side at after-map-mem", ...
    pub part: String,
    /// The first line that differs, as run 1 had it and as this run had it.
    pub first: String,
    pub other: String,
}

/// The result of rerunning one scenario.
#[derive(Clone, Debug)]
pub struct Determinism {
    pub name: String,
    pub runs: usize,
    /// The checkpoints compared by dump (the others by verdict only), and why not.
    pub compared: Vec<Checkpoint>,
    pub skipped: Vec<(Checkpoint, String)>,
    pub differences: Vec<Difference>,
}

impl Determinism {
    pub fn identical(&self) -> bool {
        self.differences.is_empty()
    }

    /// One line, plus one per difference.
    pub fn report(&self) -> String {
        let mut s = String::new();
        let compared: Vec<&str> = self.compared.iter().map(|c| c.name()).collect();
        let state = if self.identical() { format!("{0}/{0} identical", self.runs) } else { format!("NOT DETERMINISTIC ({} run(s) differ)", self.differences.len()) };
        let _ = writeln!(s, "{:28} {state}; dumps compared at [{}]", self.name, compared.join(" "));
        for (cp, why) in &self.skipped {
            let _ = writeln!(s, "  {cp}: verdict only ({why})");
        }
        for d in &self.differences {
            let _ = writeln!(s, "  run {} differs from run 1 in {}:\n    run 1: {}\n    run {}: {}", d.run, d.part, d.first, d.run, d.other);
        }
        s
    }
}

/// The first difference between two fingerprints.
pub fn first_difference(a: &Fingerprint, b: &Fingerprint, run: usize) -> Option<Difference> {
    if a == b {
        return None;
    }
    for ((name, x), (_, y)) in a.parts.iter().zip(&b.parts) {
        if x != y {
            let (first, other) = x.lines().zip(y.lines()).find(|(l, m)| l != m).map(|(l, m)| (l.to_string(), m.to_string())).unwrap_or_else(|| {
                (format!("{} line(s)", x.lines().count()), format!("{} line(s)", y.lines().count()))
            });
            return Some(Difference { run, part: name.clone(), first, other });
        }
    }
    let names = |f: &Fingerprint| f.parts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>().join(", ");
    Some(Difference { run, part: "what was read".into(), first: names(a), other: names(b) })
}

/// Runs `p` `runs` times and compares every run with the first.
pub fn rerun(p: &Prepared, runs: usize) -> Determinism {
    rerun_keeping_first(p, runs).0
}

/// [`rerun`], and the first run's outcome (its capture is what the snapshot review reads).
pub fn rerun_keeping_first(p: &Prepared, runs: usize) -> (Determinism, Outcome) {
    let compared: Vec<Checkpoint> = p.scenario.deterministic_checkpoints().collect();
    let skipped = p.scenario.nondeterministic.iter().map(|n| (n.checkpoint, n.why.clone())).collect();
    let outcome = run_prepared(p);
    let first = fingerprint(&outcome, &compared);
    let differences = (2..=runs).filter_map(|run| first_difference(&first, &fingerprint(&run_prepared(p), &compared), run)).collect();
    (Determinism { name: p.scenario.name.clone(), runs, compared, skipped, differences }, outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(parts: &[(&str, &str)]) -> Fingerprint {
        Fingerprint { parts: parts.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect() }
    }

    #[test]
    fn the_first_differing_line_is_named() {
        let a = fp(&[("verdict", "Match"), ("Linux side at end-of-boot", "a\nb\nc")]);
        assert_eq!(first_difference(&a, &a.clone(), 2), None);
        let b = fp(&[("verdict", "Match"), ("Linux side at end-of-boot", "a\nB\nc")]);
        let d = first_difference(&a, &b, 3).unwrap();
        assert_eq!((d.run, d.part.as_str(), d.first.as_str(), d.other.as_str()), (3, "Linux side at end-of-boot", "b", "B"));
        let c = fp(&[("verdict", "Match"), ("Linux side at end-of-boot", "a\nb\nc\nd")]);
        assert_eq!(first_difference(&a, &c, 2).unwrap().first, "3 line(s)");
        let missing = fp(&[("verdict", "Match")]);
        assert_eq!(first_difference(&a, &missing, 2).unwrap().part, "what was read");
    }
}
