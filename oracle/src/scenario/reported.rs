//! Reported-bug entries (`corpora/reported/*.json`, `schema: 1`): a report's facts, the
//! scenario that shows it, and one or more runs (kernel variants: the scenario's kernel
//! plus patch series) with what each must show, checked by `oracle repro`.
//!
//! ```json
//! { "schema": 1, "name": "...", "title": "...",
//!   "report": { "reporter": "...", "affected": "...", "fix": "...", "summary": "...", "report_text": "..." },
//!   "scenario": { ...a scenario, as in corpora/scenarios... },
//!   "runs": [ { "name": "buggy", "patches": ["revert-realm-split-fix"],
//!               "expect": { "model": "diverge", "divergent_at": ["caps-finalized"], "classes": ["shared bit"],
//!                           "call_mismatches": ["set_memory_decrypted"], "warns": true,
//!                           "kernel_log": ["ITS: No ITS available"], "kernel_log_absent": [] } } ] }
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::diff_class::DiffClass;
use crate::scenario::{Checkpoint, Scenario, ScenarioError};
use crate::timeline::TracedFn;

/// One entry.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    #[serde(deserialize_with = "schema_one")]
    pub schema: u32,
    pub name: String,
    /// One line, as the subject of a mail about it.
    pub title: String,
    pub report: Report,
    /// The scenario (its own `expect` is not used: each run says what it expects).
    pub scenario: serde_json::Value,
    pub runs: Vec<Run>,
}

/// What is known of the report.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub reporter: String,
    /// Which kernels are affected.
    pub affected: String,
    /// The fix (commit and subject), or "none yet".
    pub fix: String,
    /// What goes wrong, in a few sentences.
    pub summary: String,
    /// For a finding of ours: the text of a report to send upstream.
    #[serde(default)]
    pub report_text: Option<String>,
}

/// One kernel variant to boot, and what it must show.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Run {
    pub name: String,
    /// Series under `corpora/patches/`, applied after the scenario's own.
    #[serde(default)]
    pub patches: Vec<String>,
    pub expect: RunExpect,
}

/// Linux against the model.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ModelExpect {
    /// Same maps at every checkpoint, same return code for every replayed call, and the
    /// RSI log agrees.
    Match,
    /// Something differs.
    Diverge,
    /// The kernel fails (a panic, or an oops before a hang) before the boot is over: a
    /// kernel outcome, with what was read before it; no map comparison.
    KernelFailure,
}

/// What a run must show; every item is checked.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RunExpect {
    pub model: ModelExpect,
    /// Checkpoints at which the maps (or the RSI log) must diverge.
    #[serde(default)]
    pub divergent_at: Vec<Checkpoint>,
    /// Divergence classes that must be among those seen.
    #[serde(default)]
    pub classes: Vec<DiffClass>,
    /// Traced functions at least one call of which must return something else than the
    /// model says.
    #[serde(default)]
    pub call_mismatches: Vec<TracedFn>,
    /// Boot-state variables some traced call must see otherwise than the timeline's
    /// boot events give it (a moved window edge): `page_alloc_available`,
    /// `online_cpus`, `caps_finalized`.
    #[serde(default)]
    pub boot_state: Vec<BootVariable>,
    /// Text each of which must appear in some finding of the realm caller model
    /// (compare/sharing.rs), at any checkpoint.
    #[serde(default)]
    pub sharing: Vec<String>,
    /// Whether the EL2 monitor must have refused an access (a stage-2 fault: the realm
    /// touched memory that is not RAM for it); false: it must not have.
    #[serde(default)]
    pub stage2_faults: bool,
    /// Whether the kernel WARNs (false: it must not).
    #[serde(default)]
    pub warns: bool,
    /// Text that must appear in the kernel log.
    #[serde(default)]
    pub kernel_log: Vec<String>,
    /// Text that must not appear in the kernel log.
    #[serde(default)]
    pub kernel_log_absent: Vec<String>,
}

/// A boot-state variable of the split gate.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum BootVariable {
    PageAllocAvailable,
    OnlineCpus,
    CapsFinalized,
}

impl BootVariable {
    pub fn name(self) -> &'static str {
        match self {
            BootVariable::PageAllocAvailable => "page_alloc_available",
            BootVariable::OnlineCpus => "online_cpus",
            BootVariable::CapsFinalized => "caps_finalized",
        }
    }
}

fn schema_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v != 1 {
        return Err(serde::de::Error::custom(format!("schema {v} is not supported (this oracle reads schema 1)")));
    }
    Ok(v)
}

impl Entry {
    /// Reads and checks an entry; errors name the file and the field.
    pub fn load(path: &Path) -> Result<Entry, ScenarioError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ScenarioError { file: path.to_path_buf(), field: String::new(), message: format!("cannot read: {e}") })?;
        Self::parse(&text, path)
    }

    /// Parses and checks entry text; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Entry, ScenarioError> {
        let err = |field: &str, message: String| ScenarioError { file: path.to_path_buf(), field: field.into(), message };
        let de = &mut serde_json::Deserializer::from_str(text);
        let entry: Entry = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            err(&field, e.into_inner().to_string())
        })?;
        if entry.runs.is_empty() {
            return Err(err("runs", "an entry needs at least one run".into()));
        }
        for (i, r) in entry.runs.iter().enumerate() {
            let wants_divergence = !r.expect.divergent_at.is_empty() || !r.expect.classes.is_empty() || !r.expect.call_mismatches.is_empty();
            if r.expect.model != ModelExpect::Diverge && wants_divergence {
                return Err(err(&format!("runs[{i}].expect"), "divergences to look for, but \"model\" is not \"diverge\"".into()));
            }
        }
        // The scenario must be one this oracle can run.
        entry.scenario_for(path, &entry.runs[0]).map_err(|e| ScenarioError { field: format!("scenario.{}", e.field).trim_end_matches('.').to_string(), ..e })?;
        Ok(entry)
    }

    /// The scenario of `run`: the entry's, named after the entry and the run, with the
    /// run's series added.
    pub fn scenario_for(&self, path: &Path, run: &Run) -> Result<Scenario, ScenarioError> {
        let mut value = self.scenario.clone();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("name".into(), serde_json::Value::String(format!("{}-{}", self.name, run.name)));
            obj.entry("expect").or_insert_with(|| serde_json::json!({ "verdict": "match" }));
            if let Some(patches) = obj.get_mut("kernel").and_then(|k| k.get_mut("patches")).and_then(|p| p.as_array_mut()) {
                patches.extend(run.patches.iter().map(|p| serde_json::Value::String(p.clone())));
            }
        }
        Scenario::parse(&value.to_string(), path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "schema": 1, "name": "bug", "title": "t",
      "report": { "reporter": "r", "affected": "a", "fix": "f", "summary": "s" },
      "scenario": { "schema": 1, "name": "x", "description": "d",
        "kernel": { "source": "debian:linux-source-7.3", "patches": ["one"], "configs": ["base"] },
        "machine": { "cpus": 2, "memory_mib": 2048, "realm": {} }, "cmdline": "rodata=on", "trace": true,
        "expect": { "verdict": "match" } },
      "runs": [ { "name": "buggy", "patches": ["two"], "expect": { "model": "diverge", "classes": ["shared bit"], "warns": true } } ]
    }"#;

    fn load(text: &str) -> Result<Entry, ScenarioError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bug.json");
        std::fs::write(&p, text).unwrap();
        Entry::load(&p)
    }

    #[test]
    fn runs_add_their_series_to_the_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bug.json");
        std::fs::write(&p, GOOD).unwrap();
        let e = Entry::load(&p).unwrap();
        let s = e.scenario_for(&p, &e.runs[0]).unwrap();
        assert_eq!(s.name, "bug-buggy");
        assert_eq!(Entry::parse(GOOD, &p).unwrap(), e);
        assert_eq!(s.kernel.patches, vec!["one".to_string(), "two".to_string()]);
    }

    #[test]
    fn errors_name_the_field() {
        let e = load(&GOOD.replace("\"shared bit\"", "\"sharedness\"")).unwrap_err().to_string();
        assert!(e.contains("field `runs[0].expect.classes[0]`") && e.contains("unknown divergence class"), "{e}");
        let e = load(&GOOD.replace("\"reporter\": \"r\", ", "")).unwrap_err().to_string();
        assert!(e.contains("field `report`") && e.contains("reporter"), "{e}");
        let e = load(&GOOD.replace("\"memory_mib\": 2048", "\"memory_mib\": 1")).unwrap_err().to_string();
        assert!(e.contains("field `scenario.machine.memory_mib`"), "{e}");
        let e = load(&GOOD.replace("\"model\": \"diverge\"", "\"model\": \"match\"")).unwrap_err().to_string();
        assert!(e.contains("field `runs[0].expect`"), "{e}");
        let e = load(&GOOD.replace("\"trace\": true", "\"trace\": false")).unwrap_err().to_string();
        assert!(e.contains("field `scenario.trace`"), "{e}");
    }
}
