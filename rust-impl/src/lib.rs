//! `no_std` model of the arm64 Linux linear-map logic (Linux 7.3): address types and,
//! as the model grows, descriptor formats, `map_mem`, splitting and attribute changes.
//!
//! Builds for the host and for `aarch64-unknown-none`; it never knows about QEMU.

#![no_std]

#[cfg(any(test, feature = "alloc"))]
extern crate alloc;

pub mod address;
pub mod descriptor;
pub mod granule;
#[cfg(any(test, feature = "alloc"))]
pub mod linear_map;
