//! Kernel provisioning and QEMU control: everything the oracle needs to turn a scenario's
//! kernel variant and machine into a booted (and pausable) guest.
//!
//! Flow: [`source`] finds or fetches the Debian kernel source, [`build`] turns a
//! [`KernelVariant`] into cached artifacts (applying its [`series`] and merging its
//! [`config`] fragments), [`initramfs`] makes the tiny `/init`, and [`boot`] starts QEMU
//! ([`qemu`]) for a [`MachineSpec`], watches the console ([`console`]) and hands back a
//! [`boot::Boot`] holding the outcome and, while it lives, the running guest.

pub mod boot;
pub mod build;
pub mod cache;
pub mod config;
pub mod dtb;
pub mod console;
mod cmd;
mod error;
pub mod gdbstub;
pub mod initramfs;
pub mod kernel_tree;
pub mod lock;
pub mod matrix;
pub mod machine;
pub mod monitor;
pub mod paths;
mod progress;
pub mod qemu;
pub mod qmp;
pub mod reaper;
pub mod series;
pub mod source;
pub mod source_git;
pub mod source_tar;
pub mod shared_tree;
pub mod toolchain;

pub use boot::{boot, Boot, BootOutcome, BootRequest, EndAction};
pub use build::{build_kernel, KernelArtifacts, KernelVariant};
pub use error::{Error, Result};
pub use machine::MachineSpec;
