//! The realm as the RMM and its host would keep it: the RIPAS of each granule and the
//! stage-2 tables that follow from it. The protected half of the IPA space maps RAM whose
//! RIPAS is RAM at its own addresses; the shared half (top IPA bit set) maps MMIO and RAM
//! whose RIPAS is EMPTY to the same physical addresses, never executable. So a realm
//! access to an EMPTY page or to MMIO through its protected address, to a RAM page
//! through its shared address, or an instruction fetch from the shared half faults, as
//! under TF-RMM (emulated MMIO is the host's, in the shared half).
//!
//! The shared alias is the same physical page (QEMU's devices read guest physical
//! addresses), so by default a page keeps its contents across RIPAS changes; the host's
//! `scrub` makes it zero or poison them, as hardware does.

use crate::host::{poison_word, Host, HostConfig, Scrub};
use crate::layout::{GRANULE, LINUX_RAM_BASE};
use crate::mem::PhysMem;
use crate::ripas::{Ripas, RipasTable};
use crate::smccc::{RSI_ACCEPT, RSI_REJECT};
use crate::stage2::{Stage2, Stage2Error, S2_DEVICE, S2_NORMAL, S2_XN};

/// Free stage-2 table pages a RIPAS change of one run (inside one 2 MiB block) may need:
/// a 1 GiB block split down to pages on the side it leaves, and new tables from level 1
/// down on the side it joins, with room to spare. Below it, the host is out of memory.
const S2_RESERVE: u64 = 8;
const MIB2: u64 = 2 << 20;

/// Where `-machine virt` has MMIO: the first GiB (flash, GIC, UART, RTC, PCIe) and the
/// high regions from 256 GiB (PCIe ECAM) to 1 TiB (64-bit PCIe MMIO).
pub const MMIO: [(u64, u64); 2] = [(0, 1 << 30), (256 << 30, 1 << 40)];

/// The realm's memory state.
pub struct Realm {
    pub ripas: RipasTable,
    pub s2: Stage2,
    pub ipa_bits: u8,
    /// How the host answers RIPAS changes.
    pub host: Host,
}

/// What [`Realm::ipa_state_set`] did: RSI_IPA_STATE_SET's `new_base` and response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSet {
    pub new_base: u64,
    pub response: u64,
}

impl Realm {
    /// Bit selecting the shared half of the IPA space.
    pub fn shared_bit(&self) -> u64 {
        1 << (self.ipa_bits - 1)
    }

    /// Builds the initial stage 2: every RAM granule RIPAS RAM (protected), MMIO in the
    /// shared half only. The host's `stage2_pool_pages` caps the pool.
    pub fn new<M: PhysMem>(mem: &mut M, ripas: RipasTable, s2_pool: (u64, u64), ipa_bits: u8, host: HostConfig) -> Result<Realm, Stage2Error> {
        let pool_size = match host.stage2_pool_pages {
            0 => s2_pool.1,
            n => s2_pool.1.min(n as u64 * GRANULE),
        };
        let s2 = Stage2::new(mem, s2_pool.0, pool_size, ipa_bits)?;
        let mut realm = Realm { ripas, s2, ipa_bits, host: Host::new(host) };
        ripas.init(mem);
        let shared = realm.shared_bit();
        for (start, end) in MMIO {
            let end = end.min(shared);
            if start < end {
                realm.s2.map(mem, shared | start, start, end - start, S2_DEVICE)?;
            }
        }
        realm.s2.map(mem, ripas.ram_base, ripas.ram_base, ripas.ram_size, S2_NORMAL)?;
        // Granules the host destroyed: RIPAS DESTROYED, no stage-2 mapping.
        for (start, end) in host.destroyed {
            let (start, end) = (start.max(ripas.ram_base) & !(GRANULE - 1), end.min(ripas.ram_base + ripas.ram_size));
            let mut g = start;
            while g < end {
                realm.ripas.set(mem, g, Ripas::Destroyed);
                g += GRANULE;
            }
            if start < end {
                realm.s2.unmap(mem, start, end - start)?;
            }
        }
        Ok(realm)
    }

    /// Whether `ipa` is a protected address of realm RAM whose RIPAS is RAM, for `len`
    /// bytes (where the RMM may write results the realm asked for).
    pub fn protected_ram<M: PhysMem>(&self, mem: &M, ipa: u64, len: u64) -> bool {
        let last = ipa + len.max(1) - 1;
        let mut g = ipa & !(GRANULE - 1);
        while g <= last {
            if !self.ripas.covers(g) || self.ripas.get(mem, g) != Ripas::Ram {
                return false;
            }
            g += GRANULE;
        }
        true
    }

    /// RSI_IPA_STATE_SET's effect once validated. The host rejects a request that starts
    /// at a granule it has no RAM for, and one it can make no progress on (a DESTROYED
    /// granule at `base` without `change_destroyed`: TF-RMM changes nothing and the host
    /// rejects, so the realm does not retry forever). Otherwise the request can go up to
    /// the first granule without RAM or DESTROYED one (without `change_destroyed`), and
    /// the host's own answer ([`Host::answer`]) says how far it goes and whether it
    /// accepts; the part it did is changed either way.
    pub fn ipa_state_set<M: PhysMem>(&mut self, mem: &mut M, base: u64, top: u64, ripas: Ripas, change_destroyed: bool) -> Result<StateSet, Stage2Error> {
        let mut g = base;
        while g < top {
            if !self.ripas.covers(g) || (self.ripas.get(mem, g) == Ripas::Destroyed && !change_destroyed) {
                break;
            }
            g += GRANULE;
        }
        if g == base {
            return Ok(StateSet { new_base: base, response: RSI_REJECT });
        }
        let answer = self.host.answer(base, g, ripas == Ripas::Ram);
        let reached = self.change(mem, base, answer.new_base, ripas)?;
        if reached < answer.new_base {
            // Out of stage-2 tables: the host stops where they ran out and refuses only
            // when it made no progress at all (no ACCEPT without progress).
            let response = if reached > base { RSI_ACCEPT } else { RSI_REJECT };
            return Ok(StateSet { new_base: reached, response });
        }
        Ok(StateSet { new_base: answer.new_base, response: if answer.accept { RSI_ACCEPT } else { RSI_REJECT } })
    }

    /// Sets `[base, top)` (covered RAM) to `ripas` and follows it in stage 2, a run of
    /// granules (inside one 2 MiB block) at a time, scrubbing as the host does; returns
    /// where it stopped: `top`, or the first run the stage-2 pool had no room for.
    fn change<M: PhysMem>(&mut self, mem: &mut M, base: u64, top: u64, ripas: Ripas) -> Result<u64, Stage2Error> {
        let mut g = base;
        while g < top {
            let was = self.ripas.get(mem, g);
            let limit = ((g / MIB2 + 1) * MIB2).min(top);
            let mut end = g;
            while end < limit && self.ripas.get(mem, end) == was {
                end += GRANULE;
            }
            if was != ripas {
                if self.s2.pages_free() < S2_RESERVE {
                    return Ok(g);
                }
                let len = end - g;
                let shared = self.shared_bit();
                let mut a = g;
                while a < end {
                    self.ripas.set(mem, a, ripas);
                    a += GRANULE;
                }
                match ripas {
                    Ripas::Ram => {
                        self.s2.unmap(mem, shared | g, len)?;
                        self.s2.map(mem, g, g, len, S2_NORMAL)?;
                    }
                    _ => {
                        self.s2.unmap(mem, g, len)?;
                        self.s2.map(mem, shared | g, g, len, S2_NORMAL | S2_XN)?;
                    }
                }
                self.scrub(mem, g, end, ripas);
            }
            g = end;
        }
        Ok(top)
    }

    /// What the host leaves in `[start, end)` after it became `ripas`: with scrubbing,
    /// poison or zeros where it left RAM, zeros where it came back.
    fn scrub<M: PhysMem>(&self, mem: &mut M, start: u64, end: u64, ripas: Ripas) {
        let seed = self.host.config.seed;
        match (self.host.config.scrub, ripas) {
            (Scrub::Keep, _) => {}
            (Scrub::Poison, Ripas::Empty) => {
                let mut a = start;
                while a < end {
                    mem.write_u64(a, poison_word(seed, a));
                    a += 8;
                }
            }
            _ => mem.zero(start, end - start),
        }
    }
}

/// The RIPAS table for Linux's RAM.
pub fn linux_ripas(table_pa: u64, ram_size: u64) -> RipasTable {
    RipasTable { table_pa, ram_base: LINUX_RAM_BASE, ram_size }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::mem::VecMem;

    /// Test memory: RIPAS table at 0, stage-2 pool after it, Linux RAM of 16 MiB.
    pub fn realm() -> (Realm, VecMem) {
        let ram = 16 << 20;
        let table = 0x10_0000;
        let pool = (0x20_0000, 256 * GRANULE);
        let mut mem = VecMem::new();
        let r = Realm::new(&mut mem, linux_ripas(table, ram), pool, 48, HostConfig::default()).unwrap();
        (r, mem)
    }

    #[test]
    fn sharing_moves_a_page_to_the_shared_half() {
        let (mut r, mut mem) = realm();
        let page = LINUX_RAM_BASE + 0x30_0000;
        let shared = r.shared_bit();
        assert!(r.s2.lookup(&mem, page).is_some());
        assert!(r.s2.lookup(&mem, shared | page).is_none());
        let s = r.ipa_state_set(&mut mem, page, page + 0x1_0000, Ripas::Empty, true).unwrap();
        assert_eq!(s, StateSet { new_base: page + 0x1_0000, response: RSI_ACCEPT });
        assert!(r.s2.lookup(&mem, page).is_none());
        assert!(r.s2.lookup(&mem, page + 0xf000).is_none());
        assert_eq!(r.s2.lookup(&mem, shared | page | 0x123).map(|l| l.pa), Some(page | 0x123));
        assert_eq!(r.s2.lookup(&mem, shared | page).map(|l| l.attrs), Some(S2_NORMAL | S2_XN), "the shared alias is never executable");
        assert!(r.s2.lookup(&mem, page + 0x1_0000).is_some());
        assert!(!r.protected_ram(&mem, page, 8));
        r.ipa_state_set(&mut mem, page, page + 0x1_0000, Ripas::Ram, true).unwrap();
        assert!(r.s2.lookup(&mem, page).is_some());
        assert!(r.s2.lookup(&mem, shared | page).is_none());
        assert!(r.protected_ram(&mem, page, 4096));
    }

    #[test]
    fn mmio_in_the_shared_half_only_nothing_for_the_monitor() {
        let (r, mem) = realm();
        assert!(r.s2.lookup(&mem, 0x0900_0000).is_none(), "the UART's protected address faults");
        assert_eq!(r.s2.lookup(&mem, r.shared_bit() | 0x0900_0000).map(|l| l.attrs), Some(S2_DEVICE));
        assert_eq!(r.s2.lookup(&mem, r.shared_bit() | 0x0808_0000).map(|l| l.pa), Some(0x0808_0000));
        assert!(r.s2.lookup(&mem, 256 << 30).is_none());
        assert_eq!(r.s2.lookup(&mem, r.shared_bit() | (256 << 30)).map(|l| l.pa), Some(256 << 30));
        assert!(r.s2.lookup(&mem, 0x4000_0000).is_none(), "the monitor's GiB is not the realm's");
        assert!(r.s2.lookup(&mem, LINUX_RAM_BASE + (16 << 20)).is_none());
    }

    #[test]
    fn host_rejects_what_it_has_no_ram_for() {
        let (mut r, mut mem) = realm();
        let end = LINUX_RAM_BASE + (16 << 20);
        let s = r.ipa_state_set(&mut mem, end - 0x2000, end + 0x2000, Ripas::Empty, true).unwrap();
        assert_eq!(s, StateSet { new_base: end, response: RSI_ACCEPT });
        let s = r.ipa_state_set(&mut mem, end, end + 0x2000, Ripas::Empty, true).unwrap();
        assert_eq!(s, StateSet { new_base: end, response: RSI_REJECT });
    }

    #[test]
    fn scrubbing_poisons_what_is_shared_and_zeroes_what_comes_back() {
        for scrub in [Scrub::Keep, Scrub::Zero, Scrub::Poison] {
            let mut mem = VecMem::new();
            let host = HostConfig { seed: 9, scrub, ..HostConfig::default() };
            let mut r = Realm::new(&mut mem, linux_ripas(0x10_0000, 16 << 20), (0x20_0000, 256 * GRANULE), 48, host).unwrap();
            let page = LINUX_RAM_BASE + 0x30_0000;
            mem.write_u64(page + 0x18, 0x1234);
            r.ipa_state_set(&mut mem, page, page + 0x2000, Ripas::Empty, true).unwrap();
            let want = match scrub {
                Scrub::Keep => 0x1234,
                Scrub::Zero => 0,
                Scrub::Poison => poison_word(9, page + 0x18),
            };
            assert_eq!(mem.read_u64(page + 0x18), want, "{scrub:?}");
            assert_eq!(mem.read_u64(page + 0x1ff8) == poison_word(9, page + 0x1ff8), scrub == Scrub::Poison, "the whole range");
            // A page next to the range keeps its contents.
            mem.write_u64(page + 0x2000, 0x55);
            r.ipa_state_set(&mut mem, page, page + 0x2000, Ripas::Ram, true).unwrap();
            assert_eq!(mem.read_u64(page + 0x18), if scrub == Scrub::Keep { 0x1234 } else { 0 }, "{scrub:?} back to RAM");
            assert_eq!(mem.read_u64(page + 0x2000), 0x55);
        }
    }

    #[test]
    fn a_stage2_pool_that_runs_out_is_partial_progress_then_a_refusal() {
        let mut mem = VecMem::new();
        // Tables for the initial map (root, level 1, level 2 for the RAM's 2 MiB blocks and
        // the MMIO) and little more.
        let host = HostConfig { stage2_pool_pages: 16, ..HostConfig::default() };
        let mut r = Realm::new(&mut mem, linux_ripas(0x10_0000, 16 << 20), (0x20_0000, 256 * GRANULE), 48, host).unwrap();
        let free = r.s2.pages_free();
        assert!(free >= S2_RESERVE && free < 16, "{free}");
        // Sharing one page out of each 2 MiB block takes a level-3 table on each side.
        let mut shared = 0;
        let mut last = None;
        for block in 0..8u64 {
            let page = LINUX_RAM_BASE + block * MIB2;
            let s = r.ipa_state_set(&mut mem, page, page + GRANULE, Ripas::Empty, true).unwrap();
            if s.response == RSI_ACCEPT {
                assert_eq!(s.new_base, page + GRANULE);
                shared += 1;
            } else {
                assert_eq!(s.new_base, page, "no progress, refused: never an ACCEPT that makes none");
                last = Some(page);
                break;
            }
        }
        assert!(shared > 0 && last.is_some(), "{shared} shared before the pool ran out");
        assert_eq!(r.ripas.get(&mem, last.unwrap()), Ripas::Ram, "a refusal changed nothing");

        // A pool with room for one run that needs tables and not for the next: the host
        // converts the first run and accepts that much.
        let pool = (0x20_0000, 256 * GRANULE);
        let used = {
            let mut mem = VecMem::new();
            let r = Realm::new(&mut mem, linux_ripas(0x10_0000, 16 << 20), pool, 48, HostConfig::default()).unwrap();
            r.s2.pages_used(pool.0)
        };
        let mut mem = VecMem::new();
        let host = HostConfig { stage2_pool_pages: (used + S2_RESERVE + 2) as u32, ..HostConfig::default() };
        let mut r = Realm::new(&mut mem, linux_ripas(0x10_0000, 16 << 20), pool, 48, host).unwrap();
        let base = LINUX_RAM_BASE + MIB2 - GRANULE;
        let s = r.ipa_state_set(&mut mem, base, LINUX_RAM_BASE + 3 * MIB2 + GRANULE, Ripas::Empty, true).unwrap();
        assert_eq!(s, StateSet { new_base: LINUX_RAM_BASE + MIB2, response: RSI_ACCEPT });
        assert_eq!(r.ripas.get(&mem, base), Ripas::Empty);
        assert_eq!(r.ripas.get(&mem, LINUX_RAM_BASE + MIB2), Ripas::Ram, "nothing past where it stopped changed");
        assert!(r.s2.lookup(&mem, LINUX_RAM_BASE + MIB2).is_some());
    }

    #[test]
    fn destroyed_ranges_from_the_host_are_unmapped() {
        let mut mem = VecMem::new();
        let mut host = HostConfig::default();
        host.destroyed[0] = (LINUX_RAM_BASE + 0x4000, LINUX_RAM_BASE + 0x6000);
        let mut r = Realm::new(&mut mem, linux_ripas(0x10_0000, 16 << 20), (0x20_0000, 256 * GRANULE), 48, host).unwrap();
        assert_eq!(r.ripas.get(&mem, LINUX_RAM_BASE + 0x5000), Ripas::Destroyed);
        assert!(r.s2.lookup(&mem, LINUX_RAM_BASE + 0x5000).is_none());
        assert!(r.s2.lookup(&mem, LINUX_RAM_BASE + 0x6000).is_some());
        // arm64_rsi_setup_memory() (no RSI_CHANGE_DESTROYED) gets up to the hole, then a
        // refusal where it would otherwise spin.
        let s = r.ipa_state_set(&mut mem, LINUX_RAM_BASE, LINUX_RAM_BASE + 0x8000, Ripas::Ram, false).unwrap();
        assert_eq!(s, StateSet { new_base: LINUX_RAM_BASE + 0x4000, response: RSI_ACCEPT });
        let s = r.ipa_state_set(&mut mem, s.new_base, LINUX_RAM_BASE + 0x8000, Ripas::Ram, false).unwrap();
        assert_eq!(s, StateSet { new_base: LINUX_RAM_BASE + 0x4000, response: RSI_REJECT });
    }

    #[test]
    fn destroyed_granules_stop_a_no_change_destroyed_request() {
        let (mut r, mut mem) = realm();
        let base = LINUX_RAM_BASE;
        r.ripas.set(&mut mem, base + 0x3000, Ripas::Destroyed);
        let s = r.ipa_state_set(&mut mem, base, base + 0x8000, Ripas::Ram, false).unwrap();
        assert_eq!(s, StateSet { new_base: base + 0x3000, response: RSI_ACCEPT });
        // From the DESTROYED granule on, no progress is possible: a refusal, not an
        // ACCEPT the realm would retry forever.
        let s = r.ipa_state_set(&mut mem, base + 0x3000, base + 0x8000, Ripas::Ram, false).unwrap();
        assert_eq!(s, StateSet { new_base: base + 0x3000, response: RSI_REJECT });
        let s = r.ipa_state_set(&mut mem, base, base + 0x8000, Ripas::Ram, true).unwrap();
        assert_eq!(s.new_base, base + 0x8000);
        assert_eq!(r.ripas.get(&mem, base + 0x3000), Ripas::Ram);
    }
}

#[cfg(test)]
mod host_tests {
    use super::tests::realm;
    use super::*;

    #[test]
    fn a_partial_answer_changes_only_what_the_host_did() {
        let (mut r, mut mem) = realm();
        r.host = Host::new(HostConfig { seed: 3, partial_progress: true, ..HostConfig::default() });
        let (base, top) = (LINUX_RAM_BASE + 0x10_0000, LINUX_RAM_BASE + 0x50_0000);
        let mut at = base;
        let mut calls = 0;
        while at != top {
            let s = r.ipa_state_set(&mut mem, at, top, Ripas::Empty, true).unwrap();
            assert_eq!(s.response, RSI_ACCEPT);
            assert!(s.new_base > at && s.new_base <= top);
            assert_eq!(r.ripas.get(&mem, s.new_base - GRANULE), Ripas::Empty);
            if s.new_base < top {
                assert_eq!(r.ripas.get(&mem, s.new_base), Ripas::Ram, "nothing past the host's progress changes");
            }
            at = s.new_base;
            calls += 1;
        }
        assert!(calls > 1, "partial progress takes more than one call");
    }

    #[test]
    fn a_refusal_keeps_the_prefix_it_converted() {
        let (mut r, mut mem) = realm();
        r.host = Host::new(HostConfig { seed: 1, partial_progress: false, reject_ram_per_mille: 0, reject_empty_per_mille: 1000, ..HostConfig::default() });
        let (base, top) = (LINUX_RAM_BASE, LINUX_RAM_BASE + 0x8_0000);
        let s = r.ipa_state_set(&mut mem, base, top, Ripas::Empty, true).unwrap();
        assert_eq!(s.response, RSI_REJECT);
        assert!(s.new_base < top);
        let mut g = base;
        while g < top {
            assert_eq!(r.ripas.get(&mem, g), if g < s.new_base { Ripas::Empty } else { Ripas::Ram });
            g += GRANULE;
        }
    }
}
