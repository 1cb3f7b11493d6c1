//! Translation granules and levels: page size, bits per level, block and contiguous
//! sizes, as `arch/arm64/include/asm/pgtable-hwdef.h` (7.3) derives them.

use core::fmt;

/// Translation granule (`CONFIG_ARM64_{4K,16K,64K}_PAGES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Granule {
    G4K,
    G16K,
    G64K,
}

/// Page-table level, named as Linux names them (`PGD` is the root whatever its depth).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Pgd,
    P4d,
    Pud,
    Pmd,
    Pte,
}

impl Level {
    pub const fn name(self) -> &'static str {
        match self {
            Level::Pgd => "PGD",
            Level::P4d => "P4D",
            Level::Pud => "PUD",
            Level::Pmd => "PMD",
            Level::Pte => "PTE",
        }
    }

    /// The architectural lookup level: PTE is 3, PMD 2, PUD 1, P4D 0, PGD -1..0 (the
    /// root; with 4 levels PGD and P4D share level 0 as P4D is folded).
    pub const fn arch_level(self) -> i8 {
        match self {
            Level::Pgd => -1,
            Level::P4d => 0,
            Level::Pud => 1,
            Level::Pmd => 2,
            Level::Pte => 3,
        }
    }
}

impl Level {
    /// The name Linux gives a leaf at architectural level `arch_level` (-1..=3) in a walk
    /// of `levels` levels: ptdump reports a leaf from the `p?d_entry` callback of the
    /// level it is found at (mm/ptdump.c:76-129, 7.3), the folded levels above walked
    /// through, and arm64's `note_page()` renames a P4D or PUD leaf PGD when that level
    /// is folded (arch/arm64/mm/ptdump.c:199-202) but never a PMD. So a block in a
    /// 2-level root is a PMD, one in a 3-level 4K root a PGD. (An empty root entry is a
    /// PGD hole: `real_depth()`, mm/pagewalk.c:18-27; see [`Granule::linux_level`].)
    pub const fn of_leaf(arch_level: i32, levels: u32) -> Level {
        match arch_level {
            3 => Level::Pte,
            2 => Level::Pmd,
            1 if levels >= 4 => Level::Pud,
            0 if levels >= 5 => Level::P4d,
            _ => Level::Pgd,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Granule {
    /// `PAGE_SHIFT`.
    pub const fn page_shift(self) -> u32 {
        match self {
            Granule::G4K => 12,
            Granule::G16K => 14,
            Granule::G64K => 16,
        }
    }

    pub const fn page_size(self) -> u64 {
        1 << self.page_shift()
    }

    /// Index bits resolved by one level (`PAGE_SHIFT - 3`).
    pub const fn bits_per_level(self) -> u32 {
        self.page_shift() - 3
    }

    /// Entries per table.
    pub const fn entries(self) -> u64 {
        1 << self.bits_per_level()
    }

    /// `ARM64_HW_PGTABLE_LEVEL_SHIFT(n)`: the VA shift of architectural level `n`
    /// (-1..=3; level -1 exists only with 4K pages and 52-bit VAs).
    pub const fn level_shift(self, arch_level: i32) -> u32 {
        (self.page_shift() - 3) * (4 - arch_level) as u32 + 3
    }

    /// Number of translation levels for `va_bits` (`CONFIG_PGTABLE_LEVELS`, or the
    /// levels left at boot when the kernel drops to `vabits_actual`): 2 to 5.
    pub const fn levels(self, va_bits: u32) -> u32 {
        let per = self.bits_per_level();
        (va_bits - self.page_shift()).div_ceil(per)
    }

    /// First architectural level of the walk for `va_bits` (-1 with 5 levels).
    pub const fn start_level(self, va_bits: u32) -> i32 {
        4 - self.levels(va_bits) as i32
    }

    /// The Linux name of architectural level `arch_level` in a walk with `levels` levels:
    /// the root is `PGD`; folded levels disappear (3 levels: PGD, PMD, PTE; 2 levels:
    /// PGD, PTE; 5 levels: PGD, P4D, PUD, PMD, PTE).
    pub const fn linux_level(self, arch_level: i32, levels: u32) -> Level {
        let start = 4 - levels as i32;
        if arch_level == start {
            return Level::Pgd;
        }
        match arch_level {
            3 => Level::Pte,
            2 => Level::Pmd,
            1 => Level::Pud,
            _ => Level::P4d,
        }
    }

    /// `VA_BITS_MIN` for a kernel built with `VA_BITS` = `va_bits`: what a 52-bit
    /// kernel drops to on a CPU without LPA2 (4K, 16K) or FEAT_LVA (64K), and where
    /// `PAGE_END` is.
    pub const fn va_bits_min(self, va_bits: u32) -> u32 {
        match (va_bits > 48, self) {
            (true, Granule::G16K) => 47,
            (true, _) => 48,
            (false, _) => va_bits,
        }
    }

    /// `lpa2_is_enabled()` for a kernel running with `va_bits`: 52-bit VAs with 4K or 16K
    /// pages (TCR_EL1.DS).
    pub const fn lpa2(self, va_bits: u32) -> bool {
        va_bits == 52 && !matches!(self, Granule::G64K)
    }

    /// Whether a kernel built with `VA_BITS` = `kernel_va_bits` can run with `va_bits`:
    /// the same, or `VA_BITS_MIN` for a 52-bit kernel on a CPU without LPA2 or LVA.
    pub const fn runs_with(self, kernel_va_bits: u32, va_bits: u32) -> bool {
        va_bits == kernel_va_bits || (kernel_va_bits == 52 && va_bits == self.va_bits_min(52))
    }

    /// Size mapped by one entry at architectural level `arch_level`.
    pub const fn entry_size(self, arch_level: i32) -> u64 {
        1 << self.level_shift(arch_level)
    }

    /// Whether architectural level `arch_level` may hold a block as Linux maps: level 1
    /// only with 4K pages (`pud_sect_supported()`), level 2 always, level 3 holds pages.
    /// (LPA2 also allows level-0 blocks with 4K and level-1 blocks with 16K pages; Linux
    /// 7.3 makes neither.)
    pub const fn block_allowed(self, arch_level: i32) -> bool {
        match arch_level {
            1 => matches!(self, Granule::G4K),
            2 => true,
            _ => false,
        }
    }

    /// Entries in a contiguous group at `arch_level` (`CONT_PTES` / `CONT_PMDS`).
    pub const fn cont_entries(self, arch_level: i32) -> u64 {
        match (self, arch_level) {
            (Granule::G4K, 2 | 3) => 16,
            (Granule::G16K, 2) => 32,
            (Granule::G16K, 3) => 128,
            (Granule::G64K, 2 | 3) => 32,
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_k_48_bit() {
        let g = Granule::G4K;
        assert_eq!(g.levels(48), 4);
        assert_eq!(g.start_level(48), 0);
        assert_eq!(g.entry_size(1), 1 << 30);
        assert_eq!(g.entry_size(2), 2 << 20);
        assert_eq!(g.cont_entries(2) * g.entry_size(2), 32 << 20);
        assert_eq!(g.cont_entries(3) * g.entry_size(3), 64 << 10);
        assert_eq!(g.linux_level(0, 4), Level::Pgd);
        assert_eq!(g.linux_level(1, 4), Level::Pud);
        assert!(g.block_allowed(1));
    }

    #[test]
    fn other_granules() {
        // 16K: CONT_PTE 2M, CONT_PMD 1G; 64K: CONT_PTE 2M, CONT_PMD 16G; no PUD blocks.
        let g = Granule::G16K;
        assert_eq!(g.levels(48), 4);
        assert_eq!(g.cont_entries(3) * g.entry_size(3), 2 << 20);
        assert_eq!(g.cont_entries(2) * g.entry_size(2), 1 << 30);
        assert!(!g.block_allowed(1));
        let g = Granule::G64K;
        assert_eq!(g.levels(48), 3);
        assert_eq!(g.linux_level(1, 3), Level::Pgd);
        assert_eq!(g.entry_size(2), 512 << 20);
        assert_eq!(g.cont_entries(3) * g.entry_size(3), 2 << 20);
        assert_eq!(g.cont_entries(2) * g.entry_size(2), 16 << 30);
    }
}
