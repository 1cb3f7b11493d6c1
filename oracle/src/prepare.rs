//! From a scenario file to everything a boot and a replay need, computed once: the parsed
//! scenario, its built kernel (cached) and `.config`, the model's boot parameters, the
//! initramfs, and (loaded on first use) the kernel's symbols and structure layouts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use linux_harness::{build_kernel, initramfs, BootRequest, EndAction, KernelArtifacts};

use crate::error::{Context, Error, Result};
use crate::linux_side::kernel::{KernelConfig, KernelInfo};
use crate::scenario::params::{boot_params, BootParams};
use crate::scenario::{corpus_root, Scenario};

/// A scenario ready to boot and replay.
pub struct Prepared {
    pub file: PathBuf,
    pub scenario: Scenario,
    pub kernel: KernelArtifacts,
    pub initramfs: PathBuf,
    /// The kernel's `.config`, parsed.
    pub config: KernelConfig,
    /// What the scenario decides for the model (command line, config, CPUs).
    pub params: BootParams,
    /// Series applied after the scenario's own (`--series`).
    pub extra_series: Vec<PathBuf>,
    info: OnceLock<KernelInfo>,
}

impl Prepared {
    /// The harness's request to boot this scenario with `end` as `/init`'s end action.
    pub fn boot_request(&self, end: EndAction) -> BootRequest<'_> {
        BootRequest {
            kernel: &self.kernel,
            initramfs: &self.initramfs,
            machine: &self.scenario.machine,
            cmdline: &self.scenario.cmdline,
            end,
            timeout: self.scenario.timeout(),
            keep_run_dir: false,
            monitor_boot_info_override: None,
        }
    }

    /// The kernel this scenario boots, as reports name it.
    pub fn kernel_build(&self) -> KernelBuild {
        let subjects_and_hashes: Vec<(String, String)> = self
            .scenario
            .kernel
            .resolve(&crate::scenario::corpus_root(&self.file))
            .series
            .iter()
            .chain(&self.extra_series)
            .filter_map(|s| linux_harness::series::PatchSeries::load(s).ok())
            .flat_map(|s| s.patches)
            .map(|(_, text)| (patch_subject(&text), hex::encode(Sha256::digest(&text))))
            .collect();
        let patchset_hash = if subjects_and_hashes.is_empty() {
            String::new()
        } else {
            hex::encode(Sha256::digest(subjects_and_hashes.iter().map(|(_, h)| format!("{h}\n")).collect::<String>()))
        };
        KernelBuild {
            source: self.kernel.source.id.clone(),
            patches: self.scenario.kernel.patches.iter().cloned().chain(self.extra_series.iter().map(|s| s.display().to_string())).collect(),
            configs: self.scenario.kernel.configs.clone(),
            variant: self.kernel.key.clone(),
            compiler: self.config.get("CONFIG_CC_VERSION_TEXT").unwrap_or("").trim_matches('"').to_string(),
            patchset_hash,
            patch_subjects: subjects_and_hashes.into_iter().map(|(s, _)| s).collect(),
            model_rules: self.model_rules(),
        }
    }

    /// [`KernelBuild::model_rules`].
    pub fn model_rules(&self) -> String {
        let rules = self.params.rules.name();
        match self.config.version {
            Some((major, minor)) if self.params.rules_nearest => format!("{rules}, the nearest the model has to Linux {major}.{minor} (docs/versions.md)"),
            _ => rules.to_string(),
        }
    }

    /// The kernel's symbols and layouts, loaded the first time they are asked for.
    pub fn kernel_info(&self) -> Result<&KernelInfo> {
        if let Some(info) = self.info.get() {
            return Ok(info);
        }
        let info = KernelInfo::load(&self.kernel, self.config.clone())?;
        Ok(self.info.get_or_init(|| info))
    }
}

/// Loads the scenario, builds (or finds) its kernel variant and the initramfs.
pub fn prepare(file: &Path) -> Result<Prepared> {
    prepare_with_series(file, &[])
}

/// [`prepare`] with extra patch series applied after the scenario's own.
pub fn prepare_with_series(file: &Path, extra_series: &[PathBuf]) -> Result<Prepared> {
    prepare_changed(file, &Change { kernel: None, series: extra_series.to_vec() })
}

/// What a user puts on every scenario they run: another kernel source (`--kernel`) and
/// patch series on top of the scenario's own (`--series`).
#[derive(Clone, Debug, Default)]
pub struct Change {
    /// `debian:linux-source-X.Y` or `git:PATH[@REV]`, instead of the scenario's source.
    pub kernel: Option<String>,
    pub series: Vec<PathBuf>,
}

impl Change {
    /// A change from command-line options; the kernel source is checked here.
    pub fn new(kernel: Option<String>, series: Option<PathBuf>) -> Result<Change> {
        if let Some(k) = &kernel {
            if !linux_harness::source::spec_ok(k) {
                return Err(Error::Usage(format!("--kernel {k:?}: expected {}", linux_harness::source::SPEC_FORMS)));
            }
        }
        Ok(Change { kernel, series: series.into_iter().collect() })
    }

    /// Puts the other kernel source, if any, into `scenario` (the series go on at build).
    pub fn apply_kernel(&self, scenario: &mut Scenario) {
        if let Some(k) = &self.kernel {
            scenario.kernel.source = k.clone();
        }
    }
}

/// [`prepare`] with `change` applied to the scenario.
pub fn prepare_changed(file: &Path, change: &Change) -> Result<Prepared> {
    let mut scenario = Scenario::load(file)?;
    change.apply_kernel(&mut scenario);
    prepare_scenario(file, scenario, &change.series)
}

/// The kernel variant of a scenario read from `file`: names resolved against its corpus,
/// and a Debian source pinned to the exact version of that corpus's `kernels.lock`
/// (this project's when the corpus has none).
pub fn variant_of(file: &Path, kernel: &linux_harness::build::KernelSpec) -> Result<linux_harness::KernelVariant> {
    let root = corpus_root(file);
    let mut variant = kernel.resolve(&root);
    let lock = kernels_lock(&root)?;
    variant.source = lock.pin(&variant.source).with_context(|| format!("{}: kernel.source", file.display()))?;
    Ok(variant)
}

/// The kernel-source lock of the corpus at `root` (this project's when it has none).
pub fn kernels_lock(root: &Path) -> Result<linux_harness::lock::KernelsLock> {
    let own = root.join(KERNELS_LOCK);
    let path = if own.exists() { own } else { crate::scenario::project_corpora().join(KERNELS_LOCK) };
    Ok(linux_harness::lock::KernelsLock::load(&path)?)
}

/// The lock's file name in a corpus folder.
pub const KERNELS_LOCK: &str = "kernels.lock";

/// Builds what `scenario` needs; `file` is where it was read from (names in it resolve
/// against that file's corpus, and messages name it).
pub fn prepare_scenario(file: &Path, mut scenario: Scenario, extra_series: &[PathBuf]) -> Result<Prepared> {
    let mut variant = variant_of(file, &scenario.kernel)?;
    // A scenario that says it does not run on this version is not built: its patches
    // may be against code this version does not have.
    let version = linux_harness::source::KernelSource::locate(&variant.source).ok().and_then(|s| s.version());
    if let Some((version, why)) = version.and_then(|v| Some((v, scenario.on_version(v)?.not_run.clone()?))) {
        return Err(Error::NotRun { version, why });
    }
    // Patches are applied from inside the source tree: a series named relative to
    // where the user stands is made absolute first.
    let extra_series: Vec<PathBuf> = extra_series.iter().map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone())).collect();
    variant.series.extend(extra_series.iter().cloned());
    let kernel = build_kernel(&variant).with_context(|| format!("{}: kernel variant", file.display()))?;
    let initramfs = initramfs::build_initramfs(&kernel.source).context("building the initramfs")?;
    let text = std::fs::read_to_string(&kernel.config).map_err(|e| Error::io(format!("reading {}", kernel.config.display()), e))?;
    let config = KernelConfig::parse(&text);
    let params = boot_params(&scenario.cmdline, &config, &scenario.machine).with_context(|| format!("{}", file.display()))?;
    // From here on the scenario expects what it says for the version that was built (the
    // Makefile's, read above; the .config's header says the same).
    scenario.expect = scenario.expect_on(version.or(config.version)).clone();
    Ok(Prepared { file: file.to_path_buf(), scenario, kernel, initramfs, config, params, extra_series, info: OnceLock::new() })
}

/// The kernel a scenario booted.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KernelBuild {
    /// The source package and its Debian version (`linux-source-7.3 7.3.4-1~bpo13+1`).
    pub source: String,
    /// Patch series applied, as the scenario names them.
    pub patches: Vec<String>,
    pub configs: Vec<String>,
    /// The cache's variant hash.
    pub variant: String,
    /// `CONFIG_CC_VERSION_TEXT` of the build.
    pub compiler: String,
    /// SHA-256 over the newline-terminated SHA-256 of each patch file, in order (KCIDB's
    /// `patchset_hash`); empty without patches.
    pub patchset_hash: String,
    /// The subject of each patch, in order.
    pub patch_subjects: Vec<String>,
    /// The model's rules for this kernel's version (`rust_impl::version`): `7.3`, or
    /// which rules stood in for a version the model has none for.
    #[serde(default)]
    pub model_rules: String,
}

/// A patch's subject without its `[PATCH n/m]` tag.
pub fn patch_subject(text: &[u8]) -> String {
    let text = String::from_utf8_lossy(text);
    let s = text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or("").trim();
    match s.strip_prefix('[').and_then(|r| r.split_once("] ")) {
        Some((_, rest)) => rest.to_string(),
        None => s.to_string(),
    }
}
