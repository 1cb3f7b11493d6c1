//! The boot information page: what the harness tells the monitor (where Linux and its
//! device tree are, the RAM Linux owns, realm settings, each CPU's identity). The
//! harness writes it with [`BootInfo::encode`] into a file QEMU loads at
//! [`crate::layout::BOOT_INFO_PA`]; the monitor reads it back with [`BootInfo::decode`].

use crate::host::{HostConfig, Scrub, MAX_DESTROYED};
use crate::layout::{GRANULE, LINUX_RAM_BASE, MAX_CPUS, MAX_LINUX_RAM};

/// "LMOBOOT1", little endian.
pub const MAGIC: u64 = u64::from_le_bytes(*b"LMOBOOT1");
pub const VERSION: u64 = 3;
/// Where the realm host's answers are set: seed, partial progress, refusals per mille of
/// requests to make memory RIPAS RAM and EMPTY, scrubbing, stage-2 pool pages.
const HOST_WORDS: usize = 10 + 2 * MAX_CPUS;
/// Then the host's DESTROYED ranges, start and end each.
const DESTROYED_WORDS: usize = HOST_WORDS + 6;
/// Words in the encoded page.
pub const WORDS: usize = DESTROYED_WORDS + 2 * MAX_DESTROYED;
/// `midr` meaning "what the CPU really reports".
pub const REAL_MIDR: u64 = 0;
/// `bbm` meaning "what the CPU really reports".
pub const REAL_BBM: u64 = 0xff;

/// What one CPU shows Linux.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuIdentity {
    /// MIDR_EL1 through VPIDR_EL2; `None` keeps the CPU's own.
    pub midr: Option<u32>,
    /// ID_AA64MMFR2_EL1.BBM (bits 55:52) through the TID3 trap; `None` keeps the CPU's own.
    pub bbm: Option<u8>,
}

/// Realm settings; absent means Linux runs as an ordinary guest (no RSI, no stage 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealmConfig {
    /// Width of the IPA space; the top IPA bit selects the shared (unprotected) half.
    pub ipa_bits: u8,
    /// How the host answers RIPAS changes.
    pub host: HostConfig,
}

/// Decoded boot information.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootInfo {
    pub linux_entry: u64,
    pub dtb_pa: u64,
    pub linux_ram_base: u64,
    pub linux_ram_size: u64,
    pub cpus: usize,
    pub realm: Option<RealmConfig>,
    pub identities: [CpuIdentity; MAX_CPUS],
}

/// Why a boot information page was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BootInfoError {
    Magic(u64),
    Version(u64),
    Cpus(u64),
    Ram { base: u64, size: u64 },
    IpaBits(u64),
    Bbm { cpu: usize, value: u64 },
    Reject(u64),
    Scrub(u64),
    Stage2Pool(u64),
}

impl core::fmt::Display for BootInfoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            BootInfoError::Magic(m) => write!(f, "boot info: bad magic {m:#018x} (no boot info page loaded?)"),
            BootInfoError::Version(v) => write!(f, "boot info: version {v}, this monitor reads {VERSION}"),
            BootInfoError::Cpus(n) => write!(f, "boot info: {n} CPUs, the monitor supports 1 to {MAX_CPUS}"),
            BootInfoError::Ram { base, size } => write!(
                f,
                "boot info: Linux RAM {base:#x}+{size:#x} must start at {LINUX_RAM_BASE:#x}, be granule-aligned and at most {MAX_LINUX_RAM:#x}"
            ),
            BootInfoError::IpaBits(b) => write!(f, "boot info: ipa_bits {b}, the monitor supports 40 to 48"),
            BootInfoError::Bbm { cpu, value } => write!(f, "boot info: CPU {cpu} BBM {value:#x} is not a 4-bit field value"),
            BootInfoError::Reject(r) => write!(f, "boot info: the host refuses {r} per thousand requests, at most 1000"),
            BootInfoError::Scrub(s) => write!(f, "boot info: scrub mode {s} (0 keep, 1 zero, 2 poison)"),
            BootInfoError::Stage2Pool(n) => write!(f, "boot info: {n} stage-2 pool pages"),
        }
    }
}

/// The IPA widths the monitor's stage 2 supports (4K granule, starting at level 0).
pub const IPA_BITS: core::ops::RangeInclusive<u8> = 40..=48;

impl BootInfo {
    /// The words of the boot information page, little endian.
    pub fn encode(&self) -> [u64; WORDS] {
        let mut w = [0u64; WORDS];
        w[0] = MAGIC;
        w[1] = VERSION;
        w[2] = self.linux_entry;
        w[3] = self.dtb_pa;
        w[4] = self.linux_ram_base;
        w[5] = self.linux_ram_size;
        w[6] = self.cpus as u64;
        w[7] = self.realm.is_some() as u64;
        w[8] = self.realm.map_or(0, |r| r.ipa_bits as u64);
        for (i, id) in self.identities.iter().enumerate() {
            w[10 + 2 * i] = id.midr.map_or(REAL_MIDR, |m| m as u64);
            w[11 + 2 * i] = id.bbm.map_or(REAL_BBM, |b| b as u64);
        }
        if let Some(h) = self.realm.map(|r| r.host) {
            w[HOST_WORDS] = h.seed;
            w[HOST_WORDS + 1] = h.partial_progress as u64;
            w[HOST_WORDS + 2] = h.reject_ram_per_mille as u64;
            w[HOST_WORDS + 3] = h.reject_empty_per_mille as u64;
            w[HOST_WORDS + 4] = h.scrub.encode();
            w[HOST_WORDS + 5] = h.stage2_pool_pages as u64;
            for (i, (start, end)) in h.destroyed.iter().enumerate() {
                w[DESTROYED_WORDS + 2 * i] = *start;
                w[DESTROYED_WORDS + 2 * i + 1] = *end;
            }
        }
        w
    }

    /// The page as bytes, for the file QEMU loads.
    pub fn to_bytes(&self) -> [u8; WORDS * 8] {
        let mut out = [0u8; WORDS * 8];
        for (i, w) in self.encode().iter().enumerate() {
            out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
        }
        out
    }

    /// Decodes and checks the words of a boot information page.
    pub fn decode(w: &[u64; WORDS]) -> Result<BootInfo, BootInfoError> {
        if w[0] != MAGIC {
            return Err(BootInfoError::Magic(w[0]));
        }
        if w[1] != VERSION {
            return Err(BootInfoError::Version(w[1]));
        }
        if w[6] == 0 || w[6] > MAX_CPUS as u64 {
            return Err(BootInfoError::Cpus(w[6]));
        }
        let (base, size) = (w[4], w[5]);
        if base != LINUX_RAM_BASE || size == 0 || size % GRANULE != 0 || size > MAX_LINUX_RAM {
            return Err(BootInfoError::Ram { base, size });
        }
        let realm = if w[7] != 0 {
            if !(40..=48).contains(&w[8]) {
                return Err(BootInfoError::IpaBits(w[8]));
            }
            for r in [w[HOST_WORDS + 2], w[HOST_WORDS + 3]] {
                if r > 1000 {
                    return Err(BootInfoError::Reject(r));
                }
            }
            let scrub = Scrub::decode(w[HOST_WORDS + 4]).ok_or(BootInfoError::Scrub(w[HOST_WORDS + 4]))?;
            let stage2_pool_pages = u32::try_from(w[HOST_WORDS + 5]).map_err(|_| BootInfoError::Stage2Pool(w[HOST_WORDS + 5]))?;
            let mut destroyed = [(0, 0); MAX_DESTROYED];
            for (i, d) in destroyed.iter_mut().enumerate() {
                *d = (w[DESTROYED_WORDS + 2 * i], w[DESTROYED_WORDS + 2 * i + 1]);
            }
            let host = HostConfig {
                destroyed,
                seed: w[HOST_WORDS],
                partial_progress: w[HOST_WORDS + 1] != 0,
                reject_ram_per_mille: w[HOST_WORDS + 2] as u16,
                reject_empty_per_mille: w[HOST_WORDS + 3] as u16,
                scrub,
                stage2_pool_pages,
            };
            Some(RealmConfig { ipa_bits: w[8] as u8, host })
        } else {
            None
        };
        let mut identities = [CpuIdentity { midr: None, bbm: None }; MAX_CPUS];
        for (i, id) in identities.iter_mut().enumerate() {
            let (midr, bbm) = (w[10 + 2 * i], w[11 + 2 * i]);
            id.midr = (midr != REAL_MIDR).then_some(midr as u32);
            id.bbm = match bbm {
                REAL_BBM => None,
                b if b <= 0xf => Some(b as u8),
                value => return Err(BootInfoError::Bbm { cpu: i, value }),
            };
        }
        Ok(BootInfo {
            linux_entry: w[2],
            dtb_pa: w[3],
            linux_ram_base: base,
            linux_ram_size: size,
            cpus: w[6] as usize,
            realm,
            identities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> BootInfo {
        let mut identities = [CpuIdentity { midr: None, bbm: None }; MAX_CPUS];
        identities[0] = CpuIdentity { midr: Some(0x410f_d842), bbm: None };
        identities[1] = CpuIdentity { midr: None, bbm: Some(2) };
        BootInfo {
            linux_entry: 0x8020_0000,
            dtb_pa: 0x8a00_0000,
            linux_ram_base: LINUX_RAM_BASE,
            linux_ram_size: 2 << 30,
            cpus: 2,
            realm: Some(RealmConfig { ipa_bits: 48, host: HostConfig { seed: 7, partial_progress: true, reject_ram_per_mille: 5, reject_empty_per_mille: 6, destroyed: [(0x8000_4000, 0x8000_6000), (0, 0), (0, 0), (0, 0)], scrub: Scrub::Poison, stage2_pool_pages: 40 } }),
            identities,
        }
    }

    #[test]
    fn round_trip() {
        let i = info();
        assert_eq!(BootInfo::decode(&i.encode()), Ok(i));
        let bytes = i.to_bytes();
        assert_eq!(&bytes[..8], b"LMOBOOT1");
    }

    #[test]
    fn refusals_say_what() {
        let mut w = info().encode();
        w[8] = 52;
        assert_eq!(BootInfo::decode(&w), Err(BootInfoError::IpaBits(52)));
        let mut w = info().encode();
        w[13] = 0x10;
        let e = BootInfo::decode(&w).unwrap_err();
        assert_eq!(e, BootInfoError::Bbm { cpu: 1, value: 0x10 });
        assert!(std::format!("{e}").contains("CPU 1"));
        let mut w = info().encode();
        w[HOST_WORDS + 2] = 1001;
        assert_eq!(BootInfo::decode(&w), Err(BootInfoError::Reject(1001)));
        let mut w = info().encode();
        w[HOST_WORDS + 4] = 3;
        assert_eq!(BootInfo::decode(&w), Err(BootInfoError::Scrub(3)));
        let mut w = info().encode();
        w[0] = 0;
        assert!(std::format!("{}", BootInfo::decode(&w).unwrap_err()).contains("no boot info page"));
    }
}
