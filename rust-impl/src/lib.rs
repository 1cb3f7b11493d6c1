//! `no_std` model of the arm64 Linux linear-map logic (Linux 7.3, with 7.2's differences
//! in `version`): address types,
//! descriptor formats, the page-table builder of `arch/arm64/mm/mmu.c` over an
//! environment trait, `map_mem`, and a walk of the model's tables into the normalised
//! `linear_map::LinearMap` both sides render; and the boot-time mutations of the live
//! map: the split gate and splits (`split`), the stop_machine repaint, attribute
//! changes and the realm share/unshare path (`pageattr`), and `mark_rodata_ro`
//! (`rodata`).
//!
//! Builds for the host and for `aarch64-unknown-none`; it never knows about QEMU.

#![no_std]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;

pub mod address;
pub mod cpufeature;
pub mod descriptor;
pub mod errno;
pub mod granule;
pub(crate) mod lazy_mmu;
#[cfg(any(test, feature = "alloc"))]
pub mod linear_map;
pub mod map_mem;
pub mod mmu;
pub mod pageattr;
pub mod realm_shares;
pub(crate) mod pagewalk;
pub mod pgtable;
pub mod pgtable_prot;
pub mod rodata;
pub mod rsi;
pub mod split;
pub mod va_bits;
pub mod version;
#[cfg(any(test, feature = "alloc"))]
pub mod walk;
#[cfg(test)]
mod testutil;
