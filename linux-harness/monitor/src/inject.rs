//! The synchronous external abort the monitor injects into EL1 when a realm access
//! faults at stage 2, computed as the architecture takes an exception to EL1: the new
//! ESR_EL1, FAR_EL1, SPSR_EL1 and ELR_EL1, and the PSTATE and vector address to return
//! to from EL2.

/// Registers to set before returning from EL2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Injection {
    pub esr_el1: u64,
    pub far_el1: u64,
    pub spsr_el1: u64,
    pub elr_el1: u64,
    /// Where EL2 returns to: the EL1 vector.
    pub elr_el2: u64,
    /// The PSTATE EL1 starts its handler with.
    pub spsr_el2: u64,
}

/// DFSC/IFSC 0b010000: synchronous external abort, not on a translation table walk.
pub const FSC_SEA: u64 = 0x10;

/// The abort for a fault that trapped to EL2 with `esr_el2` at `elr` (PSTATE `spsr`).
/// `vbar_el1` and `sctlr_el1` are the guest's. An instruction fetch gives an
/// instruction abort, anything else a data abort (WnR kept).
pub fn external_abort(esr_el2: u64, far: u64, elr: u64, spsr: u64, vbar_el1: u64, sctlr_el1: u64, instruction: bool) -> Injection {
    let from_el0 = spsr & 0b1111 == 0;
    let from_el1h = spsr & 0b1111 == 0b0101;
    // Vector offset: current EL with SP_EL0 0x000, with SP_ELx 0x200, lower EL 0x400.
    let vector = if from_el0 {
        0x400
    } else if from_el1h {
        0x200
    } else {
        0x000
    };
    let ec = match (instruction, from_el0) {
        (true, true) => 0x20,
        (true, false) => 0x21,
        (false, true) => 0x24,
        (false, false) => 0x25,
    };
    let wnr = if instruction { 0 } else { esr_el2 & (1 << 6) };
    let esr_el1 = (ec << 26) | (1 << 25) | wnr | FSC_SEA;
    // PSTATE on taking an exception to EL1h: D, A, I, F masked; PAN set unless
    // SCTLR_EL1.SPAN is 1 (then kept); SSBS from SCTLR_EL1.DSSBS; everything else 0.
    let span = sctlr_el1 & (1 << 23) != 0;
    let pan = if span { spsr & (1 << 22) } else { 1 << 22 };
    let ssbs = if sctlr_el1 & (1 << 44) != 0 { 1 << 12 } else { 0 };
    let spsr_el2 = 0x3c5 | pan | ssbs;
    Injection { esr_el1, far_el1: far, spsr_el1: spsr, elr_el1: elr, elr_el2: vbar_el1 + vector, spsr_el2 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_el0_goes_to_the_lower_el_vector() {
        let i = external_abort(0x9200_0007 | (1 << 6), 0x1234, 0x40_0000, 0x0, 0xffff_8000_1001_0000, 1 << 23, false);
        assert_eq!(i.elr_el2, 0xffff_8000_1001_0400);
        assert_eq!(i.esr_el1 >> 26, 0x24);
        assert_eq!(i.esr_el1 & 0x3f, FSC_SEA);
        assert_ne!(i.esr_el1 & (1 << 6), 0, "WnR kept");
        assert_eq!((i.far_el1, i.elr_el1, i.spsr_el1), (0x1234, 0x40_0000, 0));
        assert_eq!(i.spsr_el2 & 0x3ff, 0x3c5);
    }

    #[test]
    fn from_el1h_and_pan() {
        let spsr = 0x6000_03c5 | (1 << 22);
        let i = external_abort(0x8200_0006, 0xffff_0000_1000_0000, 0xffff_8000_1000_1000, spsr, 0xffff_8000_1001_0000, 0, true);
        assert_eq!(i.elr_el2, 0xffff_8000_1001_0200);
        assert_eq!(i.esr_el1 >> 26, 0x21);
        assert_eq!(i.spsr_el2 & (1 << 22), 1 << 22, "SPAN=0 sets PAN");
        let i = external_abort(0x9200_0006, 0, 0, 0x3c5, 0, 1 << 23, false);
        assert_eq!(i.spsr_el2 & (1 << 22), 0, "SPAN=1 keeps PAN (clear)");
    }
}
