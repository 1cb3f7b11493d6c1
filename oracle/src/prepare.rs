//! From a scenario file to everything a boot and a replay need, computed once: the parsed
//! scenario, its built kernel (cached) and `.config`, the model's boot parameters, the
//! initramfs, and (loaded on first use) the kernel's symbols and structure layouts.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

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
    let scenario = Scenario::load(file)?;
    prepare_scenario(file, scenario, extra_series)
}

/// Builds what `scenario` needs; `file` is where it was read from (names in it resolve
/// against that file's corpus, and messages name it).
pub fn prepare_scenario(file: &Path, scenario: Scenario, extra_series: &[PathBuf]) -> Result<Prepared> {
    let mut variant = scenario.kernel.resolve(&corpus_root(file));
    variant.series.extend(extra_series.iter().cloned());
    let kernel = build_kernel(&variant).with_context(|| format!("{}: kernel variant", file.display()))?;
    let initramfs = initramfs::build_initramfs(&kernel.source).context("building the initramfs")?;
    let text = std::fs::read_to_string(&kernel.config).map_err(|e| Error::io(format!("reading {}", kernel.config.display()), e))?;
    let config = KernelConfig::parse(&text);
    let params = boot_params(&scenario.cmdline, &config, &scenario.machine).with_context(|| format!("{}", file.display()))?;
    Ok(Prepared { file: file.to_path_buf(), scenario, kernel, initramfs, config, params, info: OnceLock::new() })
}
