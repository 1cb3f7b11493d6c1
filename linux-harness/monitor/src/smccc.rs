//! SMC Calling Convention, PSCI and RSI function numbers and return values the monitor
//! deals in (Arm DEN 0028 SMCCC, DEN 0022 PSCI, DEN 0137 RMM: the RSI), and which
//! service a function id belongs to.

/// `SMCCC_RET_NOT_SUPPORTED` (-1): what an unimplemented function returns.
pub const NOT_SUPPORTED: u64 = -1i64 as u64;

pub const SMCCC_VERSION: u32 = 0x8000_0000;
pub const SMCCC_ARCH_FEATURES: u32 = 0x8000_0001;
/// SMCCC v1.2: what the RSI needs (x0-x17 arguments and results).
pub const SMCCC_VERSION_1_2: u64 = 0x1_0002;

pub const PSCI_VERSION: u32 = 0x8400_0000;
pub const PSCI_CPU_SUSPEND: u32 = 0x8400_0001;
pub const PSCI_CPU_OFF: u32 = 0x8400_0002;
pub const PSCI_CPU_ON: u32 = 0x8400_0003;
pub const PSCI_CPU_ON_64: u32 = 0xc400_0003;
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;
pub const PSCI_FEATURES: u32 = 0x8400_000a;

pub const RSI_VERSION: u32 = 0xc400_0190;
pub const RSI_FEATURES: u32 = 0xc400_0191;
pub const RSI_MEASUREMENT_READ: u32 = 0xc400_0192;
pub const RSI_MEASUREMENT_EXTEND: u32 = 0xc400_0193;
pub const RSI_ATTESTATION_TOKEN_INIT: u32 = 0xc400_0194;
pub const RSI_ATTESTATION_TOKEN_CONTINUE: u32 = 0xc400_0195;
pub const RSI_REALM_CONFIG: u32 = 0xc400_0196;
pub const RSI_IPA_STATE_SET: u32 = 0xc400_0197;
pub const RSI_IPA_STATE_GET: u32 = 0xc400_0198;
pub const RSI_HOST_CALL: u32 = 0xc400_0199;

/// RSI status codes.
pub const RSI_SUCCESS: u64 = 0;
pub const RSI_ERROR_INPUT: u64 = 1;
pub const RSI_ERROR_STATE: u64 = 2;
pub const RSI_INCOMPLETE: u64 = 3;

/// RSI_IPA_STATE_SET responses and flags.
pub const RSI_ACCEPT: u64 = 0;
pub const RSI_REJECT: u64 = 1;
pub const RSI_CHANGE_DESTROYED: u64 = 1;

/// RSI ABI revision 1.0, the one Linux 7.3 asks for.
pub const RSI_ABI_1_0: u64 = 0x1_0000;

/// Which service an SMC is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// SMCCC's own functions (version, arch features, workarounds).
    Arch,
    /// PSCI, 32- or 64-bit.
    Psci,
    /// The Realm Services Interface (standard service, 0x190-0x1af).
    Rsi,
    Other,
}

pub fn service(fid: u32) -> Service {
    match fid {
        0x8000_0000..=0x8000_ffff => Service::Arch,
        0x8400_0000..=0x8400_001f | 0xc400_0000..=0xc400_001f => Service::Psci,
        0xc400_0190..=0xc400_01af => Service::Rsi,
        _ => Service::Other,
    }
}

/// A short name for a function id, for logs.
pub fn name(fid: u32) -> &'static str {
    match fid {
        SMCCC_VERSION => "SMCCC_VERSION",
        SMCCC_ARCH_FEATURES => "SMCCC_ARCH_FEATURES",
        PSCI_VERSION => "PSCI_VERSION",
        PSCI_CPU_SUSPEND | 0xc400_0001 => "PSCI_CPU_SUSPEND",
        PSCI_CPU_OFF => "PSCI_CPU_OFF",
        PSCI_CPU_ON | PSCI_CPU_ON_64 => "PSCI_CPU_ON",
        0x8400_0004 | 0xc400_0004 => "PSCI_AFFINITY_INFO",
        0x8400_0006 => "PSCI_MIGRATE_INFO_TYPE",
        PSCI_SYSTEM_OFF => "PSCI_SYSTEM_OFF",
        PSCI_SYSTEM_RESET => "PSCI_SYSTEM_RESET",
        PSCI_FEATURES => "PSCI_FEATURES",
        RSI_VERSION => "RSI_VERSION",
        RSI_FEATURES => "RSI_FEATURES",
        RSI_MEASUREMENT_READ => "RSI_MEASUREMENT_READ",
        RSI_MEASUREMENT_EXTEND => "RSI_MEASUREMENT_EXTEND",
        RSI_ATTESTATION_TOKEN_INIT => "RSI_ATTESTATION_TOKEN_INIT",
        RSI_ATTESTATION_TOKEN_CONTINUE => "RSI_ATTESTATION_TOKEN_CONTINUE",
        RSI_REALM_CONFIG => "RSI_REALM_CONFIG",
        RSI_IPA_STATE_SET => "RSI_IPA_STATE_SET",
        RSI_IPA_STATE_GET => "RSI_IPA_STATE_GET",
        RSI_HOST_CALL => "RSI_HOST_CALL",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services() {
        assert_eq!(service(PSCI_CPU_ON_64), Service::Psci);
        assert_eq!(service(PSCI_SYSTEM_OFF), Service::Psci);
        assert_eq!(service(RSI_IPA_STATE_SET), Service::Rsi);
        assert_eq!(service(0xc400_01b0), Service::Other);
        assert_eq!(service(SMCCC_VERSION), Service::Arch);
        assert_eq!(service(0x8600_ff01), Service::Other);
        assert_eq!(name(RSI_REALM_CONFIG), "RSI_REALM_CONFIG");
    }
}
