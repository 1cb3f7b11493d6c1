//! Feeds guest RAM (page tables) and walk parameters (granule, VA size, root, shared
//! bit; the first 8 bytes) to the walker: a walk or an error, never a panic or a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oracle::linux_side::guest_memory::VecMemory;
use oracle::linux_side::walker::{walk, WalkConfig};
use rust_impl::address::PhysAddr;
use rust_impl::granule::Granule;

const RAM: u64 = 0x4000_0000;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let (head, ram) = data.split_at(8);
    let granule = [Granule::G4K, Granule::G16K, Granule::G64K][head[0] as usize % 3];
    // 30 to 55 bits: every size Linux builds (36 to 52, 2 to 5 levels) and some it does not.
    let va_bits = 30 + u32::from(head[1] % 26);
    let shared_mask = if head[2] & 0x80 != 0 { 1u64 << (30 + head[2] % 20) } else { 0 };
    // Root anywhere near RAM, including just outside it.
    let root = (RAM - 0x1000).wrapping_add(u64::from(u32::from_le_bytes([head[3], head[4], head[5], 0])) * 8);
    let mem = VecMemory { base: PhysAddr(RAM), bytes: ram.to_vec() };
    let cfg = WalkConfig { granule, va_bits, root: PhysAddr(root), shared_mask };
    if let Ok(visits) = walk(&mem, cfg, cfg.page_offset(), cfg.page_end()) {
        let _ = rust_impl::linear_map::LinearMap::from_leaves(oracle::linux_side::walker::leaves(&visits)).to_string();
        let _ = oracle::linux_side::ptdump_check::remerge(&visits);
    }
});
