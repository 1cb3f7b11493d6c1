//! `oracle dump SCENARIO`: boot, pause the guest, read the linear map from outside it,
//! and cross-check the walk against the kernel's own ptdump of the same guest.

use anyhow::{bail, Context, Result};
use linux_harness::{BootOutcome, EndAction};

use crate::boot_cmd::boot_scenario;
use crate::guest_memory::MappedRam;
use crate::linux_side::{read_linux_side, LinuxSide};
use crate::prepare::Prepared;
use crate::ptdump::Ptdump;
use crate::ptdump_check::{compare, remerge, Mismatch};

/// The Linux side of a booted scenario and the ptdump cross-check.
pub struct Dump {
    pub side: LinuxSide,
    /// Disagreements between the host walk and the in-guest ptdump (empty: they agree).
    pub ptdump_mismatches: Vec<Mismatch>,
    /// Number of ptdump lines compared.
    pub ptdump_lines: usize,
}

/// Boots `p`, pauses at the end of boot and reads the linear map from guest RAM.
pub fn dump_scenario(p: &Prepared) -> Result<Dump> {
    let boot = boot_scenario(p, EndAction::Wait, false)?;
    if boot.outcome != BootOutcome::Booted {
        bail!("{}: the guest did not boot: {}", p.file.display(), boot.outcome.summary());
    }
    let guest = boot.guest.as_ref().context("the booted guest is not running")?;
    guest.pause()?;
    let mem = MappedRam::open(guest.ram_file(), guest.ram_base()).context("mapping guest RAM")?;
    let side = read_linux_side(&mem, guest.ram_base(), guest.ram_size(), &p.kernel)?;
    let text = boot.ptdump().context("no in-guest ptdump in the console log")?;
    let ptdump = Ptdump::parse(&text)?;
    let section = ptdump.linear_map().context("the in-guest ptdump has no Linear Mapping section")?;
    let ptdump_mismatches = compare(&remerge(&side.visits), section);
    Ok(Dump { side, ptdump_mismatches, ptdump_lines: section.ranges.len() })
}
