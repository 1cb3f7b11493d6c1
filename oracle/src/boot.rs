//! Booting a prepared scenario without stopping it, and what its outcome means as an
//! exit status.

use linux_harness::{boot, Boot, BootOutcome, BootRequest, EndAction};

use crate::error::{Context, Result};
use crate::prepare::Prepared;

/// Boots a prepared scenario with `end` as `/init`'s end action.
pub fn boot_scenario(p: &Prepared, end: EndAction, keep_run_dir: bool) -> Result<Boot> {
    let req = BootRequest { keep_run_dir, ..p.boot_request(end) };
    boot(&req).with_context(|| format!("{}: booting", p.file.display()))
}

/// Exit status for a boot outcome: 0 booted, 1 a kernel outcome (panic), 2 the
/// infrastructure (QEMU failed, timeout).
pub fn exit_code(outcome: &BootOutcome) -> i32 {
    match outcome {
        BootOutcome::Booted => 0,
        BootOutcome::Panicked { .. } => 1,
        BootOutcome::Hung { .. } | BootOutcome::QemuFailed { .. } | BootOutcome::MonitorFailed { .. } => 2,
    }
}

