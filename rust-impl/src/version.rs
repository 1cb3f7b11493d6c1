//! Where the linear-map code of the kernel versions the model knows differs. The model
//! mirrors 7.3; [`Rules::V7_2`] puts back what 7.2 did, each difference named after the
//! change that made it (docs/versions.md has file:line in both versions). Everything
//! not listed here is the same in both, or needs no rule: 7.2's swiotlb and atomic DMA
//! pools call `set_memory_decrypted()` outside realms too, which returns 0 there in both
//! versions (arch/arm64/mm/mem_encrypt.c:43-50), as the model's does.

/// The rules of one kernel version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rules {
    V7_2,
    #[default]
    V7_3,
}

impl Rules {
    /// The rules for Linux `major.minor`, and whether they are only the nearest the
    /// model has (an older version runs with 7.2's, a newer one with 7.3's).
    pub fn for_version(major: u32, minor: u32) -> (Rules, bool) {
        match (major, minor) {
            (7, 2) => (Rules::V7_2, false),
            (7, 3) => (Rules::V7_3, false),
            v if v < (7, 2) => (Rules::V7_2, true),
            _ => (Rules::V7_3, true),
        }
    }

    /// `"7.2"` or `"7.3"`.
    pub const fn name(self) -> &'static str {
        match self {
            Rules::V7_2 => "7.2",
            Rules::V7_3 => "7.3",
        }
    }

    /// 7.3's `cpu_supports_bbml3()` (arch/arm64/kernel/cpufeature.c:2161-2189) takes
    /// BBM level 3 from ID_AA64MMFR2_EL1 and has a fifteen-CPU allow-list; 7.2's
    /// `cpu_supports_bbml2_noabort()` (cpufeature.c:2159-2193) ignores the register and
    /// knows the first six of those CPUs only.
    pub const fn bbml_from_mmfr2(self) -> bool {
        matches!(self, Rules::V7_3)
    }

    /// "arm64: mm: Unmap kernel data/bss entirely from the linear map": 7.3's
    /// `mark_rodata_ro()` makes the data/bss alias present-invalid
    /// (`mark_linear_data_alias_valid(false)`, mmu.c:1271-1272); 7.2's maps it read-only
    /// (`update_mapping_prot(…, PAGE_KERNEL_RO)`, mmu.c:1218-1222).
    pub const fn data_alias_unmapped(self) -> bool {
        matches!(self, Rules::V7_3)
    }

    /// 7ace06a01efa: `map_mem()` rounds each bank inward (7.3 mmu.c:1229-1251); 7.2
    /// maps each as `for_each_mem_range()` gives it (mmu.c:1190-1198), and the mapping
    /// calls round outward.
    pub const fn banks_rounded_inward(self) -> bool {
        matches!(self, Rules::V7_3)
    }

    /// 7.3's `arch_mm_preinit()` shrinks the swiotlb default pool to 1 MiB per GiB when
    /// all memory is below `arm64_dma_phys_limit`, in a realm too (arch/arm64/mm/init.c:
    /// 339-354); 7.2's forces bouncing in a realm and keeps the full size
    /// (init.c:336-357 in 7.2, `swiotlb = true; flags |= SWIOTLB_FORCE`).
    pub const fn swiotlb_shrinks_in_realms(self) -> bool {
        matches!(self, Rules::V7_3)
    }
}

#[cfg(test)]
mod tests {
    use super::Rules;

    #[test]
    fn nearest_rules() {
        assert_eq!(Rules::for_version(7, 3), (Rules::V7_3, false));
        assert_eq!(Rules::for_version(7, 2), (Rules::V7_2, false));
        assert_eq!(Rules::for_version(6, 12), (Rules::V7_2, true));
        assert_eq!(Rules::for_version(7, 4), (Rules::V7_3, true));
        assert_eq!(Rules::for_version(8, 0), (Rules::V7_3, true));
    }
}
