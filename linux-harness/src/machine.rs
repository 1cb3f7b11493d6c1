//! A scenario's `machine` section and its QEMU arguments.

use serde::{Deserialize, Deserializer, Serialize};

/// The guest machine: `-machine virt` with GICv3 + ITS and these settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MachineSpec {
    /// Number of CPUs (`-smp`), 1 to 8.
    #[serde(deserialize_with = "cpus")]
    pub cpus: u32,
    /// RAM in MiB, at least 256.
    #[serde(deserialize_with = "memory")]
    pub memory_mib: u64,
    /// QEMU CPU model (`-cpu`).
    #[serde(default = "default_cpu")]
    pub cpu: String,
    /// MIDR_EL1 the CPUs report (`-cpu MODEL,midr=`), as a hex string.
    #[serde(default, deserialize_with = "midr", serialize_with = "ser_midr", skip_serializing_if = "Option::is_none")]
    pub midr: Option<u32>,
    /// What each CPU shows Linux, boot CPU first (one entry per CPU). Needs the EL2
    /// monitor, which presents it through VPIDR_EL2 and the HCR_EL2.TID3 trap.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_cpu: Vec<CpuSpec>,
    /// Run Linux as a realm guest under the EL2 monitor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<RealmSpec>,
    /// Carve-outs the device tree's `/reserved-memory` gives Linux (at most four). Needs
    /// the EL2 monitor, whose device tree for Linux the harness writes.
    #[serde(default, deserialize_with = "reserved_memory", skip_serializing_if = "Vec::is_empty")]
    pub reserved_memory: Vec<ReservedMemory>,
}

/// One `/reserved-memory` child node.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReservedMemory {
    /// `[start, end)`, written `"0xSTART-0xEND"` (byte addresses: firmware carve-outs
    /// need not be page-aligned).
    #[serde(deserialize_with = "byte_range", serialize_with = "ser_byte_range")]
    pub range: (u64, u64),
    /// The `no-map` property: Linux must not map it (`MEMBLOCK_NOMAP`).
    #[serde(default)]
    pub no_map: bool,
}

/// `"0xSTART-0xEND"`, START below END.
fn parse_byte_range(t: &str) -> Option<(u64, u64)> {
    let (a, b) = t.split_once('-')?;
    let hex = |x: &str| x.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok());
    let (a, b) = (hex(a)?, hex(b)?);
    (a < b).then_some((a, b))
}

fn byte_range<'de, D: Deserializer<'de>>(d: D) -> Result<(u64, u64), D::Error> {
    let t = String::deserialize(d)?;
    parse_byte_range(&t).ok_or_else(|| serde::de::Error::custom(format!("{t:?}: expected \"0xSTART-0xEND\", START below END")))
}

fn ser_byte_range<S: serde::Serializer>(r: &(u64, u64), s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{:#x}-{:#x}", r.0, r.1))
}

fn reserved_memory<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ReservedMemory>, D::Error> {
    let v = Vec::<ReservedMemory>::deserialize(d)?;
    if v.len() > 4 {
        return Err(serde::de::Error::custom(format!("{} reserved ranges: at most 4", v.len())));
    }
    Ok(v)
}

/// One CPU's identity under the monitor; unset fields keep what the CPU model reports.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CpuSpec {
    /// MIDR_EL1 (hex string, like `machine.midr`).
    #[serde(default, deserialize_with = "midr", serialize_with = "ser_midr", skip_serializing_if = "Option::is_none")]
    pub midr: Option<u32>,
    /// ID_AA64MMFR2_EL1.BBM, 0 to 15.
    #[serde(default, deserialize_with = "bbm", skip_serializing_if = "Option::is_none")]
    pub bbm: Option<u8>,
}

/// Realm settings.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RealmSpec {
    /// Width of the realm's IPA space (40 to 48); the top bit is the shared bit.
    #[serde(default = "default_ipa_bits", deserialize_with = "ipa_bits")]
    pub ipa_bits: u8,
    /// How the realm's host answers RIPAS changes (default: every request accepted
    /// whole).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostSpec>,
}

/// The realm host's answers to RSI_IPA_STATE_SET, seeded (the EL2 monitor's
/// `host.rs`; every answer is in its event log).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostSpec {
    #[serde(default)]
    pub seed: u64,
    /// Stop short of the request at a granule, 2 MiB or 1 GiB boundary (always with
    /// some progress).
    #[serde(default)]
    pub partial_progress: bool,
    /// The share of requests to make memory RIPAS RAM the host refuses (REJECT after
    /// converting a prefix, maybe empty), 0 to 1 in steps of 0.001: the boot's own
    /// `arm64_rsi_setup_memory()` and `set_memory_encrypted()`.
    #[serde(default, rename = "reject_ram", deserialize_with = "per_mille", serialize_with = "ser_per_mille")]
    pub reject_ram_per_mille: u16,
    /// The same for requests to make memory RIPAS EMPTY (`set_memory_decrypted()`).
    #[serde(default, rename = "reject_empty", deserialize_with = "per_mille", serialize_with = "ser_per_mille")]
    pub reject_empty_per_mille: u16,
    /// Realm RAM the host destroyed before Linux runs (`"0xSTART-0xEND"`, granule
    /// aligned, at most four): RIPAS DESTROYED and unmapped at stage 2.
    #[serde(default, deserialize_with = "destroyed_ranges", serialize_with = "ser_destroyed", skip_serializing_if = "Vec::is_empty")]
    pub destroyed: Vec<(u64, u64)>,
    /// What a granule reads after its RIPAS changes: `keep` (default), `zero`, or
    /// `poison` (the seed's pattern where memory becomes shared, zeros where it comes
    /// back).
    #[serde(default, skip_serializing_if = "ScrubSpec::is_keep")]
    pub scrub: ScrubSpec,
    /// Pages the host gives its stage-2 tables (default: the monitor's whole pool of
    /// 16384); a RIPAS change past them stops there (partial progress, or a refusal
    /// with none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage2_pool_pages: Option<u32>,
}

/// `machine.realm.host.scrub`.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScrubSpec {
    #[default]
    Keep,
    Zero,
    Poison,
}

impl ScrubSpec {
    fn is_keep(&self) -> bool {
        *self == ScrubSpec::Keep
    }
}

fn destroyed_ranges<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(u64, u64)>, D::Error> {
    let texts = Vec::<String>::deserialize(d)?;
    if texts.len() > lmo_monitor::host::MAX_DESTROYED {
        return Err(serde::de::Error::custom(format!("{} ranges: the monitor takes at most {}", texts.len(), lmo_monitor::host::MAX_DESTROYED)));
    }
    texts
        .iter()
        .map(|t| match parse_byte_range(t) {
            Some((a, b)) if a % 4096 == 0 && b % 4096 == 0 => Ok((a, b)),
            _ => Err(serde::de::Error::custom(format!("{t:?}: expected \"0xSTART-0xEND\", 4 KiB aligned, START below END"))),
        })
        .collect()
}

fn ser_destroyed<S: serde::Serializer>(v: &[(u64, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|(a, b)| format!("{a:#x}-{b:#x}")))
}

impl HostSpec {
    /// The monitor's form.
    pub fn config(&self) -> lmo_monitor::host::HostConfig {
        let mut destroyed = [(0, 0); lmo_monitor::host::MAX_DESTROYED];
        for (d, r) in destroyed.iter_mut().zip(&self.destroyed) {
            *d = *r;
        }
        lmo_monitor::host::HostConfig {
            destroyed,
            scrub: match self.scrub {
                ScrubSpec::Keep => lmo_monitor::host::Scrub::Keep,
                ScrubSpec::Zero => lmo_monitor::host::Scrub::Zero,
                ScrubSpec::Poison => lmo_monitor::host::Scrub::Poison,
            },
            stage2_pool_pages: self.stage2_pool_pages.unwrap_or(0),
            seed: self.seed,
            partial_progress: self.partial_progress,
            reject_ram_per_mille: self.reject_ram_per_mille,
            reject_empty_per_mille: self.reject_empty_per_mille,
        }
    }
}

fn per_mille<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let p = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&p) {
        return Err(serde::de::Error::custom(format!("{p}: a share of requests, 0 to 1")));
    }
    Ok((p * 1000.0).round() as u16)
}

fn ser_per_mille<S: serde::Serializer>(v: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(*v as f64 / 1000.0)
}

/// 48 bits: the shared bit is then PA bit 47, the highest a 48-bit-PA kernel maps.
pub fn default_ipa_bits() -> u8 {
    48
}

fn bbm<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u8>, D::Error> {
    let n = u8::deserialize(d)?;
    if n > 15 {
        return Err(serde::de::Error::custom(format!("{n}: ID_AA64MMFR2_EL1.BBM is a 4-bit field (0 to 15)")));
    }
    Ok(Some(n))
}

fn ipa_bits<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let n = u8::deserialize(d)?;
    if !lmo_monitor::bootinfo::IPA_BITS.contains(&n) {
        return Err(serde::de::Error::custom(format!("{n} bits: the monitor supports IPA spaces of 40 to 48 bits")));
    }
    Ok(n)
}

fn default_cpu() -> String {
    "max".into()
}

fn cpus<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if !(1..=8).contains(&n) {
        return Err(serde::de::Error::custom(format!("{n} CPUs: must be 1 to 8 (the kernel is built with NR_CPUS=8)")));
    }
    Ok(n)
}

fn memory<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if !(256..=65536).contains(&n) {
        return Err(serde::de::Error::custom(format!("{n} MiB: must be 256 to 65536")));
    }
    Ok(n)
}

/// Parses `"0x410fd842"` (hex with 0x, up to 32 bits).
pub fn parse_midr(s: &str) -> Result<u32, String> {
    let hex = s.strip_prefix("0x").ok_or_else(|| format!("{s:?}: a MIDR is written as hex with 0x, like \"0x410fd842\""))?;
    u32::from_str_radix(hex, 16).map_err(|e| format!("{s:?}: not a 32-bit hex number ({e})"))
}

fn midr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let s = String::deserialize(d)?;
    parse_midr(&s).map(Some).map_err(serde::de::Error::custom)
}

fn ser_midr<S: serde::Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(m) => s.serialize_str(&format!("{m:#010x}")),
        None => s.serialize_none(),
    }
}

/// The fewest stage-2 table pages a scenario may give the host: the initial map of RAM
/// and MMIO takes about eight.
const MIN_STAGE2_POOL_PAGES: u64 = 16;

/// The PL011 of `-machine virt`.
const VIRT_UART: u64 = 0x0900_0000;

impl MachineSpec {
    /// Whether this machine needs the EL2 monitor (a realm, or per-CPU identities).
    pub fn needs_monitor(&self) -> bool {
        self.realm.is_some() || !self.per_cpu.is_empty() || !self.reserved_memory.is_empty()
    }

    /// The kernel's early console: the DT's UART, or for a realm its shared alias (the
    /// realm's MMIO is in the shared half only, and earlycon runs before Linux's ioremap
    /// knows it is a realm: Documentation/arch/arm64/arm-cca.rst).
    pub fn earlycon(&self) -> String {
        match &self.realm {
            Some(r) => format!("earlycon=pl011,{:#x}", (1u64 << (r.ipa_bits - 1)) | VIRT_UART),
            None => "earlycon".to_string(),
        }
    }

    /// Checks what single fields cannot: the field at fault and why.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !self.per_cpu.is_empty() && self.per_cpu.len() != self.cpus as usize {
            return Err(("machine.per_cpu", format!("{} entries for {} CPUs: give one per CPU, boot CPU first", self.per_cpu.len(), self.cpus)));
        }
        if self.needs_monitor() && self.memory_mib << 20 > lmo_monitor::layout::MAX_LINUX_RAM {
            return Err(("machine.memory_mib", format!("{} MiB: the monitor tracks at most {} MiB of realm RAM", self.memory_mib, lmo_monitor::layout::MAX_LINUX_RAM >> 20)));
        }
        let pool_pages = self.realm.as_ref().and_then(|r| r.host.as_ref()).and_then(|h| h.stage2_pool_pages);
        let whole = lmo_monitor::layout::S2_POOL_SIZE / lmo_monitor::layout::GRANULE;
        if let Some(n) = pool_pages.filter(|n| !(MIN_STAGE2_POOL_PAGES..=whole).contains(&(*n as u64))) {
            return Err(("machine.realm.host.stage2_pool_pages", format!("{n}: from {MIN_STAGE2_POOL_PAGES} (the realm's initial stage 2 and one RIPAS change) to {whole} (the monitor's pool)")));
        }
        Ok(())
    }

    /// One line for reports: CPUs, RAM, CPU model, realm and per-CPU identities.
    pub fn describe(&self) -> String {
        let mut s = format!("{} CPUs, {} MiB, -cpu {}", self.cpus, self.memory_mib, self.cpu_arg());
        if let Some(r) = &self.realm {
            s.push_str(&format!("; realm ({}-bit IPA)", r.ipa_bits));
            if let Some(h) = &r.host {
                s.push_str(&format!("; host seed {}{}{}", h.seed, if h.partial_progress { ", partial progress" } else { "" }, if h.reject_ram_per_mille + h.reject_empty_per_mille > 0 { format!(", refuses {}/1000 protect and {}/1000 share requests", h.reject_ram_per_mille, h.reject_empty_per_mille) } else { String::new() }));
                if !h.destroyed.is_empty() {
                    s.push_str(&format!(", {} destroyed range(s)", h.destroyed.len()));
                }
                if h.scrub != ScrubSpec::Keep {
                    s.push_str(&format!(", scrubs ({:?})", h.scrub).to_lowercase());
                }
                if let Some(n) = h.stage2_pool_pages {
                    s.push_str(&format!(", {n} stage-2 table pages"));
                }
            }
        }
        for (i, c) in self.per_cpu.iter().enumerate() {
            let midr = c.midr.map(|m| format!(" MIDR {m:#010x}")).unwrap_or_default();
            let bbm = c.bbm.map(|b| format!(" BBM {b}")).unwrap_or_default();
            if !midr.is_empty() || !bbm.is_empty() {
                s.push_str(&format!("; CPU {i}{midr}{bbm}"));
            }
        }
        if self.needs_monitor() {
            s.push_str("; under the EL2 monitor");
        }
        s
    }

    /// The RAM QEMU is given: Linux's, plus the monitor's GiB below it.
    pub fn qemu_ram_mib(&self) -> u64 {
        if self.needs_monitor() {
            self.memory_mib + (lmo_monitor::layout::MONITOR_RESERVED >> 20)
        } else {
            self.memory_mib
        }
    }

    /// The `-cpu` argument.
    pub fn cpu_arg(&self) -> String {
        match self.midr {
            Some(m) => format!("{},midr={m:#010x}", self.cpu),
            None => self.cpu.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_memory_ranges() {
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":1,"memory_mib":2048,"reserved_memory":[{"range":"0x90000800-0x90200800","no_map":true}]}"#).unwrap();
        assert_eq!(m.reserved_memory, [ReservedMemory { range: (0x9000_0800, 0x9020_0800), no_map: true }]);
        assert!(m.needs_monitor());
        assert_eq!(serde_json::to_value(&m.reserved_memory[0]).unwrap()["range"], "0x90000800-0x90200800");
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":1,"memory_mib":2048,"reserved_memory":[{"range":"0x2000-0x1000"}]}"#).unwrap_err();
        assert!(e.to_string().contains("\"0x2000-0x1000\": expected \"0xSTART-0xEND\", START below END"), "{e}");
    }

    #[test]
    fn midr_forms() {
        assert_eq!(parse_midr("0x410fd842"), Ok(0x410fd842));
        assert!(parse_midr("410fd842").unwrap_err().contains("hex with 0x"));
        assert!(parse_midr("0x1410fd842").unwrap_err().contains("not a 32-bit"));
    }

    #[test]
    fn cpu_arg_carries_midr() {
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":2,"memory_mib":2048,"midr":"0x410fd842"}"#).unwrap();
        assert_eq!(m.cpu_arg(), "max,midr=0x410fd842");
    }

    #[test]
    fn per_cpu_and_realm() {
        let m: MachineSpec = serde_json::from_str(
            r#"{"cpus":2,"memory_mib":2048,"per_cpu":[{"midr":"0x410fd842"},{"bbm":2}],"realm":{}}"#,
        )
        .unwrap();
        assert_eq!(m.per_cpu[0], CpuSpec { midr: Some(0x410f_d842), bbm: None });
        assert_eq!(m.per_cpu[1], CpuSpec { midr: None, bbm: Some(2) });
        assert_eq!(m.realm, Some(RealmSpec { ipa_bits: 48, host: None }));
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"seed":7,"partial_progress":true,"reject_ram":0.1}}}"#).unwrap();
        assert_eq!(m.realm.as_ref().unwrap().host, Some(HostSpec { seed: 7, partial_progress: true, reject_ram_per_mille: 100, reject_empty_per_mille: 0, destroyed: vec![], ..HostSpec::default() }));
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"reject_ram":2}}}"#).unwrap_err();
        assert!(e.to_string().contains("0 to 1"), "{e}");
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"destroyed":["0x80000000-0x80010000"]}}}"#).unwrap();
        assert_eq!(m.realm.as_ref().unwrap().host.as_ref().unwrap().destroyed, vec![(0x8000_0000, 0x8001_0000)]);
        assert_eq!(m.earlycon(), "earlycon=pl011,0x800009000000");
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":1,"memory_mib":2048,"realm":{"ipa_bits":40}}"#).unwrap();
        assert_eq!(m.earlycon(), "earlycon=pl011,0x8009000000");
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"scrub":"poison","stage2_pool_pages":40}}}"#).unwrap();
        let h = m.realm.as_ref().unwrap().host.as_ref().unwrap().config();
        assert_eq!((h.scrub, h.stage2_pool_pages), (lmo_monitor::host::Scrub::Poison, 40));
        let tiny: MachineSpec = serde_json::from_str(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"stage2_pool_pages":3}}}"#).unwrap();
        let (field, why) = tiny.validate().unwrap_err();
        assert_eq!(field, "machine.realm.host.stage2_pool_pages");
        assert!(why.starts_with("3: from 16"), "{why}");
        assert!(serde_json::from_str::<MachineSpec>(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"scrub":"random"}}}"#).unwrap_err().to_string().contains("unknown variant `random`"));
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":1,"memory_mib":2048,"realm":{"host":{"destroyed":["0x80000800-0x80010000"]}}}"#).unwrap_err();
        assert!(e.to_string().contains("4 KiB aligned"), "{e}");
        assert!(m.needs_monitor());
        assert_eq!(m.qemu_ram_mib(), 3072);
        assert_eq!(m.validate(), Ok(()));
        let m: MachineSpec = serde_json::from_str(r#"{"cpus":2,"memory_mib":2048,"per_cpu":[{}]}"#).unwrap();
        assert_eq!(m.validate().unwrap_err().0, "machine.per_cpu");
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":1,"memory_mib":2048,"realm":{"ipa_bits":52}}"#).unwrap_err();
        assert!(e.to_string().contains("40 to 48"), "{e}");
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":1,"memory_mib":2048,"per_cpu":[{"bbm":16}]}"#).unwrap_err();
        assert!(e.to_string().contains("4-bit"), "{e}");
    }

    #[test]
    fn bad_values_are_refused() {
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":9,"memory_mib":2048}"#).unwrap_err();
        assert!(e.to_string().contains("must be 1 to 8"), "{e}");
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":2,"memory_mib":2048,"ram":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `ram`"), "{e}");
    }
}
