//! `oracle bisect SCENARIO --series SERIES`: the first patch of a series after which the
//! scenario's verdict changes. Each prefix of the series is a kernel variant of its own
//! (cached by content); prefixes share the configuration family's build tree, so each
//! step rebuilds only what the added patches touch.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use linux_harness::series::PatchSeries;

use crate::compare::{run_prepared, Verdict};
use crate::prepare::prepare_with_series;

/// The outcome of a bisection.
pub struct Bisection {
    /// Patches of the series, in order, as a person would name them.
    pub patches: Vec<String>,
    /// Verdicts measured: (number of patches applied, verdict label).
    pub steps: Vec<(usize, String)>,
    /// The first patch (1-based) whose prefix has a verdict other than the base's.
    pub first_change: Option<usize>,
}

/// Writes the first `k` patches of `series` as a directory of its own.
fn prefix_dir(series: &PatchSeries, k: usize, root: &Path) -> Result<PathBuf> {
    let dir = root.join(format!("prefix-{k:04}"));
    std::fs::create_dir_all(&dir)?;
    for (i, (name, text)) in series.patches.iter().take(k).enumerate() {
        let file = name.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Keep the order whatever the names: number them.
        std::fs::write(dir.join(format!("{:04}-{file}.patch", i + 1)), text)?;
    }
    Ok(dir)
}

fn label(v: &Verdict) -> String {
    match v {
        Verdict::Infrastructure(why) => format!("infrastructure failure: {}", why.lines().next().unwrap_or("")),
        other => other.label().to_string(),
    }
}

/// Bisects `series` (a directory of patches or an mbox) applied on top of `scenario`'s
/// own kernel variant, assuming the verdict changes at most once along the series.
pub fn bisect(scenario: &Path, series: &Path) -> Result<Bisection> {
    let series = PatchSeries::load(series)?;
    let n = series.patches.len();
    let work = tempfile::tempdir().map_err(|e| Error::io("creating a work directory", e))?;
    let mut steps = Vec::new();
    let mut verdict_at = |k: usize| -> Result<String> {
        let dir = prefix_dir(&series, k, work.path())?;
        let extra = if k == 0 { vec![] } else { vec![dir] };
        let l = match prepare_with_series(scenario, &extra) {
            Ok(p) => label(&run_prepared(&p).verdict),
            Err(e) => format!("infrastructure failure: {e}").lines().next().unwrap_or("").to_string(),
        };
        eprintln!("bisect: {k}/{n} patches applied: {l}");
        steps.push((k, l.clone()));
        Ok(l)
    };
    let base = verdict_at(0)?;
    let full = verdict_at(n)?;
    let mut first_change = None;
    if base != full {
        // Invariant: verdict(lo) == base, verdict(hi) != base.
        let (mut lo, mut hi) = (0, n);
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if verdict_at(mid)? == base {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        first_change = Some(hi);
    }
    Ok(Bisection { patches: series.labels.clone(), steps, first_change })
}

impl Bisection {
    pub fn report(&self) -> String {
        let mut s = String::new();
        for (k, v) in &self.steps {
            let _ = writeln!(s, "{k:3}/{} patches: {v}", self.patches.len());
        }
        match self.first_change {
            Some(k) => {
                let _ = writeln!(s, "first patch that changes the verdict: #{k} {}", self.patches[k - 1]);
            }
            None => {
                let _ = writeln!(s, "the verdict does not change along the series");
            }
        }
        s
    }
}
