//! `oracle dump SCENARIO [--checkpoint NAME]`: the Linux side read from guest RAM,
//! normalised; at end-of-boot checked line for line against the kernel's own ptdump.

use std::path::PathBuf;

use oracle::capture::{capture, StopPoint};
use oracle::prepare::prepare_changed;

#[derive(clap::Args)]
pub struct Args {
    /// Scenario file (JSON, schema 1).
    scenario: PathBuf,
    #[command(flatten)]
    change: super::ChangeArgs,
    /// Read the map at this boot checkpoint instead of the end of boot (after-map-mem,
    /// after-rsi-init, mem-init, before-smp, caps-finalized, after-repaint,
    /// after-rodata-ro, end-of-boot), or at a source line: line:FILE:LINE (the first
    /// time the kernel reaches it, through the DWARF line table).
    #[arg(long, default_value = "end-of-boot")]
    checkpoint: String,
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    let point = StopPoint::parse(&a.checkpoint)?;
    let prepared = prepare_changed(&a.scenario, &a.change.change()?)?;
    let c = capture(&prepared, std::slice::from_ref(&point), false)?;
    let side = &c.sides[&point];
    print!("{}", side.linear_map);
    if let Some(events) = &c.monitor {
        let events = events.before(c.log_marks.get(&point).copied().unwrap_or(u32::MAX));
        print!("{}", oracle::report::monitor::report(&events, &side.linear_map, side.realm.is_some()));
    }
    match &c.ptdump {
        Some(check) if check.mismatches.is_empty() => {
            eprintln!("ptdump cross-check: the host walk and the kernel's ptdump agree on all {} lines", check.lines);
            Ok(0)
        }
        Some(check) => {
            eprintln!("ptdump cross-check: {} line(s) differ:", check.mismatches.len());
            for m in &check.mismatches {
                eprintln!("{m}");
            }
            Ok(1)
        }
        None => Ok(0),
    }
}
