//! The arm64 stage-1 walker for the kernel (TTBR1) half: granule and VA size are
//! parameters (every geometry Linux builds: 2 to 5 levels, LPA2 descriptors with
//! 52-bit VAs); bounded and defensive. Every descriptor that makes no sense (a table
//! outside RAM, a loop, a table reached twice, a reserved encoding) becomes an error naming the VA, the level
//! and the descriptor value; no input makes it panic.

use rust_impl::address::{PhysAddr, VirtAddr};
use rust_impl::descriptor::*;
use rust_impl::granule::{Granule, Level};
use rust_impl::pgtable::{pte_addr_high, pte_to_phys};
use rust_impl::linear_map::{Leaf, LinearMap};

use crate::linux_side::guest_memory::GuestMemory;

/// What the walk needs to know about the translation regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkConfig {
    pub granule: Granule,
    /// VA size of the TTBR1 half (64 − TCR_EL1.T1SZ, the kernel's `vabits_actual`).
    /// With 52 bits and 4K or 16K pages, descriptors are LPA2's (TCR_EL1.DS).
    pub va_bits: u32,
    /// PA of the root table (TTBR1_EL1.BADDR, `swapper_pg_dir`).
    pub root: PhysAddr,
    /// The realm shared bit in the output address (`prot_ns_shared`), 0 when not a realm.
    pub shared_mask: u64,
}

impl WalkConfig {
    /// `_PAGE_OFFSET(vabits_actual)`: the lowest TTBR1 address, where the linear region
    /// starts (`PAGE_OFFSET` itself unless a 52-bit kernel dropped to fewer bits).
    pub fn page_offset(&self) -> VirtAddr {
        VirtAddr((!0u64) << self.va_bits)
    }
    /// `PAGE_END` (`_PAGE_END(VA_BITS_MIN)`): end of the linear region. A kernel running
    /// with 52 bits ends it where a `VA_BITS_MIN` kernel would; one that dropped to
    /// `VA_BITS_MIN` runs with it; so `vabits_actual` alone decides.
    pub fn page_end(&self) -> VirtAddr {
        VirtAddr((!0u64) << (self.granule.va_bits_min(self.va_bits) - 1))
    }
    /// `lpa2_is_enabled()`: 52-bit VAs with 4K or 16K pages.
    pub fn lpa2(&self) -> bool {
        self.granule.lpa2(self.va_bits)
    }
}

/// One entry the walk visited: a leaf, or an entry with nothing mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visit {
    Leaf { leaf: Leaf, desc: u64 },
    /// Not present: `desc` is 0, or a non-present value with other bits set.
    Hole { va: VirtAddr, size: u64, level: Level, desc: u64 },
}

impl Visit {
    pub fn va(&self) -> VirtAddr {
        match self {
            Visit::Leaf { leaf, .. } => leaf.va,
            Visit::Hole { va, .. } => *va,
        }
    }
}

/// Why a walk stopped: a descriptor it cannot accept (naming the VA, the level and the
/// value), or a walk asked for that makes no sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkError {
    #[error("VA {va}, level {level}: descriptor {desc:#018x}: {reason}")]
    Descriptor { va: VirtAddr, level: Level, desc: u64, reason: WalkErrorKind },
    #[error("VA size {0} is not supported with this granule")]
    VaBits(u32),
    #[error("range {0}..{1} is not inside the TTBR1 half of a {2}-bit VA space")]
    Range(VirtAddr, VirtAddr, u32),
}

impl WalkError {
    /// The descriptor's VA, level and what is wrong with it (descriptor errors only).
    pub fn descriptor(&self) -> Option<(VirtAddr, Level, WalkErrorKind)> {
        match *self {
            WalkError::Descriptor { va, level, reason, .. } => Some((va, level, reason)),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkErrorKind {
    #[error("table at {0} is outside guest RAM")]
    TableOutsideRam(PhysAddr),
    #[error("table at {0} is one of its own ancestors (loop)")]
    Loop(PhysAddr),
    /// A second table descriptor pointing at a table already walked: Linux never
    /// shares a table in the linear map, and a walk through shared tables grows with
    /// the product of their entries (a few pages of RAM could make billions of leaves).
    #[error("table at {0} was already walked through another descriptor (shared table)")]
    SharedTable(PhysAddr),
    #[error("block descriptor at a level that has no blocks for this granule")]
    BlockNotAllowed,
    #[error("reserved encoding (bits[1:0] = 0b01 at the last level)")]
    ReservedPage,
    #[error("output address has bits set below the {0:#x}-byte entry size")]
    MisalignedOutput(u64),
    #[error("bits 49:48 set: an output address above 48 bits needs LPA2 (52-bit VAs) with this granule")]
    HighAddressBits,
    #[error("root table at {0} is outside guest RAM")]
    RootOutsideRam(PhysAddr),
}

/// Receives what a walk finds, in VA order.
pub trait WalkVisitor {
    /// A table page the walk read (root included).
    fn table(&mut self, _pa: PhysAddr) {}
    /// A leaf or a hole.
    fn visit(&mut self, visit: Visit);
    /// `count` more leaves right after `leaf` (whose descriptor was `desc`) in the same
    /// table, each mapping the next `leaf.size` bytes with identical attributes. The
    /// default hands them to [`WalkVisitor::visit`] one by one.
    fn more_leaves(&mut self, leaf: &Leaf, desc: u64, count: u64) {
        for k in 1..=count {
            let step = k * leaf.size;
            let next = Leaf { va: VirtAddr(leaf.va.0 + step), pa: PhysAddr(leaf.pa.0 + step), ..*leaf };
            self.visit(Visit::Leaf { leaf: next, desc: desc.wrapping_add(step) });
        }
    }
}

impl WalkVisitor for Vec<Visit> {
    fn visit(&mut self, visit: Visit) {
        self.push(visit);
    }
}

/// Builds the normalised [`LinearMap`] as the walk goes, taking runs whole.
#[derive(Default)]
pub struct Normaliser {
    pub map: LinearMap,
    /// Leaf entries seen.
    pub leaves: u64,
}

impl WalkVisitor for Normaliser {
    #[inline]
    fn visit(&mut self, visit: Visit) {
        if let Visit::Leaf { leaf, .. } = visit {
            self.leaves += 1;
            self.map.push(leaf);
        }
    }

    #[inline]
    fn more_leaves(&mut self, leaf: &Leaf, _desc: u64, count: u64) {
        self.leaves += count;
        self.map.extend_last(count * leaf.size);
    }
}

struct Walk<'m, 'v, M: GuestMemory + ?Sized, V: WalkVisitor> {
    mem: &'m M,
    cfg: WalkConfig,
    levels: u32,
    out: &'v mut V,
    ancestors: [u64; 5],
    /// Every table walked so far (root included).
    walked: std::collections::HashSet<u64>,
}

/// Walks `[start, end)` of the TTBR1 half and returns every entry visited in VA order.
pub fn walk<M: GuestMemory + ?Sized>(mem: &M, cfg: WalkConfig, start: VirtAddr, end: VirtAddr) -> Result<Vec<Visit>, WalkError> {
    let mut out = Vec::new();
    walk_with(mem, cfg, start, end, &mut out)?;
    Ok(out)
}

/// Walks `[start, end)` of the TTBR1 half, handing each entry to `visitor` as it goes.
pub fn walk_with<M: GuestMemory + ?Sized, V: WalkVisitor>(mem: &M, cfg: WalkConfig, start: VirtAddr, end: VirtAddr, visitor: &mut V) -> Result<(), WalkError> {
    let g = cfg.granule;
    if !(36..=52).contains(&cfg.va_bits) || cfg.va_bits <= g.page_shift() + g.bits_per_level() || !(2..=5).contains(&g.levels(cfg.va_bits)) {
        return Err(WalkError::VaBits(cfg.va_bits));
    }
    let lowest = cfg.page_offset();
    if start < lowest || end <= start {
        return Err(WalkError::Range(start, end, cfg.va_bits));
    }
    let levels = g.levels(cfg.va_bits);
    let mut ancestors = [u64::MAX; 5];
    ancestors[0] = cfg.root.0;
    let mut w = Walk { mem, cfg, levels, out: visitor, ancestors, walked: std::collections::HashSet::from([cfg.root.0]) };
    w.table(cfg.root.0, g.start_level(cfg.va_bits), lowest.0, start.0, end.0, 0)
}

impl<M: GuestMemory + ?Sized, V: WalkVisitor> Walk<'_, '_, M, V> {
    fn level_name(&self, arch_level: i32) -> Level {
        self.cfg.granule.linux_level(arch_level, self.levels)
    }

    /// Walks the table at `table` (architectural level `lvl`, covering VAs from
    /// `table_va`) over `[start, end)`. The table is read as one slice.
    fn table(&mut self, table: u64, lvl: i32, table_va: u64, start: u64, end: u64, depth: usize) -> Result<(), WalkError> {
        let g = self.cfg.granule;
        let shift = g.level_shift(lvl);
        let entry_size = 1u64 << shift;
        let index_bits = if lvl == g.start_level(self.cfg.va_bits) { self.cfg.va_bits - shift } else { g.bits_per_level() };
        let index_mask = (1u64 << index_bits) - 1;
        let level = self.level_name(lvl);
        // This table covers [table_va, table_va + entries << shift); stay inside it.
        let table_end = ((index_mask + 1) << shift).saturating_add(table_va);
        let end = end.min(table_end);
        let first = start.max(table_va) & !(entry_size - 1);
        let entries = match self.mem.bytes(PhysAddr(table), ((index_mask + 1) * 8) as usize) {
            Ok(bytes) => bytes,
            Err(_) => {
                let reason = if depth == 0 { WalkErrorKind::RootOutsideRam(PhysAddr(table)) } else { WalkErrorKind::TableOutsideRam(PhysAddr(table)) };
                return Err(WalkError::Descriptor { va: VirtAddr(first), level, desc: 0, reason });
            }
        };
        self.out.table(PhysAddr(table));
        let read = |i: usize| u64::from_le_bytes(entries[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let mut va = first;
        while va < end {
            let index = ((va >> shift) & index_mask) as usize;
            let desc = read(index);
            let mut step = 1;
            if let Some(leaf) = self.entry(desc, lvl, va, entry_size, start, end, depth)? {
                // Fast path: the following entries of this table that continue this leaf
                // exactly (same attributes, next output address) form one run.
                let left_in_range = (end - va - 1) / entry_size;
                let left_in_table = index_mask - index as u64;
                let max = left_in_range.min(left_in_table).min(self.room_after(&leaf, entry_size));
                let n = run_length(&entries[(index + 1) * 8..(index + 1 + max as usize) * 8], desc.wrapping_add(entry_size), entry_size);
                if n > 0 {
                    self.out.more_leaves(&leaf, desc, n);
                    step += n;
                }
            }
            match (step * entry_size).checked_add(va) {
                Some(next) => va = next,
                None => break,
            }
        }
        Ok(())
    }

    /// How many entries after `leaf` can continue it without their output address
    /// carrying into the shared bit or past 48 bits (either would change their meaning).
    fn room_after(&self, leaf: &Leaf, entry_size: u64) -> u64 {
        let mask = self.cfg.shared_mask;
        let boundary = if mask != 0 { mask & mask.wrapping_neg() } else { 1 << 48 };
        let offset = leaf.pa.0 & (boundary - 1);
        ((boundary - offset) / entry_size).saturating_sub(1)
    }

    #[allow(clippy::too_many_arguments)]
    /// Decodes one entry; returns the leaf it emitted, if it was one.
    fn entry(&mut self, desc: u64, lvl: i32, va: u64, size: u64, start: u64, end: u64, depth: usize) -> Result<Option<Leaf>, WalkError> {
        let g = self.cfg.granule;
        let level = self.level_name(lvl);
        let err = |reason| WalkError::Descriptor { va: VirtAddr(va), level, desc, reason };
        let present_invalid = desc & PTE_VALID == 0 && desc & PTE_PRESENT_INVALID != 0;
        if desc & PTE_VALID == 0 && !present_invalid {
            self.out.visit(Visit::Hole { va: VirtAddr(va), size, level, desc });
            return Ok(None);
        }
        let is_table = desc & PMD_TYPE_MASK == PMD_TYPE_TABLE && lvl < 3;
        if is_table {
            let next = pte_to_phys(g, self.cfg.lpa2(), desc);
            if self.ancestors[..=depth.min(4)].contains(&next) {
                return Err(err(WalkErrorKind::Loop(PhysAddr(next))));
            }
            if !self.walked.insert(next) {
                return Err(err(WalkErrorKind::SharedTable(PhysAddr(next))));
            }
            if self.mem.bytes(PhysAddr(next), g.page_size() as usize).is_err() {
                return Err(err(WalkErrorKind::TableOutsideRam(PhysAddr(next))));
            }
            if depth < 4 {
                self.ancestors[depth + 1] = next;
            }
            return self.table(next, lvl + 1, va, start, end, depth + 1).map(|()| None);
        }
        // A leaf: a block (levels 1-2), a page (level 3), or present-invalid either way.
        if lvl < 3 && !g.block_allowed(lvl) {
            return Err(err(WalkErrorKind::BlockNotAllowed));
        }
        if lvl == 3 && !present_invalid && desc & PTE_TYPE_BIT == 0 {
            return Err(err(WalkErrorKind::ReservedPage));
        }
        let lpa2 = self.cfg.lpa2();
        if pte_addr_high(g, lpa2).is_none() && desc & (3 << 48) != 0 {
            return Err(err(WalkErrorKind::HighAddressBits));
        }
        let field = pte_to_phys(g, lpa2, desc);
        let shared = field & self.cfg.shared_mask != 0;
        let pa = field & !self.cfg.shared_mask;
        if pa & (size - 1) != 0 {
            return Err(err(WalkErrorKind::MisalignedOutput(size)));
        }
        let leaf = Leaf {
            va: VirtAddr(va),
            size,
            level: Level::of_leaf(lvl, self.levels),
            pa: PhysAddr(pa),
            attrs: leaf_attrs_lpa2(desc, lpa2),
            valid: desc & PTE_VALID != 0,
            cont: desc & PTE_CONT != 0,
            shared,
        };
        self.out.visit(Visit::Leaf { leaf, desc });
        Ok(Some(leaf))
    }
}

/// How many leading descriptors of `words` (little-endian u64s) equal `first`,
/// `first + step`, `first + 2 * step`, ...: compared a block of eight at a time without
/// branches (so the compiler can vectorise), then one by one.
#[inline]
fn run_length(words: &[u8], first: u64, step: u64) -> u64 {
    const BLOCK: usize = 8;
    let mut n = 0u64;
    let mut blocks = words.chunks_exact(BLOCK * 8);
    for block in &mut blocks {
        let base = first.wrapping_add(n.wrapping_mul(step));
        let mut all = true;
        for (j, word) in block.chunks_exact(8).enumerate() {
            let d = u64::from_le_bytes(word.try_into().expect("8 bytes"));
            all &= d == base.wrapping_add((j as u64).wrapping_mul(step));
        }
        if !all {
            break;
        }
        n += BLOCK as u64;
    }
    for word in words[n as usize * 8..].chunks_exact(8) {
        if u64::from_le_bytes(word.try_into().expect("8 bytes")) != first.wrapping_add(n.wrapping_mul(step)) {
            break;
        }
        n += 1;
    }
    n
}

/// The leaves of a walk, for [`rust_impl::linear_map::LinearMap::from_leaves`].
pub fn leaves(visits: &[Visit]) -> impl Iterator<Item = Leaf> + '_ {
    visits.iter().filter_map(|v| match v {
        Visit::Leaf { leaf, .. } => Some(*leaf),
        Visit::Hole { .. } => None,
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_geometry;
