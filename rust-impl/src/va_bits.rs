//! The VA size a kernel runs with (`vabits_actual`): the choice `early_map_kernel()`
//! makes before the MMU is on, from `VA_BITS` and what the boot CPU offers.

use crate::granule::Granule;

/// What the boot CPU offers for 52-bit VAs, after the command line's overrides
/// (`arm64.nolva` clears FEAT_LVA, and, in a kernel built with LPA2, LPA2 too:
/// arch/arm64/kernel/pi/idreg-override.c:73-99 and 263, 7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VaFeatures {
    /// FEAT_LPA2 for the kernel's granule (`cpu_has_lpa2()`: ID_AA64MMFR0_EL1.TGran4 or
    /// TGran16 says 52-bit).
    pub lpa2: bool,
    /// FEAT_LVA (`cpu_has_lva()`: ID_AA64MMFR2_EL1.VARange), what 64K pages need.
    pub lva: bool,
}

/// Mirrors the VA-size choice in `early_map_kernel()` in
/// arch/arm64/kernel/pi/map_kernel.c:258-262 (7.3): a 52-bit kernel drops to
/// `VA_BITS_MIN` with 64K pages on a CPU without FEAT_LVA, and with LPA2
/// (`CONFIG_ARM64_LPA2`: 4K and 16K pages with 52-bit PAs, which 52-bit VAs select) on
/// one without LPA2; any other kernel runs with `VA_BITS`.
pub fn vabits_actual(granule: Granule, va_bits: u32, cpu: VaFeatures) -> u32 {
    let min = granule.va_bits_min(va_bits);
    let drops = match granule {
        Granule::G64K => !cpu.lva,
        // CONFIG_ARM64_LPA2 is built whenever VA_BITS is 52 with these granules.
        Granule::G4K | Granule::G16K => va_bits == 52 && !cpu.lpa2,
    };
    if drops {
        min
    } else {
        va_bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_52_bit_kernel_drops_without_the_feature_its_granule_needs() {
        let all = VaFeatures { lpa2: true, lva: true };
        let no_lpa2 = VaFeatures { lpa2: false, lva: true };
        let no_lva = VaFeatures { lpa2: true, lva: false };
        assert_eq!(vabits_actual(Granule::G4K, 52, all), 52);
        assert_eq!(vabits_actual(Granule::G4K, 52, no_lpa2), 48);
        assert_eq!(vabits_actual(Granule::G4K, 52, no_lva), 52);
        assert_eq!(vabits_actual(Granule::G16K, 52, no_lpa2), 47);
        assert_eq!(vabits_actual(Granule::G64K, 52, no_lpa2), 52);
        assert_eq!(vabits_actual(Granule::G64K, 52, no_lva), 48);
        // VA_BITS_MIN is VA_BITS for anything smaller.
        assert_eq!(vabits_actual(Granule::G4K, 48, no_lpa2), 48);
        assert_eq!(vabits_actual(Granule::G64K, 42, no_lva), 42);
    }
}
