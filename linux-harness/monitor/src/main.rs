//! The EL2 monitor: QEMU starts it at EL2 (`-machine virt,virtualization=on`); it sets up
//! EL2 for each CPU (per-CPU identity, traps, stage 2 for a realm) and enters Linux at
//! EL1, then answers Linux's SMCs (PSCI, RSI), trapped ID-register reads and stage-2
//! faults. The logic lives in the library; `el2/` is the hardware side.

#![cfg_attr(target_os = "none", no_std, no_main)]

#[cfg(target_os = "none")]
mod el2;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("lmo-monitor runs at EL2 on aarch64-unknown-none-softfloat; the harness builds and boots it (linux-harness/src/monitor.rs)");
    std::process::exit(2);
}
