//! Where the linear-map code of the kernel versions the model knows differs. The model
//! mirrors 7.3; [`Rules::V7_2`] and [`Rules::V6_12`] put back what 7.2 and 6.12 did, each
//! difference named after the change that made it (docs/versions.md and
//! docs/versions-6.12.md have file:line in each version). Everything not listed here is
//! the same, or needs no rule: 7.2's and 6.12's swiotlb and atomic DMA pools call
//! `set_memory_decrypted()` outside realms too, which returns 0 there
//! (arch/arm64/mm/mem_encrypt.c:43-50), as the model's does.

/// The rules of one kernel version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rules {
    V6_12,
    V7_2,
    #[default]
    V7_3,
}

impl Rules {
    /// Every version the model has rules for, oldest first.
    pub const ALL: [Rules; 3] = [Rules::V6_12, Rules::V7_2, Rules::V7_3];

    /// The rules for Linux `major.minor`, and whether they are only the nearest the
    /// model has: a version before 6.18 (which brought block mappings under
    /// `rodata=full`, a166563e7ec3) runs with 6.12's, 6.18 to 7.1 with 7.2's, a newer
    /// one with 7.3's. Each rule changed upstream at its own release (the map_mem
    /// order, present-invalid and the `rodata=` words at releases not all identified),
    /// so a version in between gets some rules wrong: that is what "nearest" says.
    pub fn for_version(major: u32, minor: u32) -> (Rules, bool) {
        match (major, minor) {
            (6, 12) => (Rules::V6_12, false),
            (7, 2) => (Rules::V7_2, false),
            (7, 3) => (Rules::V7_3, false),
            v if v < (6, 18) => (Rules::V6_12, true),
            v if v < (7, 2) => (Rules::V7_2, true),
            _ => (Rules::V7_3, true),
        }
    }

    /// `"6.12"`, `"7.2"` or `"7.3"`.
    pub const fn name(self) -> &'static str {
        match self {
            Rules::V6_12 => "6.12",
            Rules::V7_2 => "7.2",
            Rules::V7_3 => "7.3",
        }
    }

    /// a166563e7ec3 "arm64: mm: support large block mapping when rodata=full" (6.18)
    /// brought BBML2_NOABORT (later BBML3), the split gate and the repaint; 6.12 has no
    /// such CPU feature (arch/arm64/tools/cpucaps), so no CPU keeps blocks and
    /// `map_mem()` forces PTEs exactly when `can_set_direct_map()` (6.12
    /// arch/arm64/mm/mmu.c:648-649).
    pub const fn has_bbml(self) -> bool {
        !matches!(self, Rules::V6_12)
    }

    /// 6.12's `arch_parse_debug_rodata()` (arch/arm64/include/asm/setup.h:16-42 in 6.12):
    /// `full` is full and `on` is not; `noalias` is rejected; the default `rodata_full`
    /// is `CONFIG_RODATA_FULL_DEFAULT_ENABLED` (pageattr.c:21). Since "arm64: refactor
    /// the rodata=xxx", `on` is full, `noalias` is not, `full` is rejected and
    /// `rodata_full` is true by default.
    pub const fn rodata_on_is_full(self) -> bool {
        !matches!(self, Rules::V6_12)
    }

    /// 6.12's `map_mem()` (arch/arm64/mm/mmu.c:623-700 in 6.12) marks the linear alias
    /// of `[_text, __init_begin)` and the early KFENCE pool NOMAP, maps the banks
    /// around them, then the text alias with `PAGE_KERNEL` and `NO_CONT_MAPPINGS`
    /// only (blocks allowed whatever `can_set_direct_map()` says) and last the pool;
    /// the data/bss alias is part of a bank. Since "arm64: mm: Don't abuse memblock
    /// NOMAP to check for overlaps" the pool, the text and the data/bss aliases are
    /// mapped first, with the banks' flags.
    pub const fn text_alias_mapped_after_banks(self) -> bool {
        matches!(self, Rules::V6_12)
    }

    /// What `update_mapping_prot()` passes down: `NO_CONT_MAPPINGS` in 6.12
    /// (mmu.c:545-546 in 6.12), nothing in 7.2 and 7.3.
    pub const fn update_mapping_prot_no_cont(self) -> bool {
        matches!(self, Rules::V6_12)
    }

    /// Whether `mark_rodata_ro()` touches the linear map at all: 6.12's changes the
    /// kernel image mapping only (mmu.c:702-718 in 6.12); 7.2 and 7.3 change the
    /// data/bss alias (see [`Rules::data_alias_unmapped`]).
    pub const fn mark_rodata_ro_changes_data_alias(self) -> bool {
        !matches!(self, Rules::V6_12)
    }

    /// 6.12's `set_memory_valid()` sets or clears `PTE_VALID` alone (pageattr.c:153-163
    /// in 6.12), through `apply_to_page_range()`; since 15bfba1ad77f and the kernel
    /// present-invalid encoding an invalid kernel entry keeps `PTE_PRESENT_INVALID`
    /// (bit 11) set (7.3 pageattr.c:242-252).
    pub const fn present_invalid(self) -> bool {
        !matches!(self, Rules::V6_12)
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
    /// 6.12.118 has it as a stable backport (6.12 mmu.c:663-676).
    pub const fn banks_rounded_inward(self) -> bool {
        !matches!(self, Rules::V7_2)
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
        assert_eq!(Rules::for_version(6, 12), (Rules::V6_12, false));
        assert_eq!(Rules::for_version(6, 1), (Rules::V6_12, true));
        assert_eq!(Rules::for_version(6, 17), (Rules::V6_12, true));
        assert_eq!(Rules::for_version(6, 18), (Rules::V7_2, true));
        assert_eq!(Rules::for_version(7, 1), (Rules::V7_2, true));
        assert_eq!(Rules::for_version(7, 4), (Rules::V7_3, true));
        assert_eq!(Rules::for_version(8, 0), (Rules::V7_3, true));
    }
}
