//! `oracle boot`'s summary: kernel version, variant, outcome, boot time, detected CPU
//! features, WARNs and the in-guest ptdump of the linear map.

use std::fmt::Write as _;

use linux_harness::build::describe_provenance;
use linux_harness::{Boot, BootOutcome};

use crate::linux_side::ptdump::Ptdump;
use crate::prepare::Prepared;

/// The human summary `oracle boot` prints.
pub fn summary(p: &Prepared, b: &Boot) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "scenario   {} ({})", p.scenario.name, p.file.display());
    let _ = writeln!(s, "kernel     {} [variant {}, {}]", b.kernel_version().unwrap_or_else(|| "unknown".into()), &p.kernel.key[..12], describe_provenance(p.kernel.provenance));
    let _ = writeln!(s, "machine    {}", p.scenario.machine.describe());
    let _ = writeln!(s, "cmdline    {}", p.scenario.cmdline);
    let _ = writeln!(s, "outcome    {}", b.outcome.summary());
    let init_at = linux_harness::console::init_started_at(&b.console).map(|t| format!(", /init at {t:.3}s guest time")).unwrap_or_default();
    let _ = writeln!(s, "boot time  {:.2}s host{init_at}", b.host_seconds);
    let _ = writeln!(s, "features   {}", b.cpu_features().join("; "));
    let count = b.warn_count().map(|c| c.to_string()).unwrap_or_else(|| "unknown".into());
    let _ = writeln!(s, "WARNs      {count} (kernel count), {} block(s) in the log", b.warnings.len());
    for w in &b.warnings {
        let _ = writeln!(s, "  WARNING at {} {}", w.location.as_deref().unwrap_or("?"), w.function.as_deref().unwrap_or(""));
    }
    match &b.outcome {
        BootOutcome::Panicked { text, .. } => {
            let _ = writeln!(s, "\n{text}");
        }
        BootOutcome::Hung { last_lines, .. } => {
            let _ = writeln!(s, "\nlast console lines:\n{}", last_lines.join("\n"));
        }
        BootOutcome::QemuFailed { stderr, .. } => {
            let _ = writeln!(s, "\nQEMU stderr:\n{stderr}");
        }
        BootOutcome::MonitorFailed { last_lines, .. } => {
            let _ = writeln!(s, "\nlast console lines:\n{}", last_lines.join("\n"));
        }
        BootOutcome::Booted => {}
    }
    match b.ptdump().map(|t| Ptdump::parse(&t)) {
        Some(Ok(dump)) => match dump.linear_map() {
            Some(lm) => {
                let _ = write!(s, "\nin-guest ptdump, linear map:\n{lm}");
            }
            None => {
                let _ = writeln!(s, "\nin-guest ptdump has no Linear Mapping section");
            }
        },
        Some(Err(e)) => {
            let _ = writeln!(s, "\nin-guest ptdump could not be parsed: {e}");
        }
        None if b.outcome == BootOutcome::Booted => {
            let _ = writeln!(s, "\nno in-guest ptdump in the console log");
        }
        None => {}
    }
    s
}
