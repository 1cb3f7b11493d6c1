//! From a scenario file to everything a boot needs: the parsed scenario, its built
//! kernel (cached) and the initramfs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use linux_harness::{build_kernel, initramfs, KernelArtifacts};

use crate::scenario::{corpus_root, Scenario};

/// A scenario ready to boot.
pub struct Prepared {
    pub file: PathBuf,
    pub scenario: Scenario,
    pub kernel: KernelArtifacts,
    pub initramfs: PathBuf,
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
    Ok(Prepared { file: file.to_path_buf(), scenario, kernel, initramfs })
}
