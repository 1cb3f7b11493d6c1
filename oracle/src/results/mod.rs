//! Results as data: what a run learned about each scenario, in one serialisable document
//! (`report.json`, schema [`SCHEMA`]) from which every other file of a results directory
//! (text, KCIDB, JUnit, KTAP, HTML) is rendered, so shards merge and runs compare from
//! the JSON alone.

pub mod changes;
pub mod collect;
pub mod dir;
pub mod html;
pub mod junit;
pub mod kcidb;
pub mod ktap;
pub mod runner;
pub mod shard;
pub mod text;

use serde::{Deserialize, Serialize};

pub use crate::prepare::KernelBuild;

/// Names the layout of [`Results`]; changed when a field changes meaning.
pub const SCHEMA: &str = "lmo-results/1";

/// A run's results: the scenarios of its matrix that finished, in matrix order.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Results {
    pub schema: String,
    /// Whether every scenario of `run.matrix` (or of the shard's share of it) is here;
    /// false in a file left by an interrupted run.
    pub complete: bool,
    pub run: RunInfo,
    pub scenarios: Vec<ScenarioResult>,
}

/// What was run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RunInfo {
    /// The KCIDB origin: lower-case letters, digits and `_`.
    pub origin: String,
    /// Every scenario of the run, in order (a shard's run lists the whole matrix).
    pub matrix: Vec<MatrixEntry>,
    /// Which share of the matrix this run took (`None`: all of it).
    pub shard: Option<shard::Shard>,
    /// The series put on every scenario's kernel (`--series`), if any.
    pub series: Option<SeriesInfo>,
    /// The kernel source every scenario was built from instead of its own (`--kernel`).
    pub kernel: Option<String>,
    /// Wall time of the whole run, seconds (a timing: not compared across runs).
    pub seconds: f64,
}

/// A patch series applied on top of every scenario's own kernel variant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SeriesInfo {
    /// Where it came from, as given.
    pub origin: String,
    /// The subject of each patch, in order (without `[PATCH n/m]`).
    pub subjects: Vec<String>,
}

impl SeriesInfo {
    /// Reads the series at `origin` (a directory, an mbox or one patch).
    pub fn load(origin: &std::path::Path) -> crate::Result<SeriesInfo> {
        let series = linux_harness::series::PatchSeries::load(origin)?;
        Ok(SeriesInfo { origin: origin.display().to_string(), subjects: series.patches.iter().map(|(_, text)| crate::prepare::patch_subject(text)).collect() })
    }
}

/// One cell of the matrix: a scenario file and the kernel it names.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MatrixEntry {
    pub scenario: String,
    pub file: String,
    /// `source + patches + configs`, the same for scenarios sharing a kernel build.
    pub kernel: String,
}

/// What one scenario came to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ScenarioResult {
    pub scenario: String,
    pub file: String,
    pub description: String,
    /// The verdict's label (`match`, `diverges as expected`, `UNEXPECTED DIVERGENCE`, ...).
    pub verdict: String,
    pub as_expected: bool,
    /// Why there is no verdict on the kernel (patch, build, QEMU, walker or model).
    pub infrastructure_failure: Option<String>,
    /// How the kernel failed (panic text, the last checkpoint reached) where it was to
    /// boot: a kernel outcome.
    pub kernel_failure: Option<String>,
    /// Why the scenario was not run on this kernel version (its entry says so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
    /// What the scenario expects: `match`, or `diverge` with its classes and reason.
    pub expect: crate::scenario::Expect,
    pub kernel: Option<KernelBuild>,
    /// Wall time of this scenario, seconds (a timing).
    pub seconds: f64,
    /// WARN blocks in the kernel log, whole.
    pub kernel_warnings: Vec<String>,
    pub checkpoints: Vec<CheckpointData>,
    pub calls: Vec<CallData>,
    /// What this kernel build kept from the call tracer or the model's replay (a traced
    /// function with nowhere to stop, an inlined call whose arguments the DWARF does not
    /// locate); the verdict is computed from what was seen.
    #[serde(default)]
    pub trace_gaps: Vec<String>,
    /// Kernel WARNs the model does not raise at the same site, and WARNs the model
    /// raises that the kernel did not print; the others are predicted.
    #[serde(default)]
    pub warning_mismatches: Vec<String>,
    pub monitor: Option<MonitorData>,
}

/// One checkpoint: both sides' maps and where they differ.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CheckpointData {
    pub checkpoint: String,
    /// Whether the scenario declares this checkpoint deterministic.
    pub deterministic: bool,
    pub model_steps: Vec<String>,
    pub divergences: Vec<DivergenceData>,
    pub rsi_mismatches: Vec<String>,
    /// Realm only: where the kernel's shares disagree with the caller model.
    #[serde(default)]
    pub sharing: Vec<String>,
    /// The normalised Linux side, one run of equal leaves per line.
    pub linux: Vec<Line>,
    pub model: Vec<Line>,
}

/// One normalised run of leaves: `[start, end, leaf, cont, pa, attributes, shared]`,
/// addresses as hex (`end` exclusive), `leaf` the level name (`PTE`, `PMD`, `PUD`),
/// attributes as the kernel's ptdump words (`INVALID` first when not valid).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Line(pub String, pub String, pub String, pub bool, pub String, pub String, pub bool);

/// One divergent VA range.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DivergenceData {
    pub start: String,
    pub end: String,
    pub classes: Vec<String>,
    pub explanation: String,
    /// Each side's lines over the range, as `oracle dump` prints them.
    pub linux: Vec<String>,
    pub model: Vec<String>,
}

/// One traced call and the model's answer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CallData {
    pub function: String,
    pub args: Vec<String>,
    pub ret: Option<i32>,
    pub model_ret: Option<i32>,
    pub mismatch: bool,
    pub caller: String,
    pub cpu: String,
    pub page_alloc_available: bool,
    pub online_cpus: u32,
    pub caps_finalized: bool,
    /// Where the kernel's boot-state variables at the call disagree with the timeline's
    /// boot events (`page_alloc_available: kernel 0, timeline 1`); empty when they agree.
    #[serde(default)]
    pub boot_state_disagreement: Vec<String>,
    /// The call as a line for people (`report::trace::call_line`).
    pub text: String,
}

/// What the EL2 monitor saw.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MonitorData {
    pub events: Vec<String>,
    pub rsi_calls: usize,
    pub stage2_faults: usize,
    /// RIPAS EMPTY PA ranges at the end, `start-end` in hex.
    pub empty_ranges: Vec<String>,
}

impl ScenarioResult {
    pub fn divergences(&self) -> impl Iterator<Item = (&CheckpointData, &DivergenceData)> {
        self.checkpoints.iter().flat_map(|c| c.divergences.iter().map(move |d| (c, d)))
    }
    pub fn is_infrastructure_failure(&self) -> bool {
        self.infrastructure_failure.is_some()
    }
    pub fn is_not_run(&self) -> bool {
        self.not_run.is_some()
    }
    pub fn call_mismatches(&self) -> usize {
        self.calls.iter().filter(|c| c.mismatch).count()
    }
    /// Calls made in another boot state than the timeline gives them.
    pub fn boot_state_disagreements(&self) -> usize {
        self.calls.iter().filter(|c| !c.boot_state_disagreement.is_empty()).count()
    }
    pub fn rsi_mismatches(&self) -> usize {
        self.checkpoints.iter().map(|c| c.rsi_mismatches.len()).sum()
    }
    pub fn sharing_findings(&self) -> usize {
        self.checkpoints.iter().map(|c| c.sharing.len()).sum()
    }
}

impl Results {
    /// Exit status: 2 if any infrastructure failure or the run is incomplete, else 1 if
    /// any verdict is not as expected, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.complete || self.scenarios.iter().any(ScenarioResult::is_infrastructure_failure) {
            2
        } else if self.scenarios.iter().any(|s| !s.as_expected) {
            1
        } else {
            0
        }
    }
    /// The matrix entries this run was to cover (its shard's share, or all).
    pub fn planned(&self) -> Vec<&MatrixEntry> {
        match &self.run.shard {
            Some(s) => s.share(&self.run.matrix),
            None => self.run.matrix.iter().collect(),
        }
    }
}

/// Small synthetic results for the unit tests of the renderers, merge and compare.
#[cfg(test)]
pub(crate) mod sample {
    use super::*;

    /// A scenario with `divergent` presence ranges at `end-of-boot`.
    pub fn scenario(name: &str, divergent: usize, as_expected: bool) -> ScenarioResult {
        let line = |a: u64, b: u64, attrs: &str| Line(format!("{a:#x}"), format!("{b:#x}"), "PTE".into(), false, "0x40000000".into(), attrs.into(), false);
        let base = 0xffff_0000_0000_0000u64;
        let divergences = (0..divergent as u64)
            .map(|i| DivergenceData {
                start: format!("{:#x}", base + 0x10000 * (i + 1)),
                end: format!("{:#x}", base + 0x10000 * (i + 1) + 0x1000),
                classes: vec!["presence".into()],
                explanation: "Linux shows it invalid, the model valid".into(),
                linux: vec!["linux line".into()],
                model: vec!["model line".into()],
            })
            .collect();
        ScenarioResult {
            scenario: name.into(),
            file: format!("{name}.json"),
            description: "d".into(),
            verdict: if as_expected { "match" } else { "UNEXPECTED DIVERGENCE" }.into(),
            as_expected,
            infrastructure_failure: None,
            kernel_failure: None,
            not_run: None,
            expect: crate::scenario::Expect::Match,
            kernel: None,
            seconds: 1.5,
            kernel_warnings: vec![],
            trace_gaps: vec![],
            warning_mismatches: vec![],
            checkpoints: vec![CheckpointData {
                checkpoint: "end-of-boot".into(),
                deterministic: true,
                model_steps: vec![],
                divergences,
                rsi_mismatches: vec![],
                sharing: vec![],
                linux: vec![line(base, base + 0x100000, "RW NX")],
                model: vec![line(base, base + 0x100000, "RW NX")],
            }],
            calls: vec![],
            monitor: None,
        }
    }

    /// Results of `scenarios` as shard `shard` of the matrix of `matrix` names.
    pub fn results(matrix: &[&str], shard: Option<shard::Shard>, scenarios: Vec<ScenarioResult>) -> Results {
        let matrix = matrix.iter().map(|n| MatrixEntry { scenario: n.to_string(), file: format!("{n}.json"), kernel: "k".into() }).collect();
        let mut r = Results { schema: SCHEMA.into(), complete: false, run: RunInfo { origin: "lmo".into(), matrix, shard, series: None, kernel: None, seconds: 3.0 }, scenarios };
        r.complete = r.scenarios.len() == r.planned().len();
        r
    }
}

#[cfg(test)]
mod tests;
