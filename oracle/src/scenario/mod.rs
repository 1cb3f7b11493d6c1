//! Scenario files (`corpora/scenarios/*.json`, `schema: 1`): parsing and validation with
//! errors that name the file and the field.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use linux_harness::build::KernelSpec;
use linux_harness::{EndAction, MachineSpec};
use serde::{Deserialize, Serialize};

use crate::diff_class::DiffClass;
pub use crate::timeline::Checkpoint;

pub mod files;
pub mod params;
pub mod reported;

/// One scenario: a kernel variant, a machine, a command line and what to expect.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    #[serde(deserialize_with = "schema_one")]
    pub schema: u32,
    pub name: String,
    pub description: String,
    pub kernel: KernelSpec,
    pub machine: MachineSpec,
    #[serde(default)]
    pub cmdline: String,
    #[serde(default = "default_checkpoints")]
    pub checkpoints: Vec<Checkpoint>,
    pub expect: Expect,
    /// What `/init` does after reporting in.
    #[serde(default)]
    pub end: EndAction,
    /// Checkpoints whose map is not the same from boot to boot, and why: they are
    /// compared with the model but not snapshotted.
    #[serde(default)]
    pub nondeterministic: Vec<Nondeterministic>,
    /// Record the call trace (crate::timeline::TracedFn) and compare the model's return
    /// codes call by call. Costs a debugger stop per call: leave it off where calls
    /// are many (debug_pagealloc).
    #[serde(default)]
    pub trace: bool,
    /// Seconds the boot may take before it counts as hung.
    #[serde(default = "default_timeout")]
    pub timeout_s: u32,
    /// What differs on another kernel version (`"7.2"`: the VERSION.PATCHLEVEL of the
    /// kernel's Makefile, whichever source `--kernel` names): another expectation, or why
    /// the scenario does not run there.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub versions: BTreeMap<String, OnVersion>,
}

/// A scenario on one kernel version: exactly one of the two.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OnVersion {
    /// What to expect on this version, instead of the scenario's `expect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Expect>,
    /// Why the scenario does not run on this version, in the kernel's terms (its patch
    /// is against code this version does not have, the feature it exercises came
    /// later, ...). The run reports it as not run, with this reason; nothing is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
}

fn schema_one<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v != 1 {
        return Err(serde::de::Error::custom(format!("schema {v} is not supported (this oracle reads schema 1)")));
    }
    Ok(v)
}

fn default_checkpoints() -> Vec<Checkpoint> {
    vec![Checkpoint::EndOfBoot]
}

/// A traced realm boot takes about a minute on two idle cores and four times that with
/// four guests on them (a parallel run beside the test suite): 120 s was exceeded under
/// that load. Only a guest that really hangs waits out the whole budget.
fn default_timeout() -> u32 {
    300
}

/// A checkpoint whose map is not deterministic, and why.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Nondeterministic {
    pub checkpoint: Checkpoint,
    pub why: String,
}

/// The expected verdict.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "verdict", rename_all = "lowercase", deny_unknown_fields)]
pub enum Expect {
    /// Linux and the model agree.
    Match,
    /// A known divergence: what diverges and why. With `classes`, a divergence of any
    /// other class (presence, granularity, attributes, output address, shared bit) is
    /// still unexpected.
    Diverge {
        what: String,
        why: String,
        #[serde(default)]
        classes: Vec<DiffClass>,
        /// The checkpoints where the divergence may show (empty: any); a divergence at
        /// another checkpoint is unexpected.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        at: Vec<Checkpoint>,
        /// Which side alone maps the divergent ranges (`linux-only`, `model-only`); a
        /// range of the other kind is unexpected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        side: Option<crate::diff_class::Side>,
    },
    /// The kernel fails before the boot is over (a panic, or an oops before a hang), and
    /// why, in the kernel's terms. Each `log` text must be in what the kernel printed
    /// when it failed (its panic or oops), so another failure is not taken for this one.
    #[serde(rename = "kernel-failure")]
    KernelFailure {
        what: String,
        why: String,
        log: Vec<String>,
    },
}

/// `"7.2"` as `(7, 2)`.
pub fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    // As the Makefile writes it: digits, no leading zero ("07.2" would be a second name for 7.2).
    let number = |t: &str| if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() <= 4 && (t == "0" || !t.starts_with('0')) { t.parse().ok() } else { None };
    Some((number(major)?, number(minor)?))
}

/// A scenario that could not be read, naming the file and the field.
#[derive(Debug)]
pub struct ScenarioError {
    pub file: PathBuf,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}: field `{}`: {}", self.file.display(), self.field, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// A name that resolves to one entry of a corpus folder and nowhere else: no path
/// separator, no `..`, not hidden, not empty.
fn is_corpus_file_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            field: String::new(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses scenario text; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Scenario, ScenarioError> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
            let field = e.path().to_string();
            let inner = e.into_inner();
            ScenarioError { file: path.to_path_buf(), field, message: inner.to_string() }
        })?;
        scenario.validate().map_err(|(field, message)| ScenarioError { file: path.to_path_buf(), field: field.into(), message })?;
        Ok(scenario)
    }

    fn validate(&self) -> Result<(), (&'static str, String)> {
        let ok = !self.name.is_empty() && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !ok {
            return Err(("name", format!("{:?}: use lowercase letters, digits and '-'", self.name)));
        }
        if !linux_harness::source::spec_ok(&self.kernel.source) {
            return Err(("kernel.source", format!("{:?}: expected {}", self.kernel.source, linux_harness::source::SPEC_FORMS)));
        }
        if self.kernel.configs.is_empty() {
            return Err(("kernel.configs", "needs at least the \"base\" fragment".into()));
        }
        for (field, names) in [("kernel.patches", &self.kernel.patches), ("kernel.configs", &self.kernel.configs)] {
            if let Some(bad) = names.iter().find(|n| !is_corpus_file_name(n)) {
                return Err((field, format!("{bad:?}: a name under corpora/ (letters, digits, '.', '_', '-'; no '/', no leading '.')")));
            }
        }
        if self.cmdline.contains('\n') {
            return Err(("cmdline", "must be one line".into()));
        }
        self.machine.validate()?;
        if self.machine.realm.is_some() && !self.trace {
            return Err(("trace", "a realm scenario needs \"trace\": true: the model takes the addresses the kernel shares (set_memory_decrypted) from the call trace".into()));
        }
        for n in &self.nondeterministic {
            if !self.checkpoints.contains(&n.checkpoint) {
                return Err(("nondeterministic", format!("{} is not one of this scenario's checkpoints", n.checkpoint)));
            }
        }
        if self.timeout_s == 0 {
            return Err(("timeout_s", "must be at least 1".into()));
        }
        let log_ok = |e: &Expect| !matches!(e, Expect::KernelFailure { log, .. } if log.is_empty() || log.iter().any(|l| l.trim().is_empty()));
        const LOG: &str = "a kernel failure names text of its panic or oops in `log` (at least one, none empty)";
        if !log_ok(&self.expect) {
            return Err(("expect", LOG.into()));
        }
        for (version, on) in &self.versions {
            if parse_version(version).is_none() {
                return Err(("versions", format!("{version:?}: a kernel version is VERSION.PATCHLEVEL, e.g. \"7.2\"")));
            }
            if on.expect.as_ref().is_some_and(|e| !log_ok(e)) {
                return Err(("versions", format!("{version}: `expect`: {LOG}")));
            }
            match (&on.expect, &on.not_run) {
                (Some(_), None) => {}
                (None, Some(why)) if !why.trim().is_empty() => {}
                (None, Some(_)) => return Err(("versions", format!("{version}: `not_run` needs the reason"))),
                _ => return Err(("versions", format!("{version}: give either `expect` or `not_run`"))),
            }
        }
        Ok(())
    }

    /// What this scenario says about kernel version `version`, if anything.
    pub fn on_version(&self, version: (u32, u32)) -> Option<&OnVersion> {
        self.versions.iter().find(|(v, _)| parse_version(v) == Some(version)).map(|(_, on)| on)
    }

    /// The expectation on kernel version `version` (`None`: unknown, the scenario's own).
    pub fn expect_on(&self, version: Option<(u32, u32)>) -> &Expect {
        version.and_then(|v| self.on_version(v)).and_then(|on| on.expect.as_ref()).unwrap_or(&self.expect)
    }

    /// The checkpoints whose map is the same from boot to boot.
    pub fn deterministic_checkpoints(&self) -> impl Iterator<Item = Checkpoint> + '_ {
        self.checkpoints.iter().copied().filter(|c| !self.nondeterministic.iter().any(|n| n.checkpoint == *c))
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_s.into())
    }
}

/// The corpus folder a scenario's names resolve against: the nearest ancestor of the
/// scenario file called `corpora`, else this project's own `corpora/`.
pub fn corpus_root(scenario_file: &Path) -> PathBuf {
    let absolute = std::path::absolute(scenario_file).unwrap_or_else(|_| scenario_file.to_path_buf());
    absolute
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "corpora"))
        .map(Path::to_path_buf)
        .unwrap_or_else(project_corpora)
}

/// This project's `corpora/` folder.
pub fn project_corpora() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("corpora")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{
      "schema": 1,
      "name": "bbml3-blocks",
      "description": "d",
      "kernel": { "source": "debian:linux-source-7.3", "patches": [], "configs": ["base"] },
      "machine": { "cpus": 2, "memory_mib": 2048, "cpu": "max", "midr": "0x410fd842" },
      "cmdline": "rodata=on",
      "checkpoints": ["end-of-boot"],
      "expect": { "verdict": "match" }
    }"#;

    fn err(text: &str) -> String {
        Scenario::parse(text, Path::new("corpora/scenarios/x.json")).unwrap_err().to_string()
    }

    #[test]
    fn good_scenario() {
        let s = Scenario::parse(GOOD, Path::new("x.json")).unwrap();
        assert_eq!(s.machine.midr, Some(0x410fd842));
        assert_eq!(s.end, EndAction::Wait);
        assert_eq!(s.expect, Expect::Match);
    }

    #[test]
    fn errors_name_file_and_field() {
        let e = err(&GOOD.replace("\"0x410fd842\"", "\"410fd842\""));
        assert!(e.starts_with("corpora/scenarios/x.json: field `machine.midr`:"), "{e}");
        let e = err(&GOOD.replace("\"cpus\": 2", "\"cpus\": \"two\""));
        assert!(e.contains("field `machine.cpus`"), "{e}");
        let e = err(&GOOD.replace("\"end-of-boot\"", "\"end-of-boat\""));
        assert!(e.contains("field `checkpoints[0]`") && e.contains("unknown checkpoint"), "{e}");
        let e = err(&GOOD.replace("\"schema\": 1", "\"schema\": 2"));
        assert!(e.contains("field `schema`"), "{e}");
        let e = err(&GOOD.replace("\"verdict\": \"match\"", "\"verdict\": \"diverge\""));
        assert!(e.contains("field `expect`") && e.contains("what"), "{e}");
        let e = err(&GOOD.replace("\"configs\": [\"base\"]", "\"configs\": []"));
        assert!(e.contains("field `kernel.configs`"), "{e}");
        for escape in ["../../etc/passwd", "/etc", "a/b", ".hidden", ""] {
            let e = err(&GOOD.replace("\"configs\": [\"base\"]", &format!("\"configs\": [\"base\", {escape:?}]")));
            assert!(e.contains("field `kernel.configs`") && e.contains("no '/'"), "{escape}: {e}");
            let e = err(&GOOD.replace("\"patches\": []", &format!("\"patches\": [{escape:?}]")));
            assert!(e.contains("field `kernel.patches`"), "{escape}: {e}");
        }
        let e = err(&GOOD.replace("\"name\": \"bbml3-blocks\"", "\"name\": \"../x\""));
        assert!(e.contains("field `name`"), "{e}");
        let e = err(&GOOD.replace("\"cmdline\"", "\"command_line\""));
        assert!(e.contains("unknown field `command_line`"), "{e}");
        let e = err("{ \"schema\": 1, ");
        assert!(e.starts_with("corpora/scenarios/x.json: "), "{e}");
    }

    /// Regression (fuzz): a machine without `midr` printed `"midr": null`, which does not
    /// parse back.
    #[test]
    fn scenarios_print_back_to_what_parses() {
        for text in [GOOD.to_string(), GOOD.replace(", \"midr\": \"0x410fd842\"", "")] {
            let s = Scenario::parse(&text, Path::new("x.json")).unwrap();
            let again = serde_json::to_string(&s).unwrap();
            assert_eq!(Scenario::parse(&again, Path::new("x.json")).unwrap(), s, "{again}");
        }
    }

    #[test]
    fn expectations_per_kernel_version() {
        let on = r#", "versions": { "7.2": { "expect": { "verdict": "diverge", "what": "w", "why": "y" } }, "6.12": { "not_run": "no realms before 6.13" } } }"#;
        let s = Scenario::parse(&format!("{}{on}", GOOD.trim_end().trim_end_matches('}')), Path::new("x.json")).unwrap();
        assert_eq!(s.expect_on(Some((7, 3))), &Expect::Match);
        assert_eq!(s.expect_on(None), &Expect::Match);
        assert!(matches!(s.expect_on(Some((7, 2))), Expect::Diverge { .. }));
        assert_eq!(s.on_version((6, 12)).unwrap().not_run.as_deref(), Some("no realms before 6.13"));
        let again = serde_json::to_string(&s).unwrap();
        assert_eq!(Scenario::parse(&again, Path::new("x.json")).unwrap(), s);
        let with = |on: &str| err(&format!("{}, \"versions\": {on} }}", GOOD.trim_end().trim_end_matches('}')));
        let e = with(r#"{ "7": { "not_run": "x" } }"#);
        assert!(e.contains("field `versions`") && e.contains("VERSION.PATCHLEVEL"), "{e}");
        let e = with(r#"{ "7.2": {} }"#);
        assert!(e.contains("either `expect` or `not_run`"), "{e}");
        let e = with(r#"{ "7.2": { "not_run": " " } }"#);
        assert!(e.contains("needs the reason"), "{e}");
        let e = with(r#"{ "7.2": { "expect": { "verdict": "match" }, "not_run": "x" } }"#);
        assert!(e.contains("either"), "{e}");
        let e = with(r#"{ "7.2": { "skip": "x" } }"#);
        assert!(e.contains("field `versions.7.2.skip`") && e.contains("unknown field `skip`"), "{e}");
        let e = with(r#"{ "7.2": { "expect": { "verdict": "kernel-failure", "what": "w", "why": "y", "log": [] } } }"#);
        assert!(e.contains("field `versions`") && e.contains("7.2: `expect`") && e.contains("`log`"), "{e}");
        let failing = r#", "versions": { "7.2": { "expect": { "verdict": "kernel-failure", "what": "w", "why": "y", "log": ["Oops"] } } } }"#;
        let s = Scenario::parse(&format!("{}{failing}", GOOD.trim_end().trim_end_matches('}')), Path::new("x.json")).unwrap();
        assert!(matches!(s.expect_on(Some((7, 2))), Expect::KernelFailure { log, .. } if log == &["Oops"]));
        assert_eq!(parse_version("6.12"), Some((6, 12)));
        assert_eq!(parse_version("6.12.1"), None);
        assert_eq!(parse_version(".1"), None);
        assert_eq!(parse_version("07.2"), None);
        assert_eq!(parse_version("6.0"), Some((6, 0)));
    }

    #[test]
    fn corpus_root_is_nearest_corpora() {
        assert_eq!(corpus_root(Path::new("/a/corpora/scenarios/x.json")), PathBuf::from("/a/corpora"));
    }
}
