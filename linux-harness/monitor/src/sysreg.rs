//! Trapped system-register accesses (ESR_ELx EC 0x18): decoding the syndrome, which
//! accesses are the ID-register reads HCR_EL2.TID3 traps, and the per-CPU identity
//! applied to ID_AA64MMFR2_EL1.

/// ESR_ELx exception classes the monitor handles.
pub const EC_HVC64: u64 = 0x16;
pub const EC_SMC64: u64 = 0x17;
pub const EC_SYSREG: u64 = 0x18;
pub const EC_IABT_LOW: u64 = 0x20;
pub const EC_DABT_LOW: u64 = 0x24;

/// One MSR/MRS access, from the ISS of EC 0x18.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SysregAccess {
    pub op0: u8,
    pub op1: u8,
    pub crn: u8,
    pub crm: u8,
    pub op2: u8,
    /// The general-purpose register (31 = xzr).
    pub rt: u8,
    /// MRS (a read) rather than MSR.
    pub read: bool,
}

impl SysregAccess {
    pub fn decode(esr: u64) -> SysregAccess {
        let iss = esr & 0x1ff_ffff;
        SysregAccess {
            op0: ((iss >> 20) & 3) as u8,
            op2: ((iss >> 17) & 7) as u8,
            op1: ((iss >> 14) & 7) as u8,
            crn: ((iss >> 10) & 0xf) as u8,
            rt: ((iss >> 5) & 0x1f) as u8,
            crm: ((iss >> 1) & 0xf) as u8,
            read: iss & 1 == 1,
        }
    }

    /// In the ID register space TID3 traps: op0 3, op1 0, CRn 0, CRm 1-7.
    pub fn is_id_space(&self) -> bool {
        self.op0 == 3 && self.op1 == 0 && self.crn == 0 && (1..=7).contains(&self.crm)
    }

    pub fn is_id_aa64mmfr2(&self) -> bool {
        self.is_id_space() && self.crm == 7 && self.op2 == 2
    }
}

impl core::fmt::Display for SysregAccess {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let dir = if self.read { "mrs x" } else { "msr x" };
        write!(f, "{dir}{} S{}_{}_C{}_C{}_{}", self.rt, self.op0, self.op1, self.crn, self.crm, self.op2)
    }
}

/// ID_AA64MMFR2_EL1 with its BBM field (bits 55:52) replaced, if `bbm` says so.
pub fn id_aa64mmfr2_with_bbm(real: u64, bbm: Option<u8>) -> u64 {
    match bbm {
        Some(b) => (real & !(0xf << 52)) | ((b as u64 & 0xf) << 52),
        None => real,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_mrs_id_aa64mmfr2() {
        // mrs x3, ID_AA64MMFR2_EL1: op0 3, op1 0, CRn 0, CRm 7, op2 2, Rt 3, read.
        let iss = (3 << 20) | (2 << 17) | (7 << 1) | (3 << 5) | 1;
        let a = SysregAccess::decode((EC_SYSREG << 26) | (1 << 25) | iss);
        assert_eq!(a, SysregAccess { op0: 3, op1: 0, crn: 0, crm: 7, op2: 2, rt: 3, read: true });
        assert!(a.is_id_space() && a.is_id_aa64mmfr2());
        assert_eq!(std::format!("{a}"), "mrs x3 S3_0_C0_C7_2");
        // MIDR_EL1 (CRm 0) is not in the TID3 space.
        assert!(!SysregAccess { crm: 0, ..a }.is_id_space());
    }

    #[test]
    fn bbm_field() {
        let real = 0x0000_1011_1212_0011u64 | (2 << 52);
        assert_eq!(id_aa64mmfr2_with_bbm(real, Some(3)) >> 52 & 0xf, 3);
        assert_eq!(id_aa64mmfr2_with_bbm(real, Some(3)) & !(0xf << 52), real & !(0xf << 52));
        assert_eq!(id_aa64mmfr2_with_bbm(real, None), real);
    }
}
