//! Address newtypes: one type per address space, printed as `{:#018x}`.

use core::fmt;

/// A kernel virtual address.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VirtAddr(pub u64);

/// A physical (for a guest: intermediate physical) address.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhysAddr(pub u64);

macro_rules! address_ops {
    ($t:ident) => {
        impl $t {
            /// `self + n`, or `None` on overflow.
            pub const fn checked_add(self, n: u64) -> Option<Self> {
                match self.0.checked_add(n) {
                    Some(v) => Some($t(v)),
                    None => None,
                }
            }
            /// `self - n`, or `None` on underflow.
            pub const fn checked_sub(self, n: u64) -> Option<Self> {
                match self.0.checked_sub(n) {
                    Some(v) => Some($t(v)),
                    None => None,
                }
            }
            /// Whether the address is a multiple of `align` (a power of two).
            pub const fn is_aligned(self, align: u64) -> bool {
                self.0 & (align - 1) == 0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#018x}", self.0)
            }
        }
    };
}

address_ops!(VirtAddr);
address_ops!(PhysAddr);

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn display_and_arithmetic() {
        assert_eq!(format!("{}", VirtAddr(0xffff_0000_0000_0000)), "0xffff000000000000");
        assert_eq!(PhysAddr(0x4000_0000).checked_add(0x1000), Some(PhysAddr(0x4000_1000)));
        assert_eq!(VirtAddr(u64::MAX).checked_add(1), None);
        assert_eq!(PhysAddr(0).checked_sub(1), None);
        assert!(PhysAddr(0x20_0000).is_aligned(0x20_0000));
        assert!(!PhysAddr(0x20_1000).is_aligned(0x20_0000));
    }
}
