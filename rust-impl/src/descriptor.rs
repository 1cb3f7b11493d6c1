//! Stage-1 descriptor bits with the kernel's names (`asm/pgtable-hwdef.h`,
//! `asm/pgtable-prot.h`, 7.3), for 48-bit output addresses without LPA2.

/// Valid bit (Arm: descriptor bit 0).
pub const PTE_VALID: u64 = 1 << 0;
/// Table (levels 0-2) or page (level 3) when set; block when clear (Arm: bit 1).
pub const PTE_TYPE_BIT: u64 = 1 << 1;
/// `PMD_TYPE_MASK`: bits[1:0].
pub const PMD_TYPE_MASK: u64 = 3;
/// `PMD_TYPE_SECT`: a block.
pub const PMD_TYPE_SECT: u64 = 1;
/// `PMD_TYPE_TABLE`, `PTE_TYPE_PAGE`.
pub const PMD_TYPE_TABLE: u64 = 3;
/// `PTE_ATTRINDX_MASK`: MAIR index (Arm: AttrIndx[2:0], bits 4:2).
pub const PTE_ATTRINDX_MASK: u64 = 7 << 2;
/// `PTE_USER`: EL0 access (Arm: AP[1], bit 6).
pub const PTE_USER: u64 = 1 << 6;
/// `PTE_RDONLY`: read-only (Arm: AP[2], bit 7).
pub const PTE_RDONLY: u64 = 1 << 7;
/// `PTE_SHARED`: inner shareable (Arm: SH[1:0] = 0b11, bits 9:8).
pub const PTE_SHARED: u64 = 3 << 8;
/// `PTE_AF`: access flag (Arm: AF, bit 10).
pub const PTE_AF: u64 = 1 << 10;
/// `PTE_NG`: not global (Arm: nG, bit 11).
pub const PTE_NG: u64 = 1 << 11;
/// `PTE_PRESENT_INVALID`: with `PTE_VALID` clear, the entry is present but invalid
/// (Linux reuses nG, bit 11, which the hardware ignores in an invalid entry).
pub const PTE_PRESENT_INVALID: u64 = PTE_NG;
/// `PTE_GP`: BTI guarded page (Arm: GP, bit 50).
pub const PTE_GP: u64 = 1 << 50;
/// `PTE_DBM` / `PTE_WRITE`: dirty bit modifier (Arm: DBM, bit 51).
pub const PTE_WRITE: u64 = 1 << 51;
/// `PTE_CONT`: contiguous hint (Arm: Contiguous, bit 52).
pub const PTE_CONT: u64 = 1 << 52;
/// `PTE_PXN`: privileged execute-never (Arm: PXN, bit 53).
pub const PTE_PXN: u64 = 1 << 53;
/// `PMD_SECT_PXN`: privileged execute-never in a block descriptor (Arm: PXN, bit 53).
pub const PMD_SECT_PXN: u64 = PTE_PXN;
/// `PTE_UXN`: unprivileged execute-never (Arm: UXN/XN, bit 54).
pub const PTE_UXN: u64 = 1 << 54;
/// `PTE_DIRTY`: software dirty bit (bit 55; set in `PAGE_KERNEL`).
pub const PTE_DIRTY: u64 = 1 << 55;
/// `PTE_SPECIAL`: software bit 56.
pub const PTE_SPECIAL: u64 = 1 << 56;
/// Software bits 55-58 (`PTE_DIRTY`, `PTE_SPECIAL`, ...).
pub const PTE_SW_MASK: u64 = 0xf << 55;
/// Output address field for 48-bit PAs: bits 47:12 (the granule masks its low bits).
pub const PTE_ADDR_MASK_48: u64 = ((1 << 48) - 1) & !0xfff;

/// `PTE_SWBITS_MASK`: the software bits, 55-58 and 63 (`asm/pgtable-hwdef.h`).
pub const PTE_SWBITS_MASK: u64 = (1 << 63) | PTE_SW_MASK;
/// `PTE_TYPE_MASK`: bits 1:0 of a level-3 descriptor.
pub const PTE_TYPE_MASK: u64 = 3;
/// `PTE_TYPE_PAGE`: a level-3 page (bits 1:0 = 0b11).
pub const PTE_TYPE_PAGE: u64 = 3;
/// `PUD_TYPE_MASK` / `P4D_TYPE_MASK` / `PGD_TYPE_MASK`: bits 1:0.
pub const PUD_TYPE_MASK: u64 = 3;
/// `PUD_TYPE_TABLE` / `P4D_TYPE_TABLE` / `PGD_TYPE_TABLE`.
pub const PUD_TYPE_TABLE: u64 = 3;
/// `PUD_TYPE_SECT`: a 1 GiB block with 4K pages.
pub const PUD_TYPE_SECT: u64 = 1;

// Table descriptor attributes. Each level has its own name in the kernel
// (`PMD_TABLE_*`, `PUD_TABLE_*`, `P4D_TABLE_*`, `PGD_TABLE_*`), all with the same bits.
/// `PMD_TABLE_AF`: access flag for the table (Arm: AF in a table descriptor, bit 10;
/// ignored without FEAT_HAFT).
pub const PMD_TABLE_AF: u64 = 1 << 10;
/// `PMD_TABLE_PXN`: privileged execute-never for everything below (Arm: PXNTable, bit 59).
pub const PMD_TABLE_PXN: u64 = 1 << 59;
/// `PMD_TABLE_UXN`: unprivileged execute-never for everything below (Arm: UXNTable/XNTable, bit 60).
pub const PMD_TABLE_UXN: u64 = 1 << 60;
/// `PUD_TABLE_AF` (Arm: AF in a table descriptor, bit 10).
pub const PUD_TABLE_AF: u64 = PMD_TABLE_AF;
/// `PUD_TABLE_PXN` (Arm: PXNTable, bit 59).
pub const PUD_TABLE_PXN: u64 = PMD_TABLE_PXN;
/// `PUD_TABLE_UXN` (Arm: UXNTable, bit 60).
pub const PUD_TABLE_UXN: u64 = PMD_TABLE_UXN;
/// `P4D_TABLE_AF` (Arm: AF in a table descriptor, bit 10).
pub const P4D_TABLE_AF: u64 = PMD_TABLE_AF;
/// `P4D_TABLE_PXN` (Arm: PXNTable, bit 59).
pub const P4D_TABLE_PXN: u64 = PMD_TABLE_PXN;
/// `P4D_TABLE_UXN` (Arm: UXNTable, bit 60).
pub const P4D_TABLE_UXN: u64 = PMD_TABLE_UXN;

/// Attribute bits carried by a leaf: everything but the type bits and the address.
pub const LEAF_ATTR_MASK: u64 = PTE_ATTRINDX_MASK
    | PTE_USER
    | PTE_RDONLY
    | PTE_SHARED
    | PTE_AF
    | PTE_NG
    | PTE_GP
    | PTE_WRITE
    | PTE_PXN
    | PTE_UXN
    | PTE_SW_MASK
    | (1 << 5) // NS (ignored at EL1 non-secure, kept so nothing is lost)
    | (1 << 63);

/// Memory types as the kernel sets up MAIR_EL1 (`MT_*` in asm/memory.h, 7.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MemoryType {
    NormalTagged,
    Normal,
    NormalNc,
    DeviceNgnrne,
    DeviceNgnre,
    /// A MAIR attribute the kernel does not use: index and MAIR byte.
    Other(u8, u8),
}

impl MemoryType {
    /// ptdump's spelling.
    pub fn name(self) -> &'static str {
        match self {
            MemoryType::NormalTagged => "MEM/NORMAL-TAGGED",
            MemoryType::Normal => "MEM/NORMAL",
            MemoryType::NormalNc => "MEM/NORMAL-NC",
            MemoryType::DeviceNgnrne => "DEVICE/nGnRnE",
            MemoryType::DeviceNgnre => "DEVICE/nGnRE",
            MemoryType::Other(..) => "MEM/OTHER",
        }
    }

    /// The kernel's fixed index assignment: `MT_NORMAL` 0, `MT_NORMAL_TAGGED` 1,
    /// `MT_NORMAL_NC` 2, `MT_DEVICE_nGnRnE` 3, `MT_DEVICE_nGnRE` 4.
    pub fn from_linux_index(index: u8) -> MemoryType {
        match index {
            0 => MemoryType::Normal,
            1 => MemoryType::NormalTagged,
            2 => MemoryType::NormalNc,
            3 => MemoryType::DeviceNgnrne,
            4 => MemoryType::DeviceNgnre,
            i => MemoryType::Other(i, 0),
        }
    }
}

/// [`leaf_attrs`] of a descriptor in a walk with LPA2 enabled or not: with LPA2, bits
/// 9:8 are output-address bits 51:50, not shareability.
pub const fn leaf_attrs_lpa2(desc: u64, lpa2: bool) -> u64 {
    if lpa2 {
        leaf_attrs(desc) & !PTE_SHARED
    } else {
        leaf_attrs(desc)
    }
}

/// `PTE_ATTRINDX` of a descriptor.
pub const fn attr_index(desc: u64) -> u8 {
    ((desc & PTE_ATTRINDX_MASK) >> 2) as u8
}

/// The attribute bits a leaf carries for comparison: `desc & LEAF_ATTR_MASK`, without
/// `PTE_PRESENT_INVALID` when the entry is not valid (there bit 11 says "present but
/// invalid", reported as validity, not as nG).
pub const fn leaf_attrs(desc: u64) -> u64 {
    let attrs = desc & LEAF_ATTR_MASK;
    if desc & PTE_VALID == 0 {
        attrs & !PTE_PRESENT_INVALID
    } else {
        attrs
    }
}
