//! What a scenario decides about the linear map, read from the scenario itself (command
//! line, kernel config, CPU identities), never from the kernel's own decision variables:
//! reading `rodata_full` out of the guest to decide would make agreement automatic.

use crate::error::{Error, Result};
use crate::linux_side::kernel::KernelConfig;
use linux_harness::MachineSpec;
use rust_impl::cpufeature::CpuIdentity;
use rust_impl::granule::Granule;
use rust_impl::va_bits::{vabits_actual, VaFeatures};
use rust_impl::version::Rules;

/// The inputs of map_mem's decision table (docs/map-mem.md) and of the read-only and
/// invalid phases after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootParams {
    /// `rodata_enabled`: mark_rodata_ro runs.
    pub rodata_enabled: bool,
    /// RF: `rodata_full`.
    pub rodata_full: bool,
    /// DP: CONFIG_DEBUG_PAGEALLOC and debug_pagealloc=on.
    pub debug_pagealloc: bool,
    /// CONFIG_KFENCE.
    pub kfence: bool,
    /// KL: CONFIG_KFENCE with `kfence.sample_interval=0` (no early pool).
    pub kfence_late: bool,
    /// Every CPU, boot CPU first.
    pub cpus: Vec<CpuIdentity>,
    /// The translation granule and `VA_BITS` the kernel is built with.
    pub granule: Granule,
    pub kernel_va_bits: u32,
    /// What the boot CPU offers for 52-bit VAs (the QEMU model, its `lpa2=` property,
    /// `arm64.nolva`), and the VA size the kernel runs with as `early_map_kernel()`
    /// chooses from it.
    pub va_features: VaFeatures,
    pub vabits_actual: u32,
    /// The realm's IPA width when the guest runs as a realm (under the monitor).
    pub realm_ipa_bits: Option<u8>,
    /// `swiotlb=N[,A]`: the default pool's slabs and areas (kernel/dma/swiotlb.c:252).
    pub swiotlb_slabs: Option<u64>,
    pub swiotlb_areas: Option<u64>,
    /// `coherent_pool=SIZE`: the atomic DMA pools' size (kernel/dma/pool.c:35).
    pub coherent_pool: Option<u64>,
    /// Command-line words the kernel would reject, with why (shown, not fatal).
    pub warnings: Vec<String>,
    /// The model's rules for the kernel's version (`rust_impl::version`), and whether
    /// they are only the nearest it has.
    pub rules: Rules,
    pub rules_nearest: bool,
}

/// QEMU 10.0.2's defaults per CPU model (measured, docs/qemu.md): MIDR and
/// ID_AA64MMFR2_EL1.BBM.
fn qemu_cpu_model(model: &str) -> Option<CpuIdentity> {
    Some(match model {
        "max" => CpuIdentity { midr: 0x000f_0510, bbm: 2 },
        "neoverse-n2" => CpuIdentity { midr: 0x410f_d493, bbm: 2 },
        "neoverse-v1" => CpuIdentity { midr: 0x411f_d402, bbm: 2 },
        "cortex-a710" => CpuIdentity { midr: 0x412f_d471, bbm: 2 },
        "neoverse-n1" => CpuIdentity { midr: 0x414f_d0c1, bbm: 0 },
        "cortex-a57" => CpuIdentity { midr: 0x411f_d070, bbm: 0 },
        _ => return None,
    })
}

/// The QEMU CPU model of `-cpu MODEL[,PROP=VALUE...]` and its properties.
fn cpu_model(cpu: &str) -> (&str, impl Iterator<Item = &str>) {
    let mut parts = cpu.split(',');
    (parts.next().unwrap_or(""), parts)
}

/// QEMU 10.0.2's FEAT_LPA2 (4K and 16K granules: ID_AA64MMFR0_EL1.TGran4 = 1, TGran16 =
/// 2) and FEAT_LVA (ID_AA64MMFR2_EL1.VARange = 1) per CPU model (docs/qemu.md): only
/// `max` has either; its `lpa2` property turns LPA2 off.
fn qemu_va_features(model: &str) -> VaFeatures {
    let max = model == "max";
    VaFeatures { lpa2: max, lva: max }
}

/// The identity each CPU of `machine` shows, boot CPU first: the QEMU model's (with
/// `machine.midr`), then what `machine.per_cpu` sets through the monitor.
pub fn cpu_identities(machine: &MachineSpec) -> Result<Vec<CpuIdentity>> {
    let (model, _) = cpu_model(&machine.cpu);
    let Some(mut id) = qemu_cpu_model(model) else {
        return Err(Error::Usage(format!("CPU model {:?}: the oracle knows the identity of max, neoverse-n2, neoverse-v1, cortex-a710, neoverse-n1 and cortex-a57", machine.cpu)));
    };
    if let Some(midr) = machine.midr {
        id.midr = midr;
    }
    let mut ids = vec![id; machine.cpus as usize];
    for (cpu, spec) in ids.iter_mut().zip(&machine.per_cpu) {
        if let Some(m) = spec.midr {
            cpu.midr = m;
        }
        if let Some(b) = spec.bbm {
            cpu.bbm = b;
        }
    }
    Ok(ids)
}

/// What the boot CPU of `machine` offers for 52-bit VAs: its model's features, then the
/// `-cpu` properties the oracle knows the meaning of (`lpa2=on|off`, `max` only).
pub fn va_features(machine: &MachineSpec) -> Result<VaFeatures> {
    let (model, props) = cpu_model(&machine.cpu);
    let mut f = qemu_va_features(model);
    for prop in props {
        match prop.split_once('=') {
            Some(("lpa2", v @ ("on" | "off"))) if model == "max" => f.lpa2 = v == "on",
            _ => {
                return Err(Error::Usage(format!(
                    "CPU model {:?}: property {prop:?} is not one the oracle knows the effect of (it knows lpa2=on|off on max)",
                    machine.cpu
                )))
            }
        }
    }
    Ok(f)
}

/// Decides the parameters from the command line, the kernel `.config` and the machine.
pub fn boot_params(cmdline: &str, config: &KernelConfig, machine: &MachineSpec) -> Result<BootParams> {
    let enabled = |opt: &str| config.enabled(opt);
    let (rules, rules_nearest) = config.rules();
    // 6.12: the default comes from CONFIG_RODATA_FULL_DEFAULT_ENABLED (arch/arm64/mm/
    // pageattr.c:21 in 6.12), which tinyconfig leaves at n; later kernels: always full.
    let rodata_full_default = rules.rodata_on_is_full() || enabled("CONFIG_RODATA_FULL_DEFAULT_ENABLED");
    let (granule, kernel_va_bits) = config.translation().map_err(|e| Error::Usage(format!("{e:#}")))?;
    let mut p = BootParams {
        rodata_enabled: true,
        rodata_full: rodata_full_default,
        debug_pagealloc: enabled("CONFIG_DEBUG_PAGEALLOC") && enabled("CONFIG_DEBUG_PAGEALLOC_ENABLE_DEFAULT"),
        kfence: enabled("CONFIG_KFENCE"),
        kfence_late: enabled("CONFIG_KFENCE") && config.get("CONFIG_KFENCE_SAMPLE_INTERVAL") == Some("0"),
        cpus: cpu_identities(machine)?,
        granule,
        kernel_va_bits,
        va_features: va_features(machine)?,
        vabits_actual: kernel_va_bits,
        realm_ipa_bits: machine.realm.as_ref().map(|r| r.ipa_bits),
        swiotlb_slabs: None,
        swiotlb_areas: None,
        coherent_pool: None,
        warnings: Vec::new(),
        rules,
        rules_nearest,
    };
    // Early parameters are handled in command-line order; a later one overrides.
    for word in cmdline.split_whitespace() {
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        match key {
            // arch_parse_debug_rodata() (asm/setup.h), then set_debug_rodata() (init/main.c).
            // 6.12 (asm/setup.h:16-42 there): `full` is full, `on` is not, no `noalias`.
            "rodata" => match (value, rules.rodata_on_is_full()) {
                ("on", true) | ("full", false) => (p.rodata_enabled, p.rodata_full) = (true, true),
                ("off", _) => (p.rodata_enabled, p.rodata_full) = (false, false),
                ("noalias", true) | ("on", false) => (p.rodata_enabled, p.rodata_full) = (true, false),
                (other, _) => {
                    let now = match (p.rodata_enabled, p.rodata_full) {
                        (false, _) => "off",
                        (true, true) => "full",
                        (true, false) => "on, not full",
                    };
                    p.warnings.push(format!("rodata={other}: the kernel says \"Invalid option string for rodata\" and keeps the current setting ({now})"));
                }
            },
            // mm/debug_page_alloc.c: only with CONFIG_DEBUG_PAGEALLOC.
            "debug_pagealloc" if enabled("CONFIG_DEBUG_PAGEALLOC") => {
                p.debug_pagealloc = matches!(value, "on" | "1" | "y" | "yes" | "true");
            }
            // arch/arm64/mm/mmu.c parse_kfence_early_init(): 0 means no early pool.
            "kfence.sample_interval" if p.kfence => p.kfence_late = value == "0",
            // setup_io_tlb_npages(): leading digits are slabs, then ",areas".
            "swiotlb" => {
                let mut parts = value.split(',');
                p.swiotlb_slabs = parts.next().and_then(leading_number).or(p.swiotlb_slabs);
                p.swiotlb_areas = parts.next().and_then(leading_number).or(p.swiotlb_areas);
            }
            "coherent_pool" => p.coherent_pool = memparse(value),
            // The ID register override list (arch/arm64/kernel/pi/idreg-override.c:263);
            // with CONFIG_ARM64_LPA2, mmfr2_varange_filter() hides LPA2 too (:73-99).
            "arm64.nolva" => p.va_features = VaFeatures { lva: false, lpa2: false },
            _ => {}
        }
    }
    p.vabits_actual = vabits_actual(granule, kernel_va_bits, p.va_features);
    Ok(p)
}

/// The number `simple_strtoul(s, &s, 0)` reads at the start of `s` (decimal, `0x` hex
/// or `0` octal), if `s` starts with a digit.
fn leading_number(s: &str) -> Option<u64> {
    strtoul(s).map(|(n, _)| n)
}

/// [`leading_number`] and the rest of `s` after it.
fn strtoul(s: &str) -> Option<(u64, &str)> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None if s.starts_with('0') => (s, 8),
        None => (s, 10),
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    Some((u64::from_str_radix(&digits[..end], radix).ok()?, &digits[end..]))
}

/// `memparse()` (lib/cmdline.c): a number with an optional K, M, G, T, P or E suffix.
fn memparse(s: &str) -> Option<u64> {
    let (n, rest) = strtoul(s)?;
    let shift = match rest.chars().next().map(|c| c.to_ascii_uppercase()) {
        Some('K') => 10,
        Some('M') => 20,
        Some('G') => 30,
        Some('T') => 40,
        Some('P') => 50,
        Some('E') => 60,
        _ => 0,
    };
    n.checked_shl(shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(cpu: &str, midr: Option<u32>) -> MachineSpec {
        MachineSpec { cpus: 2, memory_mib: 2048, cpu: cpu.into(), midr, per_cpu: Vec::new(), realm: None, reserved_memory: Vec::new() }
    }

    fn config(opts: &[&str]) -> KernelConfig {
        let mut options: std::collections::BTreeMap<String, String> = opts.iter().map(|o| (o.to_string(), "y".to_string())).collect();
        options.entry("CONFIG_ARM64_VA_BITS".into()).or_insert_with(|| "48".into());
        KernelConfig { options: options.into_iter().collect(), version: None }
    }

    #[test]
    fn the_va_size_a_52_bit_kernel_runs_with() {
        let va52 = |opts: &[&str]| {
            let mut c = config(opts);
            c.options.insert("CONFIG_ARM64_VA_BITS".into(), "52".into());
            c
        };
        let p = boot_params("", &va52(&[]), &machine("max", None)).unwrap();
        assert_eq!((p.kernel_va_bits, p.vabits_actual), (52, 52));
        let p = boot_params("", &va52(&[]), &machine("max,lpa2=off", None)).unwrap();
        assert_eq!(p.vabits_actual, 48);
        let p = boot_params("", &va52(&[]), &machine("neoverse-n1", None)).unwrap();
        assert_eq!(p.vabits_actual, 48);
        let p = boot_params("", &va52(&["CONFIG_ARM64_16K_PAGES"]), &machine("cortex-a57", None)).unwrap();
        assert_eq!((p.granule, p.vabits_actual), (Granule::G16K, 47));
        // 64K pages need FEAT_LVA, which arm64.nolva hides; LPA2 does not matter.
        let p = boot_params("", &va52(&["CONFIG_ARM64_64K_PAGES"]), &machine("max,lpa2=off", None)).unwrap();
        assert_eq!(p.vabits_actual, 52);
        let p = boot_params("arm64.nolva", &va52(&["CONFIG_ARM64_64K_PAGES"]), &machine("max", None)).unwrap();
        assert_eq!(p.vabits_actual, 48);
        // With LPA2 kernels arm64.nolva hides LPA2 as well (mmfr2_varange_filter()).
        let p = boot_params("arm64.nolva", &va52(&[]), &machine("max", None)).unwrap();
        assert_eq!(p.vabits_actual, 48);
        // A property the oracle does not know the effect of is refused, naming it.
        let e = boot_params("", &va52(&[]), &machine("max,sve=off", None)).unwrap_err().to_string();
        assert!(e.contains("\"sve=off\""), "{e}");
        let e = boot_params("", &va52(&[]), &machine("neoverse-n1,lpa2=on", None)).unwrap_err().to_string();
        assert!(e.contains("lpa2=on"), "{e}");
    }

    #[test]
    fn dma_pool_words() {
        let m = machine("max", None);
        let p = boot_params("swiotlb=2048,4,force coherent_pool=1M", &config(&[]), &m).unwrap();
        assert_eq!((p.swiotlb_slabs, p.swiotlb_areas, p.coherent_pool), (Some(2048), Some(4), Some(1 << 20)));
        let p = boot_params("swiotlb=noforce coherent_pool=0x40000", &config(&[]), &m).unwrap();
        assert_eq!((p.swiotlb_slabs, p.swiotlb_areas, p.coherent_pool), (None, None, Some(0x40000)));
    }

    #[test]
    fn rodata_words() {
        let m = machine("max", None);
        let p = boot_params("rodata=noalias", &config(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, false));
        let p = boot_params("rodata=off rodata=on", &config(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, true));
        let p = boot_params("rodata=full", &config(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, true));
        assert!(p.warnings[0].contains("Invalid option string"));
    }

    // 6.12 (asm/setup.h:16-42 there): `on` is not full, `full` is, `noalias` is refused;
    // the default is CONFIG_RODATA_FULL_DEFAULT_ENABLED.
    #[test]
    fn rodata_words_on_6_12() {
        let m = machine("max", None);
        let v6_12 = |opts: &[&str]| KernelConfig { version: Some((6, 12)), ..config(opts) };
        let p = boot_params("", &v6_12(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, false));
        let p = boot_params("", &v6_12(&["CONFIG_RODATA_FULL_DEFAULT_ENABLED"]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, true));
        let p = boot_params("rodata=full rodata=on", &v6_12(&["CONFIG_RODATA_FULL_DEFAULT_ENABLED"]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, false));
        let p = boot_params("rodata=off rodata=full", &v6_12(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, true));
        let p = boot_params("rodata=noalias", &v6_12(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (true, false));
        assert!(p.warnings[0].contains("keeps the current setting (on, not full)"), "{:?}", p.warnings);
        let p = boot_params("rodata=off rodata=noalias", &v6_12(&[]), &m).unwrap();
        assert_eq!((p.rodata_enabled, p.rodata_full), (false, false));
    }

    #[test]
    fn debug_pagealloc_needs_the_config() {
        let m = machine("max", None);
        assert!(!boot_params("debug_pagealloc=on", &config(&[]), &m).unwrap().debug_pagealloc);
        assert!(boot_params("debug_pagealloc=on", &config(&["CONFIG_DEBUG_PAGEALLOC"]), &m).unwrap().debug_pagealloc);
    }

    #[test]
    fn kfence_late_pool() {
        let m = machine("max", None);
        let c = config(&["CONFIG_KFENCE"]);
        assert!(!boot_params("", &c, &m).unwrap().kfence_late);
        assert!(boot_params("kfence.sample_interval=0", &c, &m).unwrap().kfence_late);
        assert!(!boot_params("kfence.sample_interval=0", &config(&[]), &m).unwrap().kfence_late);
    }

    #[test]
    fn cpu_identity_from_model_and_midr() {
        let ids = cpu_identities(&machine("max", Some(0x410f_d842))).unwrap();
        assert_eq!(ids, vec![CpuIdentity { midr: 0x410f_d842, bbm: 2 }; 2]);
        assert!(cpu_identities(&machine("cortex-a53", None)).unwrap_err().to_string().contains("cortex-a53"));
    }

    #[test]
    fn per_cpu_identities_override_the_model() {
        let mut m = machine("max", None);
        m.per_cpu = vec![
            linux_harness::machine::CpuSpec { midr: Some(0x410f_d842), bbm: None },
            linux_harness::machine::CpuSpec { midr: None, bbm: Some(3) },
        ];
        let ids = cpu_identities(&m).unwrap();
        assert_eq!(ids, vec![CpuIdentity { midr: 0x410f_d842, bbm: 2 }, CpuIdentity { midr: 0x000f_0510, bbm: 3 }]);
    }
}
