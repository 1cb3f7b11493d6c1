//! Stage-2 translation tables (VMSAv8-64, 4 KiB granule, lookup from level 0) built in
//! a pool of the monitor's pages: map and unmap IPA ranges with the largest blocks that
//! fit, splitting blocks where a range ends inside one, and look an IPA up.

use crate::layout::GRANULE;
use crate::mem::PhysMem;

/// Stage-2 leaf attributes for RAM: MemAttr 0b1111 (Normal, inner and outer
/// write-back), S2AP read-write, inner shareable, AF.
pub const S2_NORMAL: u64 = (0b1111 << 2) | (0b11 << 6) | (0b11 << 8) | (1 << 10);
/// Stage-2 execute-never for EL1 and EL0 (XN, bits 54:53 = 0b10).
pub const S2_XN: u64 = 0b10 << 53;
/// For MMIO: MemAttr 0b0001 (Device-nGnRE), S2AP read-write, AF, XN (no execution).
pub const S2_DEVICE: u64 = (0b0001 << 2) | (0b11 << 6) | (1 << 10) | S2_XN;

const VALID: u64 = 1;
const TABLE_OR_PAGE: u64 = 0b10;
const OA_MASK: u64 = 0x0000_ffff_ffff_f000;
/// Lower (bits 11:2) and upper (63:50) attributes of a leaf.
const ATTR_MASK: u64 = 0xfffc_0000_0000_0ffc;

/// Why a stage-2 change could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage2Error {
    /// No page left for a table.
    PoolExhausted,
    /// The range is not granule-aligned or leaves the IPA space.
    BadRange { ipa: u64, size: u64 },
}

impl core::fmt::Display for Stage2Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Stage2Error::PoolExhausted => write!(f, "stage 2: the table pool is exhausted"),
            Stage2Error::BadRange { ipa, size } => write!(f, "stage 2: IPA range {ipa:#x}+{size:#x} is misaligned or outside the IPA space"),
        }
    }
}

pub type Result<T> = core::result::Result<T, Stage2Error>;

/// A leaf found by [`Stage2::lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// Output address of the IPA (not only of the block).
    pub pa: u64,
    pub attrs: u64,
    pub level: u8,
}

/// One set of stage-2 tables.
#[derive(Clone, Copy, Debug)]
pub struct Stage2 {
    pub root: u64,
    pub ipa_bits: u8,
    next: u64,
    end: u64,
}

fn shift(level: u8) -> u32 {
    12 + 9 * (3 - level as u32)
}

fn index(ipa: u64, level: u8) -> u64 {
    (ipa >> shift(level)) & 0x1ff
}

impl Stage2 {
    /// Empty tables for an IPA space of `ipa_bits` (40 to 48), in the pool `[pool, +size)`.
    pub fn new<M: PhysMem>(mem: &mut M, pool: u64, size: u64, ipa_bits: u8) -> Result<Stage2> {
        let mut s2 = Stage2 { root: 0, ipa_bits, next: pool, end: pool + size };
        s2.root = s2.alloc(mem)?;
        Ok(s2)
    }

    /// Table pages left in the pool.
    pub fn pages_free(&self) -> u64 {
        (self.end - self.next) / GRANULE
    }

    /// Table pages used so far.
    pub fn pages_used(&self, pool: u64) -> u64 {
        (self.next - pool) / GRANULE
    }

    fn alloc<M: PhysMem>(&mut self, mem: &mut M) -> Result<u64> {
        if self.next + GRANULE > self.end {
            return Err(Stage2Error::PoolExhausted);
        }
        let page = self.next;
        self.next += GRANULE;
        mem.zero(page, GRANULE);
        Ok(page)
    }

    fn check(&self, ipa: u64, size: u64) -> Result<()> {
        let limit = 1u64 << self.ipa_bits;
        if ipa % GRANULE != 0 || size % GRANULE != 0 || size == 0 || ipa >= limit || limit - ipa < size {
            return Err(Stage2Error::BadRange { ipa, size });
        }
        Ok(())
    }

    /// VTCR_EL2 for these tables: T0SZ, start level 0, write-back inner-shareable walks,
    /// 4K granule, PS from the CPU's `pa_range` (ID_AA64MMFR0_EL1.PARange, capped at 48
    /// bits), RES1 bit 31.
    pub fn vtcr(&self, pa_range: u64) -> u64 {
        let t0sz = 64 - self.ipa_bits as u64;
        let sl0 = 0b10;
        let ps = pa_range.min(0b101);
        (1 << 31) | (ps << 16) | (0b11 << 12) | (0b01 << 10) | (0b01 << 8) | (sl0 << 6) | t0sz
    }

    /// Turns the block at `entry_pa` (level `level`) into a table of the same mapping.
    fn split<M: PhysMem>(&mut self, mem: &mut M, entry_pa: u64, level: u8) -> Result<u64> {
        let desc = mem.read_u64(entry_pa);
        let table = self.alloc(mem)?;
        let child = level + 1;
        let span = 1u64 << shift(child);
        let kind = if child == 3 { VALID | TABLE_OR_PAGE } else { VALID };
        let (oa, attrs) = (desc & OA_MASK, desc & ATTR_MASK);
        for i in 0..512 {
            mem.write_u64(table + 8 * i, (oa + i * span) | attrs | kind);
        }
        // Same output for every address: no break-before-make needed on QEMU TCG, and no
        // window in which another CPU would see the range unmapped.
        mem.write_u64(entry_pa, table | VALID | TABLE_OR_PAGE);
        Ok(table)
    }

    /// The next-level table under `entry_pa`, made (empty or split) if needed.
    fn descend<M: PhysMem>(&mut self, mem: &mut M, entry_pa: u64, level: u8) -> Result<Option<u64>> {
        let desc = mem.read_u64(entry_pa);
        if desc & VALID == 0 {
            return Ok(None);
        }
        if desc & TABLE_OR_PAGE != 0 {
            return Ok(Some(desc & OA_MASK));
        }
        self.split(mem, entry_pa, level).map(Some)
    }

    /// Maps `[ipa, ipa+size)` to `[pa, pa+size)` with `attrs` (e.g. [`S2_NORMAL`]).
    pub fn map<M: PhysMem>(&mut self, mem: &mut M, ipa: u64, pa: u64, size: u64, attrs: u64) -> Result<()> {
        self.check(ipa, size)?;
        self.map_level(mem, self.root, 0, ipa, pa, size, Some(attrs))
    }

    /// Unmaps `[ipa, ipa+size)`; what was not mapped stays unmapped.
    pub fn unmap<M: PhysMem>(&mut self, mem: &mut M, ipa: u64, size: u64) -> Result<()> {
        self.check(ipa, size)?;
        self.map_level(mem, self.root, 0, ipa, 0, size, None)
    }

    #[allow(clippy::too_many_arguments)]
    fn map_level<M: PhysMem>(&mut self, mem: &mut M, table: u64, level: u8, ipa: u64, pa: u64, size: u64, attrs: Option<u64>) -> Result<()> {
        let span = 1u64 << shift(level);
        let end = ipa + size;
        let mut a = ipa;
        while a < end {
            let next = ((a / span) + 1) * span;
            let chunk_end = next.min(end);
            let entry = table + 8 * index(a, level);
            let out = pa + (a - ipa);
            let whole = a % span == 0 && chunk_end == next;
            let desc = mem.read_u64(entry);
            let is_table = level < 3 && desc & VALID != 0 && desc & TABLE_OR_PAGE != 0;
            if whole && !is_table && (level >= 1 || attrs.is_none()) && (attrs.is_none() || out % span == 0) {
                match attrs {
                    Some(at) => mem.write_u64(entry, out | at | VALID | if level == 3 { TABLE_OR_PAGE } else { 0 }),
                    None => mem.write_u64(entry, 0),
                }
            } else if whole && is_table && attrs.is_none() {
                // The whole span goes: drop the table (its page is not reused).
                mem.write_u64(entry, 0);
            } else {
                let sub = match self.descend(mem, entry, level)? {
                    Some(t) => t,
                    None if attrs.is_none() => {
                        a = chunk_end;
                        continue;
                    }
                    None => {
                        let t = self.alloc(mem)?;
                        mem.write_u64(entry, t | VALID | TABLE_OR_PAGE);
                        t
                    }
                };
                self.map_level(mem, sub, level + 1, a, out, chunk_end - a, attrs)?;
            }
            a = chunk_end;
        }
        Ok(())
    }

    /// The leaf that maps `ipa`, if any.
    pub fn lookup<M: PhysMem>(&self, mem: &M, ipa: u64) -> Option<Leaf> {
        if ipa >> self.ipa_bits != 0 {
            return None;
        }
        let mut table = self.root;
        for level in 0..=3u8 {
            let desc = mem.read_u64(table + 8 * index(ipa, level));
            if desc & VALID == 0 {
                return None;
            }
            let is_table = level < 3 && desc & TABLE_OR_PAGE != 0;
            if !is_table {
                let off = ipa & ((1u64 << shift(level)) - 1);
                return Some(Leaf { pa: (desc & OA_MASK) + off, attrs: desc & ATTR_MASK, level });
            }
            table = desc & OA_MASK;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::VecMem;

    const POOL: u64 = 0x100_0000;

    fn tables() -> (Stage2, VecMem) {
        let mut mem = VecMem::new();
        let s2 = Stage2::new(&mut mem, POOL, 64 * GRANULE, 48).unwrap();
        (s2, mem)
    }

    #[test]
    fn blocks_where_they_fit() {
        let (mut s2, mut mem) = tables();
        s2.map(&mut mem, 0x8000_0000, 0x8000_0000, 0x8020_0000 - 0x8000_0000 + (1 << 30), S2_NORMAL).unwrap();
        assert_eq!(s2.lookup(&mem, 0x8000_1234), Some(Leaf { pa: 0x8000_1234, attrs: S2_NORMAL, level: 1 }));
        assert_eq!(s2.lookup(&mem, 0xc010_0000).map(|l| l.level), Some(2));
        assert_eq!(s2.lookup(&mem, 0xc020_0000), None);
        assert_eq!(s2.pages_used(POOL), 3, "root, one L1, one L2");
    }

    #[test]
    fn unmapping_a_page_splits_down_to_it() {
        let (mut s2, mut mem) = tables();
        s2.map(&mut mem, 0x8000_0000, 0x8000_0000, 1 << 30, S2_NORMAL).unwrap();
        s2.unmap(&mut mem, 0x8123_4000, 0x1000).unwrap();
        assert_eq!(s2.lookup(&mem, 0x8123_4000), None);
        assert_eq!(s2.lookup(&mem, 0x8123_3fff).map(|l| (l.pa, l.level)), Some((0x8123_3fff, 3)));
        assert_eq!(s2.lookup(&mem, 0x8123_5000).map(|l| l.level), Some(3));
        assert_eq!(s2.lookup(&mem, 0x8140_0000).map(|l| (l.pa, l.level)), Some((0x8140_0000, 2)));
        assert_eq!(s2.lookup(&mem, 0xbfff_f000).map(|l| l.pa), Some(0xbfff_f000));
        // The shared alias: a different IPA, the same PA.
        let shared = 1u64 << 47;
        s2.map(&mut mem, shared | 0x8123_4000, 0x8123_4000, 0x1000, S2_NORMAL).unwrap();
        assert_eq!(s2.lookup(&mem, shared | 0x8123_4abc).map(|l| l.pa), Some(0x8123_4abc));
        // And back.
        s2.unmap(&mut mem, shared | 0x8123_4000, 0x1000).unwrap();
        s2.map(&mut mem, 0x8123_4000, 0x8123_4000, 0x1000, S2_NORMAL).unwrap();
        assert_eq!(s2.lookup(&mem, shared | 0x8123_4000), None);
        assert_eq!(s2.lookup(&mem, 0x8123_4000).map(|l| l.pa), Some(0x8123_4000));
    }

    #[test]
    fn device_attributes_and_limits() {
        let (mut s2, mut mem) = tables();
        s2.map(&mut mem, 0, 0, 1 << 30, S2_DEVICE).unwrap();
        assert_eq!(s2.lookup(&mem, 0x0900_0000).map(|l| l.attrs), Some(S2_DEVICE));
        assert_eq!(s2.map(&mut mem, 1 << 48, 0, 0x1000, S2_NORMAL), Err(Stage2Error::BadRange { ipa: 1 << 48, size: 0x1000 }));
        assert_eq!(s2.unmap(&mut mem, 0x800, 0x1000), Err(Stage2Error::BadRange { ipa: 0x800, size: 0x1000 }));
        assert_eq!(s2.lookup(&mem, 1 << 48), None);
    }

    #[test]
    fn pool_exhaustion_is_an_error() {
        let mut mem = VecMem::new();
        let mut s2 = Stage2::new(&mut mem, POOL, 2 * GRANULE, 48).unwrap();
        assert_eq!(s2.map(&mut mem, 0x8000_0000, 0x8000_0000, 0x1000, S2_NORMAL), Err(Stage2Error::PoolExhausted));
    }

    #[test]
    fn vtcr_fields() {
        let (s2, _) = tables();
        let v = s2.vtcr(0b110);
        assert_eq!(v & 0x3f, 16);
        assert_eq!((v >> 6) & 3, 0b10);
        assert_eq!((v >> 16) & 7, 0b101);
        assert_eq!(v >> 31, 1);
    }
}
