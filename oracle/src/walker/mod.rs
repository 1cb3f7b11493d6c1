//! The arm64 stage-1 walker for the kernel (TTBR1) half: granule and VA size are
//! parameters; bounded and defensive. Every descriptor that makes no sense (a table
//! outside RAM, a loop, a reserved encoding) becomes an error naming the VA, the level
//! and the descriptor value; no input makes it panic.

use rust_impl::address::{PhysAddr, VirtAddr};
use rust_impl::descriptor::*;
use rust_impl::granule::{Granule, Level};
use rust_impl::linear_map::Leaf;

use crate::guest_memory::{GuestMemory, OutsideRam};

/// What the walk needs to know about the translation regime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalkConfig {
    pub granule: Granule,
    /// VA size of the TTBR1 half (64 − TCR_EL1.T1SZ).
    pub va_bits: u32,
    /// PA of the root table (TTBR1_EL1.BADDR, `swapper_pg_dir`).
    pub root: u64,
    /// The realm shared bit in the output address (`prot_ns_shared`), 0 when not a realm.
    pub shared_mask: u64,
}

impl WalkConfig {
    /// `PAGE_OFFSET`: start of the linear map.
    pub fn page_offset(&self) -> u64 {
        (!0u64) << self.va_bits
    }
    /// `PAGE_END`: end of the linear map (half the TTBR1 range).
    pub fn page_end(&self) -> u64 {
        self.page_offset() + (1u64 << (self.va_bits - 1))
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

/// A descriptor the walker cannot accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("VA {va}, level {level}: descriptor {desc:#018x}: {reason}")]
pub struct WalkError {
    pub va: VirtAddr,
    pub level: Level,
    pub desc: u64,
    pub reason: WalkErrorKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WalkErrorKind {
    #[error("table at {0} is outside guest RAM")]
    TableOutsideRam(PhysAddr),
    #[error("table at {0} is one of its own ancestors (loop)")]
    Loop(PhysAddr),
    #[error("block descriptor at a level that has no blocks for this granule")]
    BlockNotAllowed,
    #[error("reserved encoding (bits[1:0] = 0b01 at the last level)")]
    ReservedPage,
    #[error("output address has bits set below the {0:#x}-byte entry size")]
    MisalignedOutput(u64),
    #[error("bits 49:48 set (52-bit output addresses are not supported yet)")]
    HighAddressBits,
    #[error("root table at {0} is outside guest RAM")]
    RootOutsideRam(PhysAddr),
}

/// Bounds and config checks before a walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("VA size {0} is not supported with this granule")]
    VaBits(u32),
    #[error("range {0:#x}..{1:#x} is not inside the TTBR1 half of a {2}-bit VA space")]
    Range(u64, u64, u32),
}

struct Walk<'m, M: GuestMemory + ?Sized> {
    mem: &'m M,
    cfg: WalkConfig,
    levels: u32,
    out: Vec<Visit>,
    ancestors: [u64; 5],
}

/// Walks `[start, end)` of the TTBR1 half and returns every entry visited in VA order.
pub fn walk<M: GuestMemory + ?Sized>(mem: &M, cfg: WalkConfig, start: u64, end: u64) -> Result<Result<Vec<Visit>, WalkError>, ConfigError> {
    let g = cfg.granule;
    if !(cfg.va_bits >= 36 && cfg.va_bits <= 48 && cfg.va_bits > g.page_shift() + g.bits_per_level()) {
        return Err(ConfigError::VaBits(cfg.va_bits));
    }
    let lowest = cfg.page_offset();
    if start < lowest || end <= start {
        return Err(ConfigError::Range(start, end, cfg.va_bits));
    }
    let levels = g.levels(cfg.va_bits);
    let mut ancestors = [u64::MAX; 5];
    ancestors[0] = cfg.root;
    let mut w = Walk { mem, cfg, levels, out: Vec::new(), ancestors };
    Ok(w.table(cfg.root, g.start_level(cfg.va_bits), lowest, start, end, 0).map(|()| w.out))
}

impl<M: GuestMemory + ?Sized> Walk<'_, M> {
    fn level_name(&self, arch_level: u32) -> Level {
        self.cfg.granule.linux_level(arch_level, self.levels)
    }

    /// Walks the table at `table` (architectural level `lvl`, covering VAs from
    /// `table_va`) over `[start, end)`.
    fn table(&mut self, table: u64, lvl: u32, table_va: u64, start: u64, end: u64, depth: usize) -> Result<(), WalkError> {
        let g = self.cfg.granule;
        let shift = g.level_shift(lvl);
        let entry_size = 1u64 << shift;
        let index_bits = if lvl == g.start_level(self.cfg.va_bits) { self.cfg.va_bits - shift } else { g.bits_per_level() };
        let index_mask = (1u64 << index_bits) - 1;
        let level = self.level_name(lvl);
        // This table covers [table_va, table_va + entries << shift); stay inside it.
        let table_end = ((index_mask + 1) << shift).checked_add(table_va).unwrap_or(u64::MAX);
        let end = end.min(table_end);
        let mut va = start.max(table_va) & !(entry_size - 1);
        while va < end {
            let index = (va >> shift) & index_mask;
            let desc = table.checked_add(index * 8).ok_or(OutsideRam { pa: table, len: 8, ram_start: 0, ram_end: 0 });
            let desc = desc.and_then(|entry_pa| self.mem.read_u64(entry_pa)).map_err(|OutsideRam { .. }| WalkError {
                va: VirtAddr(va),
                level,
                desc: 0,
                reason: if depth == 0 { WalkErrorKind::RootOutsideRam(PhysAddr(table)) } else { WalkErrorKind::TableOutsideRam(PhysAddr(table)) },
            })?;
            self.entry(desc, lvl, va, entry_size, start, end, depth)?;
            match va.checked_add(entry_size) {
                Some(next) => va = next,
                None => break,
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn entry(&mut self, desc: u64, lvl: u32, va: u64, size: u64, start: u64, end: u64, depth: usize) -> Result<(), WalkError> {
        let g = self.cfg.granule;
        let level = self.level_name(lvl);
        let err = |reason| WalkError { va: VirtAddr(va), level, desc, reason };
        let present_invalid = desc & PTE_VALID == 0 && desc & PTE_PRESENT_INVALID != 0;
        if desc & PTE_VALID == 0 && !present_invalid {
            self.out.push(Visit::Hole { va: VirtAddr(va), size, level, desc });
            return Ok(());
        }
        let is_table = desc & PMD_TYPE_MASK == PMD_TYPE_TABLE && lvl < 3;
        if is_table {
            let next = desc & PTE_ADDR_MASK_48 & !(g.page_size() - 1);
            if self.ancestors[..=depth.min(4)].contains(&next) {
                return Err(err(WalkErrorKind::Loop(PhysAddr(next))));
            }
            if self.mem.bytes(next, g.page_size() as usize).is_err() {
                return Err(err(WalkErrorKind::TableOutsideRam(PhysAddr(next))));
            }
            if depth < 4 {
                self.ancestors[depth + 1] = next;
            }
            return self.table(next, lvl + 1, va, start, end, depth + 1);
        }
        // A leaf: a block (levels 1-2), a page (level 3), or present-invalid either way.
        if lvl < 3 && !g.block_allowed(lvl) {
            return Err(err(WalkErrorKind::BlockNotAllowed));
        }
        if lvl == 3 && !present_invalid && desc & PTE_TYPE_BIT == 0 {
            return Err(err(WalkErrorKind::ReservedPage));
        }
        if desc & (3 << 48) != 0 {
            return Err(err(WalkErrorKind::HighAddressBits));
        }
        let field = desc & PTE_ADDR_MASK_48 & !(g.page_size() - 1);
        let shared = field & self.cfg.shared_mask != 0;
        let pa = field & !self.cfg.shared_mask;
        if pa & (size - 1) != 0 {
            return Err(err(WalkErrorKind::MisalignedOutput(size)));
        }
        let leaf = Leaf {
            va: VirtAddr(va),
            size,
            level,
            pa: PhysAddr(pa),
            attrs: desc & LEAF_ATTR_MASK,
            valid: desc & PTE_VALID != 0,
            cont: desc & PTE_CONT != 0,
            shared,
        };
        self.out.push(Visit::Leaf { leaf, desc });
        Ok(())
    }
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
