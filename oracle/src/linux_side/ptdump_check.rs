//! Cross-check of the host-side walk against the kernel's own ptdump: re-merge the walk
//! the way `note_page()` in arch/arm64/mm/ptdump.c (7.3) merges (same level and same
//! `val & mask`, holes included), render each range's attributes as ptdump does, and
//! require line-for-line equality with the in-guest dump.

use rust_impl::address::VirtAddr;
use rust_impl::descriptor::*;

use crate::linux_side::ptdump::{PtdumpRange, PtdumpSection};
use crate::linux_side::walker::Visit;

/// `pg_level[].mask` in ptdump.c: the union of every `pte_bits[].mask`.
const PTDUMP_MASK: u64 = PTE_VALID | PTE_USER | PTE_RDONLY | PTE_PXN | PTE_SHARED | PTE_AF | PTE_NG | PTE_CONT | PMD_TYPE_MASK | PTE_UXN | PTE_GP | PTE_ATTRINDX_MASK;

/// ptdump's words for a `prot` value (`dump_prot` over `pte_bits`, in its order).
pub fn ptdump_words(prot: u64) -> Vec<String> {
    if prot == 0 {
        return Vec::new();
    }
    let mut w: Vec<&str> = Vec::new();
    if prot & PTE_VALID == 0 {
        w.push("F");
    }
    if prot & PTE_USER != 0 {
        w.push("USR");
    }
    w.push(if prot & PTE_RDONLY != 0 { "ro" } else { "RW" });
    w.push(if prot & PTE_PXN != 0 { "NX" } else { "x" });
    for (mask, word) in [(PTE_SHARED, "SHD"), (PTE_AF, "AF"), (PTE_NG, "NG"), (PTE_CONT, "CON")] {
        if prot & mask == mask {
            w.push(word);
        }
    }
    if prot & PMD_TYPE_MASK == PMD_TYPE_SECT {
        w.push("BLK");
    }
    if prot & PTE_UXN != 0 {
        w.push("UXN");
    }
    if prot & PTE_GP != 0 {
        w.push("GP");
    }
    if let i @ 0..=4 = attr_index(prot) {
        w.push(MemoryType::from_linux_index(i).name());
    }
    w.into_iter().map(str::to_string).collect()
}

/// The walk merged into ptdump's ranges.
pub fn remerge(visits: &[Visit]) -> Vec<PtdumpRange> {
    let mut out: Vec<(PtdumpRange, u64)> = Vec::new();
    for v in visits {
        let (va, size, level, desc) = match v {
            Visit::Leaf { leaf, desc } => (leaf.va, leaf.size, leaf.level, *desc),
            Visit::Hole { va, size, level, desc } => (*va, *size, *level, *desc),
        };
        // Ranges end at 2^64 as 0, as ptdump prints them.
        let end = VirtAddr(va.0.wrapping_add(size));
        let prot = desc & PTDUMP_MASK;
        if let Some((last, last_prot)) = out.last_mut() {
            if *last_prot == prot && last.level == level && last.end == va {
                last.end = end;
                continue;
            }
        }
        out.push((PtdumpRange { start: va, end, level, attrs: ptdump_words(prot) }, prot));
    }
    out.into_iter().map(|(r, _)| r).collect()
}

/// One disagreement between the walk and ptdump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub line: usize,
    pub walker: Option<PtdumpRange>,
    pub ptdump: Option<PtdumpRange>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |r: &Option<PtdumpRange>| match r {
            Some(r) => format!("{}-{} {} {}", r.start, r.end, r.level.name(), r.attrs.join(" ")),
            None => "(no line)".into(),
        };
        write!(f, "line {}:\n  walker: {}\n  ptdump: {}", self.line, show(&self.walker), show(&self.ptdump))
    }
}

/// Compares line by line; empty when they agree.
pub fn compare(walked: &[PtdumpRange], ptdump: &PtdumpSection) -> Vec<Mismatch> {
    let n = walked.len().max(ptdump.ranges.len());
    (0..n)
        .filter_map(|i| {
            let (a, b) = (walked.get(i), ptdump.ranges.get(i));
            (a != b).then(|| Mismatch { line: i + 1, walker: a.cloned(), ptdump: b.cloned() })
        })
        .collect()
}
