//! The realm as the RMM and its host would keep it: the RIPAS of each granule and the
//! stage-2 tables that follow from it. The protected half of the IPA space maps RAM whose
//! RIPAS is RAM and all MMIO at their own addresses; the shared half (top IPA bit set)
//! maps MMIO and RAM whose RIPAS is EMPTY to the same physical addresses. So a realm
//! access to an EMPTY page through its protected address, or to a RAM page through its
//! shared address, faults, as under a real RMM.
//!
//! Unlike real CCA, a page keeps its contents across RIPAS changes (the shared alias is
//! the same physical page), so the host can read shared data at the page's usual place.

use crate::host::{Host, HostConfig};
use crate::layout::{GRANULE, LINUX_RAM_BASE};
use crate::mem::PhysMem;
use crate::ripas::{Ripas, RipasTable};
use crate::smccc::{RSI_ACCEPT, RSI_REJECT};
use crate::stage2::{Stage2, Stage2Error, S2_DEVICE, S2_NORMAL};

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

    /// Builds the initial stage 2: every RAM granule RIPAS RAM (protected), MMIO in both
    /// halves.
    pub fn new<M: PhysMem>(mem: &mut M, ripas: RipasTable, s2_pool: (u64, u64), ipa_bits: u8, host: HostConfig) -> Result<Realm, Stage2Error> {
        let s2 = Stage2::new(mem, s2_pool.0, s2_pool.1, ipa_bits)?;
        let mut realm = Realm { ripas, s2, ipa_bits, host: Host::new(host) };
        ripas.init(mem);
        let shared = realm.shared_bit();
        for (start, end) in MMIO {
            let end = end.min(shared);
            if start < end {
                realm.s2.map(mem, start, start, end - start, S2_DEVICE)?;
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
        self.change(mem, base, answer.new_base, ripas)?;
        Ok(StateSet { new_base: answer.new_base, response: if answer.accept { RSI_ACCEPT } else { RSI_REJECT } })
    }

    /// Sets `[base, top)` (covered RAM) to `ripas` and follows it in stage 2, a run of
    /// granules at a time.
    fn change<M: PhysMem>(&mut self, mem: &mut M, base: u64, top: u64, ripas: Ripas) -> Result<(), Stage2Error> {
        let mut g = base;
        while g < top {
            let was = self.ripas.get(mem, g);
            let mut end = g;
            while end < top && self.ripas.get(mem, end) == was {
                self.ripas.set(mem, end, ripas);
                end += GRANULE;
            }
            if was != ripas {
                let len = end - g;
                let shared = self.shared_bit();
                match ripas {
                    Ripas::Ram => {
                        self.s2.unmap(mem, shared | g, len)?;
                        self.s2.map(mem, g, g, len, S2_NORMAL)?;
                    }
                    _ => {
                        self.s2.unmap(mem, g, len)?;
                        self.s2.map(mem, shared | g, g, len, S2_NORMAL)?;
                    }
                }
            }
            g = end;
        }
        Ok(())
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
        assert!(r.s2.lookup(&mem, page + 0x1_0000).is_some());
        assert!(!r.protected_ram(&mem, page, 8));
        r.ipa_state_set(&mut mem, page, page + 0x1_0000, Ripas::Ram, true).unwrap();
        assert!(r.s2.lookup(&mem, page).is_some());
        assert!(r.s2.lookup(&mem, shared | page).is_none());
        assert!(r.protected_ram(&mem, page, 4096));
    }

    #[test]
    fn mmio_in_both_halves_nothing_for_the_monitor() {
        let (r, mem) = realm();
        assert_eq!(r.s2.lookup(&mem, 0x0900_0000).map(|l| l.attrs), Some(S2_DEVICE));
        assert_eq!(r.s2.lookup(&mem, r.shared_bit() | 0x0808_0000).map(|l| l.pa), Some(0x0808_0000));
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
