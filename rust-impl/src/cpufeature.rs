//! CPU identity and the BBML3 test: mirrors `cpu_supports_bbml3()` in
//! arch/arm64/kernel/cpufeature.c (7.3; 7.2's `cpu_supports_bbml2_noabort()` through
//! [`Rules`]) and the MIDR helpers of asm/cputype.h.

use crate::version::Rules;

/// MIDR_EL1 fields (asm/cputype.h): implementer 31:24, variant 23:20, architecture
/// 19:16, part number 15:4, revision 3:0.
const MIDR_REVISION_MASK: u32 = 0xf;
const MIDR_VARIANT_MASK: u32 = 0xf << 20;
const MIDR_CPU_MODEL_MASK: u32 = 0xff << 24 | 0xfff << 4 | 0xf << 16;

/// `MIDR_CPU_MODEL(imp, partnum)`.
pub const fn midr_cpu_model(implementer: u32, part: u32) -> u32 {
    implementer << 24 | 0xf << 16 | part << 4
}

/// `MIDR_CPU_VAR_REV(var, rev)`.
const fn var_rev(variant: u32, revision: u32) -> u32 {
    variant << 20 | revision
}

const ARM: u32 = 0x41;
const NVIDIA: u32 = 0x4e;
const AMPERE: u32 = 0xc0;

/// One `struct midr_range`: a model and an inclusive variant/revision range.
struct MidrRange {
    model: u32,
    rv_min: u32,
    rv_max: u32,
}

/// `MIDR_RANGE(m, v_min, r_min, v_max, r_max)`.
const fn range(model: u32, v_min: u32, r_min: u32, v_max: u32, r_max: u32) -> MidrRange {
    MidrRange { model, rv_min: var_rev(v_min, r_min), rv_max: var_rev(v_max, r_max) }
}

/// `MIDR_REV_RANGE(m, v, r_min, r_max)`.
const fn rev_range(model: u32, v: u32, r_min: u32, r_max: u32) -> MidrRange {
    range(model, v, r_min, v, r_max)
}

/// `MIDR_ALL_VERSIONS(m)`.
const fn all_versions(model: u32) -> MidrRange {
    range(model, 0, 0, 0xf, 0xf)
}

/// `supports_bbml3_list` in `cpu_supports_bbml3()`: CPUs that support BBML3 without
/// advertising it in ID_AA64MMFR2_EL1.
const SUPPORTS_BBML3_LIST: &[MidrRange] = &[
    rev_range(midr_cpu_model(ARM, 0xd82), 0, 3, 0xf), // Cortex-X4
    rev_range(midr_cpu_model(ARM, 0xd84), 0, 2, 0xf), // Neoverse-V3
    rev_range(midr_cpu_model(ARM, 0xd83), 0, 2, 0xf), // Neoverse-V3AE
    all_versions(midr_cpu_model(NVIDIA, 0x010)),      // Olympus
    all_versions(midr_cpu_model(AMPERE, 0xac3)),      // Ampere1
    all_versions(midr_cpu_model(AMPERE, 0xac4)),      // Ampere1A
    all_versions(midr_cpu_model(ARM, 0xd88)),         // Cortex-A520AE
    all_versions(midr_cpu_model(ARM, 0xd4d)),         // Cortex-A715
    all_versions(midr_cpu_model(ARM, 0xd89)),         // Cortex-A720AE
    all_versions(midr_cpu_model(ARM, 0xd87)),         // Cortex-A725
    all_versions(midr_cpu_model(ARM, 0xd8e)),         // Neoverse-N3
    all_versions(midr_cpu_model(ARM, 0xd8a)),         // C1-Nano
    all_versions(midr_cpu_model(ARM, 0xd8b)),         // C1-Pro
    range(midr_cpu_model(ARM, 0xd8c), 1, 1, 0xf, 0xf), // C1-Ultra, erratum 3683289 fixed in r1p1
    range(midr_cpu_model(ARM, 0xd90), 1, 1, 0xf, 0xf), // C1-Premium, likewise
];

/// 7.2's `supports_bbml2_noabort_list` is the first entries of 7.3's list.
const BBML2_NOABORT_LIST_LEN: usize = 6;

/// Mirrors `midr_is_cpu_model_range()` in asm/cputype.h (7.3).
fn midr_is_cpu_model_range(midr: u32, r: &MidrRange) -> bool {
    let model = midr & MIDR_CPU_MODEL_MASK;
    let rv = midr & (MIDR_REVISION_MASK | MIDR_VARIANT_MASK);
    model == r.model && rv >= r.rv_min && rv <= r.rv_max
}

/// What a CPU shows the kernel: its MIDR_EL1 and ID_AA64MMFR2_EL1.BBM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuIdentity {
    pub midr: u32,
    /// ID_AA64MMFR2_EL1.BBM (0, 1, 2 or 3).
    pub bbm: u8,
}

/// `ID_AA64MMFR2_EL1_BBM_3`.
pub const BBM_3: u8 = 3;

/// Mirrors `cpu_supports_bbml3()` in arch/arm64/kernel/cpufeature.c (7.3): BBM level 3
/// advertised, or a MIDR on the allow-list.
pub fn cpu_supports_bbml3(cpu: CpuIdentity) -> bool {
    cpu_supports_bbml(cpu, Rules::V7_3)
}

/// The CPU test of `rules`' kernel: 7.3's `cpu_supports_bbml3()`, or 7.2's
/// `cpu_supports_bbml2_noabort()` (cpufeature.c:2159-2193 in 7.2): the MIDR alone, on
/// the first six CPUs of the list (`supports_bbml2_noabort_list`). 6.12 has neither:
/// no CPU keeps blocks.
pub fn cpu_supports_bbml(cpu: CpuIdentity, rules: Rules) -> bool {
    if !rules.has_bbml() {
        return false;
    }
    let list = if rules.bbml_from_mmfr2() { SUPPORTS_BBML3_LIST } else { &SUPPORTS_BBML3_LIST[..BBML2_NOABORT_LIST_LEN] };
    (rules.bbml_from_mmfr2() && cpu.bbm >= BBM_3) || list.iter().any(|r| midr_is_cpu_model_range(cpu.midr, r))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(midr: u32, bbm: u8) -> CpuIdentity {
        CpuIdentity { midr, bbm }
    }

    #[test]
    fn measured_identities() {
        // QEMU facts: -cpu max (0x000f0510, BBM 2) is not BBML3; Neoverse-V3 r0p2 and
        // Ampere1 MIDRs gave "BBM Level 3" with Linux 7.3.
        assert!(!cpu_supports_bbml3(cpu(0x000f_0510, 2)));
        assert!(cpu_supports_bbml3(cpu(0x410f_d842, 2)));
        assert!(cpu_supports_bbml3(cpu(0xc00f_ac30, 2)));
        // Neoverse-N2 and V1 defaults are not on the list.
        assert!(!cpu_supports_bbml3(cpu(0x410f_d493, 2)));
        assert!(!cpu_supports_bbml3(cpu(0x411f_d402, 2)));
    }

    #[test]
    fn revision_ranges() {
        assert!(!cpu_supports_bbml3(cpu(0x410f_d841, 0)), "Neoverse-V3 r0p1 is before the range");
        assert!(cpu_supports_bbml3(cpu(0x410f_d84f, 0)));
        assert!(!cpu_supports_bbml3(cpu(0x411f_d840, 0)), "Neoverse-V3 r1p0 is outside the r0 range");
        assert!(!cpu_supports_bbml3(cpu(0x410f_d8c1, 0)), "C1-Ultra r0p1 has the erratum");
        assert!(cpu_supports_bbml3(cpu(0x411f_d8c1, 0)), "C1-Ultra r1p1 is fixed");
        assert!(cpu_supports_bbml3(cpu(0x0, BBM_3)), "advertised BBM level 3");
    }

    #[test]
    fn seven_two_reads_the_midr_only() {
        assert!(cpu_supports_bbml(cpu(0x410f_d842, 2), Rules::V7_2), "Neoverse-V3 r0p2 is on 7.2's list");
        assert!(cpu_supports_bbml(cpu(0xc00f_ac40, 0), Rules::V7_2), "Ampere1A, the list's sixth");
        assert!(!cpu_supports_bbml(cpu(0x0, BBM_3), Rules::V7_2), "7.2 ignores ID_AA64MMFR2_EL1.BBM");
        assert!(!cpu_supports_bbml(cpu(0x410f_d4d0, 0), Rules::V7_2), "Cortex-A715 came with 7.3");
        assert!(cpu_supports_bbml(cpu(0x410f_d4d0, 0), Rules::V7_3));
    }
}
