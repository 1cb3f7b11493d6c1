//! The EL2 monitor's logic, kept free of the hardware so it is tested on the host: the
//! fixed memory layout shared with the harness ([`layout`]), the boot information the
//! harness hands over ([`bootinfo`]), the event log the oracle reads ([`eventlog`]),
//! SMCCC/PSCI/RSI function numbers ([`smccc`]), the RSI calls ([`rsi`]) over the realm's
//! RIPAS ([`ripas`]) and stage 2 ([`stage2`]), trapped ID-register reads ([`sysreg`])
//! and the external abort injected into EL1 on a stage-2 fault ([`inject`]).
//!
//! `src/main.rs` is the monitor itself: entry, vectors and EL2 set-up for aarch64.

#![cfg_attr(not(test), no_std)]

pub mod bootinfo;
pub mod eventlog;
pub mod host;
pub mod inject;
pub mod layout;
pub mod mem;
pub mod psci;
pub mod realm;
pub mod ripas;
pub mod rsi;
pub mod smccc;
pub mod stage2;
pub mod sysreg;
