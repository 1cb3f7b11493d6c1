//! The normalised linear map: the unit of comparison between Linux (walked from guest
//! RAM) and the model. One line per maximal run of leaves that agree on level,
//! contiguous bit, attributes, validity and shared bit and whose output addresses
//! continue each other. Table addresses are not part of it.

use alloc::vec::Vec;
use core::fmt;

use crate::address::{PhysAddr, VirtAddr};
use crate::descriptor::*;
use crate::granule::Level;

/// One leaf entry as a walk found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    pub va: VirtAddr,
    /// Bytes mapped by this one entry.
    pub size: u64,
    pub level: Level,
    /// Output address with the shared bit removed.
    pub pa: PhysAddr,
    /// `desc & LEAF_ATTR_MASK`.
    pub attrs: u64,
    /// `PTE_VALID` set (else present-invalid).
    pub valid: bool,
    pub cont: bool,
    /// The realm shared bit (`PROT_NS_SHARED`) was set in the output address.
    pub shared: bool,
}

/// One line of the normalised dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapLine {
    pub start: VirtAddr,
    /// Exclusive.
    pub end: VirtAddr,
    pub level: Level,
    pub cont: bool,
    pub pa: PhysAddr,
    pub attrs: u64,
    pub valid: bool,
    pub shared: bool,
}

impl MapLine {
    pub fn size(&self) -> u64 {
        self.end.0.wrapping_sub(self.start.0)
    }

    #[inline]
    fn continues_with(&self, leaf: &Leaf) -> bool {
        self.end == leaf.va
            && self.level == leaf.level
            && self.cont == leaf.cont
            && self.attrs == leaf.attrs
            && self.valid == leaf.valid
            && self.shared == leaf.shared
            && self.pa.0.wrapping_add(self.size()) == leaf.pa.0
    }
}

/// A normalised linear map.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LinearMap {
    pub lines: Vec<MapLine>,
}

impl LinearMap {
    /// Merges leaves (in VA order) into lines.
    pub fn from_leaves<I: IntoIterator<Item = Leaf>>(leaves: I) -> LinearMap {
        let mut map = LinearMap::default();
        for leaf in leaves {
            map.push(leaf);
        }
        map
    }

    /// Extends the last line by `bytes` that continue it exactly (same attributes, VA and
    /// PA both advancing by `bytes`); the caller guarantees the continuation.
    #[inline]
    pub fn extend_last(&mut self, bytes: u64) {
        if let Some(last) = self.lines.last_mut() {
            last.end = VirtAddr(last.end.0.wrapping_add(bytes));
        }
    }

    /// Appends the next leaf (in VA order), extending the last line when it continues it.
    #[inline]
    pub fn push(&mut self, leaf: Leaf) {
        let lines = &mut self.lines;
        if let Some(last) = lines.last_mut() {
            if last.continues_with(&leaf) {
                last.end = VirtAddr(last.end.0.wrapping_add(leaf.size));
                return;
            }
        }
        lines.push(MapLine {
                start: leaf.va,
                end: VirtAddr(leaf.va.0.wrapping_add(leaf.size)),
                level: leaf.level,
                cont: leaf.cont,
                pa: leaf.pa,
                attrs: leaf.attrs,
                valid: leaf.valid,
                shared: leaf.shared,
            });
    }
}

/// `2M`, `1G`, `960K`, as ptdump prints sizes.
pub struct HumanSize(pub u64);

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 4] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
        for (unit, name) in UNITS {
            if self.0 >= unit && self.0 % unit == 0 {
                return f.pad(&alloc::format!("{}{name}", self.0 / unit));
            }
        }
        f.pad(&alloc::format!("{}B", self.0))
    }
}

/// The attribute words of a line, ptdump-like: permissions, then flags, then type.
pub struct AttrText {
    pub attrs: u64,
    pub valid: bool,
}

impl fmt::Display for AttrText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.attrs;
        let mut words: Vec<&str> = Vec::new();
        if !self.valid {
            words.push("INVALID");
        }
        words.push(if a & PTE_RDONLY != 0 { "ro" } else { "RW" });
        words.push(if a & PTE_PXN != 0 { "NX" } else { "x" });
        if a & PTE_UXN != 0 {
            words.push("UXN");
        }
        if a & PTE_USER != 0 {
            words.push("USR");
        }
        if a & PTE_SHARED == PTE_SHARED {
            words.push("SHD");
        }
        if a & PTE_AF != 0 {
            words.push("AF");
        }
        if a & PTE_NG != 0 && self.valid {
            words.push("NG");
        }
        if a & PTE_WRITE != 0 {
            words.push("DBM");
        }
        if a & PTE_GP != 0 {
            words.push("GP");
        }
        let ty = MemoryType::from_linux_index(attr_index(a));
        words.push(ty.name());
        if a & PTE_DIRTY != 0 {
            words.push("DIRTY");
        }
        if a & PTE_SPECIAL != 0 {
            words.push("SPECIAL");
        }
        let sw = (a & PTE_SW_MASK & !(PTE_DIRTY | PTE_SPECIAL)) >> 55;
        let sw_text;
        if sw != 0 {
            sw_text = alloc::format!("SW={sw:#x}");
            words.push(&sw_text);
        }
        f.write_str(&words.join(" "))
    }
}

impl fmt::Display for LinearMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.lines {
            write!(
                f,
                "{:#018x}-{:#018x} {:>6} {} {:4} pa={:#014x} {}",
                l.start.0,
                l.end.0,
                HumanSize(l.size()),
                l.level,
                if l.cont { "CONT" } else { "" },
                l.pa.0,
                AttrText { attrs: l.attrs, valid: l.valid }
            )?;
            if l.shared {
                f.write_str(" shared")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    const KERNEL_RW: u64 = PTE_AF | PTE_SHARED | PTE_PXN | PTE_UXN | PTE_WRITE | (1 << 2);

    fn pte(va: u64, pa: u64) -> Leaf {
        Leaf { va: VirtAddr(va), size: 4096, level: Level::Pte, pa: PhysAddr(pa), attrs: KERNEL_RW, valid: true, cont: false, shared: false }
    }

    #[test]
    fn merges_continuing_runs_only() {
        let base = 0xffff_0000_0000_0000;
        let leaves = [
            pte(base, 0x4000_0000),
            pte(base + 0x1000, 0x4000_1000),
            // Output address jumps: a new line even though attributes agree.
            pte(base + 0x2000, 0x5000_0000),
            Leaf { attrs: KERNEL_RW | PTE_RDONLY, ..pte(base + 0x3000, 0x5000_1000) },
        ];
        let m = LinearMap::from_leaves(leaves);
        assert_eq!(m.lines.len(), 3);
        assert_eq!(m.lines[0].size(), 0x2000);
        let text = m.to_string();
        assert_eq!(
            text.lines().next().unwrap(),
            "0xffff000000000000-0xffff000000002000     8K PTE      pa=0x000040000000 RW NX UXN SHD AF DBM MEM/NORMAL-TAGGED"
        );
        assert!(text.lines().nth(2).unwrap().contains(" ro NX"));
    }

    #[test]
    fn sizes() {
        assert_eq!(HumanSize(2 << 20).to_string(), "2M");
        assert_eq!(HumanSize(960 << 10).to_string(), "960K");
        assert_eq!(HumanSize(1 << 40).to_string(), "1T");
    }
}
