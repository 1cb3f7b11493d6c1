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
    #[serde(default, deserialize_with = "midr", serialize_with = "ser_midr")]
    pub midr: Option<u32>,
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

impl MachineSpec {
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
    fn bad_values_are_refused() {
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":9,"memory_mib":2048}"#).unwrap_err();
        assert!(e.to_string().contains("must be 1 to 8"), "{e}");
        let e = serde_json::from_str::<MachineSpec>(r#"{"cpus":2,"memory_mib":2048,"ram":1}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `ram`"), "{e}");
    }
}
