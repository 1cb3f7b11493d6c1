//! The realm's host as a strict adversary within the rules: how it answers
//! RSI_IPA_STATE_SET. Seeded, so a boot can be reproduced, and every answer is in the
//! event log (the RSI record's `new_base` and response). With partial progress the host
//! stops at a granule, 2 MiB or 1 GiB boundary inside the request (never with no
//! progress on ACCEPT); with refusals it REJECTs a request after converting a prefix of
//! it, possibly empty, as the RMM lets a host do (the REC's `ripas_response` after
//! RMI_RTT_SET_RIPAS of part of the range), with its own rate for requests to make
//! memory RIPAS RAM (protect: the boot's `arm64_rsi_setup_memory()`,
//! `set_memory_encrypted()`) and RIPAS EMPTY (share: `set_memory_decrypted()`).

use crate::layout::GRANULE;

/// How many DESTROYED ranges a scenario can ask for.
pub const MAX_DESTROYED: usize = 4;

/// What the host leaves in a granule whose RIPAS changes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scrub {
    /// The old contents stay (the permissive default: one host page behind both halves).
    #[default]
    Keep,
    /// A granule that leaves RIPAS RAM reads zeros, and so does one that comes back.
    Zero,
    /// A granule that leaves RIPAS RAM reads the seed's poison pattern
    /// ([`poison_word`]); one that comes back to RAM reads zeros.
    Poison,
}

impl Scrub {
    pub fn encode(self) -> u64 {
        self as u64
    }
    pub fn decode(w: u64) -> Option<Scrub> {
        [Scrub::Keep, Scrub::Zero, Scrub::Poison].get(w as usize).copied()
    }
}

/// The poison word a [`Scrub::Poison`] host leaves at `pa` (8-byte aligned): the seed's
/// pattern XOR the address, so a stale read names where it came from.
pub fn poison_word(seed: u64, pa: u64) -> u64 {
    splitmix64(seed ^ 0x706f_6973_6f6e) ^ pa
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// How the host answers; the default accepts every request whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// IPA ranges `[start, end)` of realm RAM the host destroyed before Linux runs
    /// (RIPAS DESTROYED, unmapped at stage 2); `(0, 0)` is no range.
    pub destroyed: [(u64, u64); MAX_DESTROYED],
    pub seed: u64,
    pub partial_progress: bool,
    /// Requests to make memory RIPAS RAM refused, per thousand.
    pub reject_ram_per_mille: u16,
    /// Requests to make memory RIPAS EMPTY refused, per thousand.
    pub reject_empty_per_mille: u16,
    /// What a granule reads after its RIPAS changes.
    pub scrub: Scrub,
    /// Pages the host gives the stage-2 tables (0: the whole pool); a RIPAS change that
    /// would need more stops where they ran out, as a host out of memory answers.
    pub stage2_pool_pages: u32,
}

/// The host's answer to one request: where its progress ends and whether it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub new_base: u64,
    pub accept: bool,
}

/// The host with its random state.
#[derive(Clone, Copy, Debug)]
pub struct Host {
    pub config: HostConfig,
    state: u64,
}

const MIB2: u64 = 2 << 20;
const GIB: u64 = 1 << 30;

impl Host {
    pub fn new(config: HostConfig) -> Host {
        // splitmix64 of the seed: any seed (0 included) gives a non-zero xorshift state.
        Host { config, state: splitmix64(config.seed) | 1 }
    }

    /// xorshift64*.
    fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// The answer to a request to make memory RIPAS RAM (`to_ram`) or EMPTY that the
    /// host could complete up to `top` (granule-aligned, `base < top`).
    pub fn answer(&mut self, base: u64, top: u64, to_ram: bool) -> Answer {
        let granules = (top - base) / GRANULE;
        let reject = if to_ram { self.config.reject_ram_per_mille } else { self.config.reject_empty_per_mille };
        if reject > 0 && self.next() % 1000 < reject as u64 {
            let done = self.next() % granules;
            return Answer { new_base: base + done * GRANULE, accept: false };
        }
        if !self.config.partial_progress || granules < 2 {
            return Answer { new_base: top, accept: true };
        }
        let next_boundary = |size: u64| (base / size + 1) * size;
        let cut = match self.next() % 3 {
            0 if next_boundary(GIB) < top => next_boundary(GIB),
            0 | 1 if next_boundary(MIB2) < top => next_boundary(MIB2),
            _ => base + (1 + self.next() % (granules - 1)) * GRANULE,
        };
        Answer { new_base: cut, accept: true }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_make_progress_and_stay_inside_the_request() {
        for seed in 0..50 {
            let mut h = Host::new(HostConfig { seed, partial_progress: true, reject_ram_per_mille: 100, reject_empty_per_mille: 100, ..HostConfig::default() });
            for (base, top) in [(0x8000_0000u64, 0x8000_2000u64), (0x8010_0000, 0x8050_0000), (0xbfe0_0000, 0xc040_0000), (0x8000_0000, 0x8000_1000)] {
                let a = h.answer(base, top, seed % 2 == 0);
                assert!(a.new_base >= base && a.new_base <= top && a.new_base % GRANULE == 0, "{seed}: {a:?}");
                if a.accept {
                    assert!(a.new_base > base, "an ACCEPT always makes progress: {seed} {a:?}");
                } else {
                    assert!(a.new_base < top, "a refusal leaves part of the request: {seed} {a:?}");
                }
            }
        }
        let mut plain = Host::new(HostConfig::default());
        assert_eq!(plain.answer(0x8000_0000, 0x8040_0000, true), Answer { new_base: 0x8040_0000, accept: true });
        // Refusing shares only: protecting is always accepted.
        let mut shares = Host::new(HostConfig { seed: 1, partial_progress: false, reject_ram_per_mille: 0, reject_empty_per_mille: 1000, ..HostConfig::default() });
        assert!(shares.answer(0x8000_0000, 0x8040_0000, true).accept);
        assert!(!shares.answer(0x8000_0000, 0x8040_0000, false).accept);
    }

    #[test]
    fn the_same_seed_gives_the_same_answers() {
        let cfg = HostConfig { seed: 7, partial_progress: true, ..HostConfig::default() };
        let (mut a, mut b) = (Host::new(cfg), Host::new(cfg));
        for i in 0..20 {
            let base = 0x8000_0000 + i * 0x10_0000;
            assert_eq!(a.answer(base, base + 0x40_0000, false), b.answer(base, base + 0x40_0000, false));
        }
        // Some cut at a 2 MiB boundary, some not.
        let cuts: std::vec::Vec<u64> = (0..20).map(|_| a.answer(0x8010_0000, 0x8090_0000, false).new_base).collect();
        assert!(cuts.iter().any(|c| c % MIB2 == 0) && cuts.iter().any(|c| c % MIB2 != 0), "{cuts:x?}");
    }
}
