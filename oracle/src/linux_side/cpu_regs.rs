//! The translation registers of a stopped vCPU (read through the gdbstub) and what they
//! say about the walk: TTBR1_EL1 (root), TCR_EL1 (VA size from T1SZ, granule from TG1,
//! LPA2 from DS)
//! and MAIR_EL1 (attribute index → memory type).

use crate::error::{Error, Result};
use rust_impl::address::PhysAddr;
use rust_impl::granule::Granule;

/// Raw register values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuRegs {
    pub ttbr1: u64,
    pub tcr: u64,
    pub mair: u64,
}

/// MAIR_EL1 bytes Linux 7.3 programs per index (`MAIR_EL1_SET` in asm/sysreg.h /
/// proc.S): Normal, Normal-Tagged, Normal-NC, Device-nGnRnE, Device-nGnRE. Normal-Tagged
/// reads as Normal (0xff) until MTE is enabled, so index 1 accepts both.
const MAIR_EXPECTED: [(u8, &[u8]); 5] = [(0, &[0xff]), (1, &[0xf0, 0xff]), (2, &[0x44]), (3, &[0x00]), (4, &[0x04])];

impl CpuRegs {
    /// TTBR1_EL1.BADDR for 48-bit PAs (bits 47:1; CnP and ASID removed).
    pub fn ttbr1_baddr(&self) -> PhysAddr {
        PhysAddr(self.ttbr1 & 0x0000_ffff_ffff_fffe)
    }

    /// VA size of the TTBR1 half: 64 − TCR_EL1.T1SZ.
    pub fn va_bits(&self) -> u32 {
        64 - ((self.tcr >> 16) & 0x3f) as u32
    }

    /// TCR_EL1.DS: LPA2 descriptors (52-bit output addresses with 4K and 16K pages).
    pub fn ds(&self) -> bool {
        self.tcr >> 59 & 1 == 1
    }

    /// TCR_EL1.TG1.
    pub fn granule(&self) -> Result<Granule> {
        Ok(match (self.tcr >> 30) & 3 {
            0b10 => Granule::G4K,
            0b01 => Granule::G16K,
            0b11 => Granule::G64K,
            tg1 => return Err(Error::Guest(format!("TCR_EL1 {:#x}: TG1 = {tg1:#b} is reserved", self.tcr))),
        })
    }

    /// Checks MAIR_EL1 holds the attributes the memory-type names assume.
    pub fn check_mair(&self) -> Result<()> {
        for (index, allowed) in MAIR_EXPECTED {
            let byte = (self.mair >> (8 * index)) as u8;
            if !allowed.contains(&byte) {
                return Err(Error::Guest(format!("MAIR_EL1 {:#018x}: attribute {index} is {byte:#04x}, expected one of {allowed:02x?}", self.mair)));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_linux_values() {
        // TCR for 48-bit VA, 4K TG1; MAIR as Linux sets it with MTE.
        let r = CpuRegs { ttbr1: 0x0001_0000_4123_4001, tcr: (16 << 16) | (0b10 << 30), mair: 0x04_00_44_f0_ff };
        assert_eq!(r.ttbr1_baddr(), PhysAddr(0x4123_4000));
        assert_eq!(r.va_bits(), 48);
        assert_eq!(r.granule().unwrap(), Granule::G4K);
        r.check_mair().unwrap();
        let bad = CpuRegs { mair: 0x04_00_ff_f0_ff, ..r };
        assert!(bad.check_mair().unwrap_err().to_string().contains("attribute 2 is 0xff"));
        let reserved = CpuRegs { tcr: 0, ..r };
        assert!(reserved.granule().is_err());
    }
}
