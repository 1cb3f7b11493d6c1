//! The crate's error type: the kernel errnos the modelled code returns (`-EINVAL`,
//! `-EBUSY`, `-ENOMEM`) plus [`Errno::BUG`], the model's report of a path on which the
//! kernel would have hit `BUG_ON()` (and panicked) instead of returning.

use core::fmt;

use crate::address::VirtAddr;
use crate::granule::Level;

/// An error from the model: a kernel errno, or a kernel `BUG_ON()` that fired.
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Errno {
    /// `-EINVAL`: invalid argument.
    EINVAL,
    /// `-EBUSY`: resource busy.
    EBUSY,
    /// `-ENOMEM`: out of memory (a page-table allocation failed).
    ENOMEM,
    /// The kernel would have hit `BUG_ON()` here. Not an errno: Linux panics.
    BUG(Bug),
}

impl Errno {
    /// The negative errno the kernel would return, or `None` for [`Errno::BUG`].
    pub const fn to_errno(self) -> Option<i32> {
        match self {
            Errno::EINVAL => Some(-22),
            Errno::EBUSY => Some(-16),
            Errno::ENOMEM => Some(-12),
            Errno::BUG(_) => None,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Errno::EINVAL => f.write_str("-EINVAL (invalid argument)"),
            Errno::EBUSY => f.write_str("-EBUSY (device or resource busy)"),
            Errno::ENOMEM => f.write_str("-ENOMEM (out of memory)"),
            Errno::BUG(bug) => bug.fmt(f),
        }
    }
}

impl core::error::Error for Errno {}

impl From<Bug> for Errno {
    fn from(bug: Bug) -> Errno {
        Errno::BUG(bug)
    }
}

/// `pub type Result<T>` of the crate.
pub type Result<T> = core::result::Result<T, Errno>;

/// Which `BUG_ON()` fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BugKind {
    /// `BUG_ON(!pgattr_change_is_safe(old, new))`: a live entry was rewritten with a
    /// change that needs break-before-make (`init_pte`, and after `p?d_set_huge`).
    PgattrChangeUnsafe,
    /// `BUG_ON(p?d_leaf())`: the walk had to descend through a block (or a
    /// present-invalid block) to reach the next level.
    LeafInTheWay,
    /// `BUG_ON(p?d_bad())`: a non-empty entry that is not a table where a table is needed.
    BadTable,
    /// `BUG_ON(!pgtable_alloc)`: a table is missing and the caller passed no allocator
    /// (`update_mapping_prot`, `create_mapping_noalloc`).
    NoPgtableAlloc,
    /// An empty range reached `__create_pgd_mapping_locked`; its do-while loops would
    /// run until the address wraps. No kernel caller does this.
    EmptyRange,
    /// The virtual address is not in the TTBR1 half of the VA space.
    OutsideTtbr1,
}

impl BugKind {
    pub const fn describe(self) -> &'static str {
        match self {
            BugKind::PgattrChangeUnsafe => "unsafe change of a live entry (pgattr_change_is_safe)",
            BugKind::LeafInTheWay => "descending through a leaf (p?d_leaf)",
            BugKind::BadTable => "entry is not a table (p?d_bad)",
            BugKind::NoPgtableAlloc => "table missing and no pgtable_alloc",
            BugKind::EmptyRange => "empty range",
            BugKind::OutsideTtbr1 => "address outside the TTBR1 half",
        }
    }
}

/// Where a `BUG_ON()` fired: the VA being mapped, the level of the entry, its value
/// before and the value written or wanted (equal to `old` when nothing was written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bug {
    pub kind: BugKind,
    pub va: VirtAddr,
    pub level: Level,
    pub old: u64,
    pub new: u64,
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BUG: {} at VA {}, level {}: old {:#018x}, new {:#018x}",
            self.kind.describe(),
            self.va,
            self.level,
            self.old,
            self.new
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn errno_values_and_text() {
        assert_eq!(Errno::EINVAL.to_errno(), Some(-22));
        assert_eq!(Errno::EBUSY.to_errno(), Some(-16));
        assert_eq!(Errno::ENOMEM.to_errno(), Some(-12));
        let bug = Bug { kind: BugKind::PgattrChangeUnsafe, va: VirtAddr(0xffff_0000_0020_0000), level: Level::Pte, old: 1, new: 2 };
        assert_eq!(Errno::BUG(bug).to_errno(), None);
        assert_eq!(
            Errno::from(bug).to_string(),
            "BUG: unsafe change of a live entry (pgattr_change_is_safe) at VA 0xffff000000200000, level PTE: \
             old 0x0000000000000001, new 0x0000000000000002"
        );
    }
}
