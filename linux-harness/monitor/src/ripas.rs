//! Realm IPA state (RIPAS) of every 4 KiB granule of the realm's RAM, one byte each in
//! the monitor's memory. IPAs outside the RAM the realm was given (MMIO, holes) are
//! EMPTY: that is what tells Linux's ioremap hook to map devices shared.

use crate::layout::GRANULE;
use crate::mem::PhysMem;

/// `enum ripas` of the RMM specification (and of arch/arm64/include/asm/rsi_cmds.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Ripas {
    Empty = 0,
    Ram = 1,
    Destroyed = 2,
    Dev = 3,
}

impl Ripas {
    pub fn from_u8(v: u8) -> Ripas {
        match v {
            0 => Ripas::Empty,
            1 => Ripas::Ram,
            2 => Ripas::Destroyed,
            _ => Ripas::Dev,
        }
    }
}

/// The table: `ram_base..ram_base+ram_size` tracked at `table_pa`.
#[derive(Clone, Copy, Debug)]
pub struct RipasTable {
    pub table_pa: u64,
    pub ram_base: u64,
    pub ram_size: u64,
}

impl RipasTable {
    /// Whether `ipa` is realm RAM (tracked here).
    pub fn covers(&self, ipa: u64) -> bool {
        ipa >= self.ram_base && ipa - self.ram_base < self.ram_size
    }

    /// Every RAM granule starts as RAM, as when the host populates a realm's memory
    /// before it runs (RMI_RTT_INIT_RIPAS over all of it).
    pub fn init<M: PhysMem>(&self, mem: &mut M) {
        let n = self.ram_size / GRANULE;
        for i in 0..n {
            mem.write_u8(self.table_pa + i, Ripas::Ram as u8);
        }
    }

    pub fn get<M: PhysMem>(&self, mem: &M, ipa: u64) -> Ripas {
        if !self.covers(ipa) {
            return Ripas::Empty;
        }
        Ripas::from_u8(mem.read_u8(self.table_pa + (ipa - self.ram_base) / GRANULE))
    }

    /// Sets one granule; `ipa` must be covered.
    pub fn set<M: PhysMem>(&self, mem: &mut M, ipa: u64, ripas: Ripas) {
        debug_assert!(self.covers(ipa));
        mem.write_u8(self.table_pa + (ipa - self.ram_base) / GRANULE, ripas as u8);
    }

    /// The RIPAS at `base` and where the run of granules with that RIPAS ends, at most
    /// `end` (RSI_IPA_STATE_GET); `base < end`.
    pub fn run<M: PhysMem>(&self, mem: &M, base: u64, end: u64) -> (u64, Ripas) {
        let ripas = self.get(mem, base);
        let ram_end = self.ram_base + self.ram_size;
        if !self.covers(base) {
            // An untracked stretch: EMPTY up to the RAM (if it lies ahead) or to `end`.
            let top = if base < self.ram_base { self.ram_base.min(end) } else { end };
            return (top, ripas);
        }
        let mut top = base + GRANULE;
        while top < end && top < ram_end && self.get(mem, top) == ripas {
            top += GRANULE;
        }
        (top.min(end), ripas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::VecMem;

    fn table() -> (RipasTable, VecMem) {
        let t = RipasTable { table_pa: 0x1000, ram_base: 0x8000_0000, ram_size: 64 * GRANULE };
        let mut mem = VecMem::new();
        t.init(&mut mem);
        (t, mem)
    }

    #[test]
    fn runs() {
        let (t, mut mem) = table();
        for g in 8..12 {
            t.set(&mut mem, 0x8000_0000 + g * GRANULE, Ripas::Empty);
        }
        assert_eq!(t.run(&mem, 0x8000_0000, 0x8010_0000), (0x8000_8000, Ripas::Ram));
        assert_eq!(t.run(&mem, 0x8000_8000, 0x8010_0000), (0x8000_c000, Ripas::Empty));
        assert_eq!(t.run(&mem, 0x8000_9000, 0x8000_a000), (0x8000_a000, Ripas::Empty));
        assert_eq!(t.run(&mem, 0x8000_c000, 0x8010_0000), (0x8004_0000, Ripas::Ram));
        // MMIO below RAM and the space above it are EMPTY.
        assert_eq!(t.run(&mem, 0x0900_0000, 0x0900_1000), (0x0900_1000, Ripas::Empty));
        assert_eq!(t.run(&mem, 0x7000_0000, 0x9000_0000), (0x8000_0000, Ripas::Empty));
        assert_eq!(t.run(&mem, 0x8004_0000, 0x9000_0000), (0x9000_0000, Ripas::Empty));
    }
}
