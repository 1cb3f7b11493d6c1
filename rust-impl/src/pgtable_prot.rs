//! Kernel page protections (`pgprot_t` values) as `asm/pgtable-prot.h` (7.3) builds them,
//! for a kernel without LPA2 and with `arm64_use_ng_mappings == false` (no KPTI), so
//! `PTE_MAYBE_NG` is 0 and `PTE_MAYBE_SHARED` is `PTE_SHARED`.

use crate::descriptor::*;

/// `MT_NORMAL`: MAIR index of Normal write-back memory.
pub const MT_NORMAL: u64 = 0;
/// `MT_NORMAL_TAGGED`: Normal, tagged when MTE is on.
pub const MT_NORMAL_TAGGED: u64 = 1;
/// `MT_NORMAL_NC`: Normal non-cacheable.
pub const MT_NORMAL_NC: u64 = 2;
/// `MT_DEVICE_nGnRnE`.
#[allow(non_upper_case_globals)]
pub const MT_DEVICE_nGnRnE: u64 = 3;
/// `MT_DEVICE_nGnRE`.
#[allow(non_upper_case_globals)]
pub const MT_DEVICE_nGnRE: u64 = 4;

/// `PTE_ATTRINDX(mt)`: the MAIR index in AttrIndx, bits 4:2.
#[allow(non_snake_case)]
pub const fn PTE_ATTRINDX(mt: u64) -> u64 {
    mt << 2
}

/// `PTE_MAYBE_NG` with `arm64_use_ng_mappings == false`.
pub const PTE_MAYBE_NG: u64 = 0;
/// `PTE_MAYBE_NG` for a given `arm64_use_ng_mappings`.
pub const fn pte_maybe_ng(arm64_use_ng_mappings: bool) -> u64 {
    if arm64_use_ng_mappings {
        PTE_NG
    } else {
        0
    }
}
/// `PTE_MAYBE_SHARED` without LPA2.
pub const PTE_MAYBE_SHARED: u64 = PTE_SHARED;

/// `PTE_PRESENT_VALID_KERNEL`: what "make valid" sets.
pub const PTE_PRESENT_VALID_KERNEL: u64 = PTE_VALID | PTE_MAYBE_NG;

/// `PROT_DEFAULT`.
pub const PROT_DEFAULT: u64 = PTE_TYPE_PAGE | PTE_MAYBE_NG | PTE_MAYBE_SHARED | PTE_AF;
/// `PROT_NORMAL`.
pub const PROT_NORMAL: u64 = PROT_DEFAULT | PTE_PXN | PTE_UXN | PTE_WRITE | PTE_ATTRINDX(MT_NORMAL);
/// `PROT_NORMAL_TAGGED`.
pub const PROT_NORMAL_TAGGED: u64 = PROT_DEFAULT | PTE_PXN | PTE_UXN | PTE_WRITE | PTE_ATTRINDX(MT_NORMAL_TAGGED);
/// `PROT_NORMAL_NC`.
pub const PROT_NORMAL_NC: u64 = PROT_DEFAULT | PTE_PXN | PTE_UXN | PTE_WRITE | PTE_ATTRINDX(MT_NORMAL_NC);
/// `PROT_DEVICE_nGnRE`.
#[allow(non_upper_case_globals)]
pub const PROT_DEVICE_nGnRE: u64 = PROT_DEFAULT | PTE_PXN | PTE_UXN | PTE_WRITE | PTE_ATTRINDX(MT_DEVICE_nGnRE);

/// `PAGE_KERNEL` (`_PAGE_KERNEL`): `PROT_NORMAL | PTE_DIRTY`.
pub const PAGE_KERNEL: u64 = PROT_NORMAL | PTE_DIRTY;
/// `PAGE_KERNEL_RO`: `(PROT_NORMAL & ~PTE_WRITE) | PTE_RDONLY | PTE_DIRTY`.
pub const PAGE_KERNEL_RO: u64 = (PROT_NORMAL & !PTE_WRITE) | PTE_RDONLY | PTE_DIRTY;
/// `PAGE_KERNEL_ROX`.
pub const PAGE_KERNEL_ROX: u64 = (PROT_NORMAL & !(PTE_WRITE | PTE_PXN)) | PTE_RDONLY | PTE_DIRTY;
/// `PAGE_KERNEL_EXEC`.
pub const PAGE_KERNEL_EXEC: u64 = (PROT_NORMAL & !PTE_PXN) | PTE_DIRTY;

/// `pgprot_tagged(prot)` (`asm/pgtable.h`): AttrIndx replaced by `MT_NORMAL_TAGGED`.
pub const fn pgprot_tagged(prot: u64) -> u64 {
    (prot & !PTE_ATTRINDX_MASK) | PTE_ATTRINDX(MT_NORMAL_TAGGED)
}

/// `pgprot_tagged(PAGE_KERNEL)`: the prot `map_mem` maps the linear map with.
pub const PAGE_KERNEL_TAGGED: u64 = pgprot_tagged(PAGE_KERNEL);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        // RW NX UXN SHD AF DBM MEM/NORMAL-TAGGED, bit 55 (PTE_DIRTY), type page.
        assert_eq!(PAGE_KERNEL_TAGGED, 0x00e8_0000_0000_0707);
        assert_eq!(PAGE_KERNEL, 0x00e8_0000_0000_0703);
        // ro NX UXN SHD AF MEM/NORMAL, bit 55, no DBM.
        assert_eq!(PAGE_KERNEL_RO, 0x00e0_0000_0000_0783);
        assert_eq!(PAGE_KERNEL_RO & PTE_WRITE, 0);
        assert_eq!(PAGE_KERNEL_ROX & PTE_PXN, 0);
        assert_eq!(pte_maybe_ng(true), PTE_NG);
    }
}
