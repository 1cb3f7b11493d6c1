//! Bringing a CPU up: the boot CPU reads the boot information and builds the realm;
//! every CPU then sets up its EL2 registers (after Linux's own init_el2_state in
//! arch/arm64/include/asm/el2_setup.h, so nothing Linux uses at EL1 traps, but for
//! what the monitor wants: SMC, the ID registers and, for a realm, stage 2) and enters
//! Linux at EL1 with its identity.

use core::fmt::Write;

use lmo_monitor::bootinfo::{BootInfo, WORDS};
use lmo_monitor::eventlog::Kind;
use lmo_monitor::layout::{BOOT_INFO_PA, RIPAS_PA, S2_POOL_PA, S2_POOL_SIZE};
use lmo_monitor::mem::PhysMem;
use lmo_monitor::realm::{linux_ripas, Realm};

use super::entry::enter_linux;
use super::hw::{uart_write, MsgBuf, RawMem};
use super::regs::{isb, mrs, msr, tlbi_guest_local};
use super::state::{boot_info, log, BOOT, CPUS, LOG, REALM};

const HCR_VM: u64 = 1 << 0;
const HCR_TID3: u64 = 1 << 18;
const HCR_TSC: u64 = 1 << 19;
const HCR_RW: u64 = 1 << 31;
const HCR_APK: u64 = 1 << 40;
const HCR_API: u64 = 1 << 41;

/// SCTLR_EL2 with the MMU and caches off (RES1 bits only).
const SCTLR_EL2_MMU_OFF: u64 = 0x30c5_0830;
/// SCTLR_EL1 as Linux expects it at entry: MMU and caches off (RES1 bits only).
const SCTLR_EL1_MMU_OFF: u64 = 0x30d0_0800;

fn field(reg: u64, shift: u32) -> u64 {
    (reg >> shift) & 0xf
}

/// Called from `cpu_entry` with the CPU index; never returns.
#[unsafe(no_mangle)]
extern "C" fn monitor_cpu_start(cpu: usize) -> ! {
    let (entry, x0) = if cpu == 0 {
        boot_cpu()
    } else {
        let c = CPUS.lock()[cpu];
        (c.linux_entry, c.linux_context)
    };
    let info = boot_info();
    setup_el2(cpu, &info);
    let id = info.identities[cpu];
    let midr = mrs!("vpidr_el2");
    let bbm = id.bbm.map_or(field(mrs!("S3_0_C0_C7_2"), 52), |b| b as u64);
    log(Kind::CpuEnter, [mrs!("mpidr_el1"), entry, x0, midr, bbm, 0, 0]);
    enter_linux(cpu, entry, x0)
}

/// The boot CPU's work before Linux: boot information, log, realm, banner.
fn boot_cpu() -> (u64, u64) {
    let mut mem = RawMem;
    let mut words = [0u64; WORDS];
    for (i, w) in words.iter_mut().enumerate() {
        *w = mem.read_u64(BOOT_INFO_PA + 8 * i as u64);
    }
    LOG.init(&mut mem);
    let info = match BootInfo::decode(&words) {
        Ok(i) => i,
        Err(e) => panic!("{e}"),
    };
    *BOOT.lock() = Some(info);
    if let Some(r) = info.realm {
        let realm = Realm::new(&mut mem, linux_ripas(RIPAS_PA, info.linux_ram_size), (S2_POOL_PA, S2_POOL_SIZE), r.ipa_bits, r.host);
        match realm {
            Ok(realm) => *REALM.lock() = Some(realm),
            Err(e) => panic!("building the realm's stage 2: {e}"),
        }
    }
    log(
        Kind::Boot,
        [
            info.linux_entry,
            info.dtb_pa,
            info.cpus as u64,
            info.realm.is_some() as u64,
            info.realm.map_or(0, |r| r.ipa_bits as u64),
            info.realm.map_or(0, |r| r.host.seed),
            info.realm.map_or(0, |r| r.host.partial_progress as u64 | (r.host.reject_ram_per_mille as u64) << 1 | (r.host.reject_empty_per_mille as u64) << 16),
        ],
    );
    let mut banner = MsgBuf::<160>::new();
    let realm = match info.realm {
        Some(r) => RealmWords(r.ipa_bits),
        None => RealmWords(0),
    };
    let _ = writeln!(banner, "lmo-monitor: {} CPU(s), {realm}, entering Linux at {:#x}", info.cpus, info.linux_entry);
    uart_write(banner.as_bytes());
    (info.linux_entry, info.dtb_pa)
}

struct RealmWords(u8);

impl core::fmt::Display for RealmWords {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            0 => write!(f, "no realm"),
            b => write!(f, "realm with a {b}-bit IPA space"),
        }
    }
}

/// EL2 state for `cpu`, then the guest's identity and, for a realm, stage 2.
fn setup_el2(cpu: usize, info: &BootInfo) {
    let mmfr0 = mrs!("S3_0_C0_C7_0");
    let mmfr1 = mrs!("S3_0_C0_C7_1");
    let pfr0 = mrs!("S3_0_C0_C4_0");
    let pfr1 = mrs!("S3_0_C0_C4_1");
    let dfr0 = mrs!("S3_0_C0_C5_0");

    msr!("sctlr_el2", SCTLR_EL2_MMU_OFF);
    let realm = REALM.lock().as_ref().map(|r| (r.s2.vtcr(field(mmfr0, 0)), r.s2.root));
    let mut hcr = HCR_RW | HCR_TSC | HCR_TID3 | HCR_API | HCR_APK;
    if realm.is_some() {
        hcr |= HCR_VM;
    }
    msr!("hcr_el2", hcr);
    isb();

    // HCRX_EL2 (FEAT_HCX): MSCEn, TCR2En, SCTLR2En, EnFPM, and GCSEn with GCS.
    if field(mmfr1, 40) != 0 {
        let mut hcrx = (1 << 11) | (1 << 14) | (1 << 15) | (1 << 23);
        if field(pfr1, 44) != 0 {
            hcrx |= 1 << 22;
        }
        msr!("S3_4_C1_C2_2", hcrx);
    }
    // EL1 may use the physical timer and counter; no virtual offset.
    msr!("cnthctl_el2", mrs!("cnthctl_el2") | 0b11);
    msr!("cntvoff_el2", 0);
    // All PMU counters to EL1 (HPMN = PMCR_EL0.N), no debug traps.
    let pmuver = field(dfr0, 8);
    let hpmn = if pmuver != 0 && pmuver != 0xf { (mrs!("pmcr_el0") >> 11) & 0x1f } else { 0 };
    msr!("mdcr_el2", hpmn);
    // LORegions: disabled.
    if field(mmfr1, 16) != 0 {
        msr!("S3_0_C10_C4_3", 0);
    }
    // GICv3 system registers usable at EL1; no virtual interface.
    if field(pfr0, 24) != 0 {
        msr!("S3_4_C12_C9_5", mrs!("S3_4_C12_C9_5") | 0b1001);
        isb();
        msr!("S3_4_C12_C11_0", 0);
    }
    msr!("hstr_el2", 0);
    // Identity: MIDR from the scenario (VPIDR_EL2), MPIDR as it is.
    let id = info.identities[cpu];
    msr!("vpidr_el2", id.midr.map_or(mrs!("midr_el1"), |m| m as u64));
    msr!("vmpidr_el2", mrs!("mpidr_el1"));
    // No FP/SIMD/SVE/SME traps; full vector lengths.
    let sve = field(pfr0, 32) != 0;
    let sme = field(pfr1, 24) != 0;
    let mut cptr: u64 = 0x33ff;
    if sve {
        cptr &= !(1 << 8);
    }
    if sme {
        cptr &= !(1 << 12);
    }
    msr!("cptr_el2", cptr);
    isb();
    if sve {
        msr!("S3_4_C1_C2_0", 0xf);
    }
    if sme {
        msr!("S3_4_C1_C2_6", (1 << 31) | (1 << 30) | 0xf);
    }
    // Fine-grained traps off: every "n" (trap when 0) bit set, every other bit clear.
    let fgt = field(mmfr0, 56);
    if fgt != 0 {
        let n_rw: u64 = (0xfff << 52) | (1 << 50);
        msr!("S3_4_C1_C1_4", n_rw);
        msr!("S3_4_C1_C1_5", n_rw);
        msr!("S3_4_C1_C1_6", 0x1f << 55);
        msr!("S3_4_C3_C1_4", 0xf << 59);
        msr!("S3_4_C3_C1_5", 0x7 << 60);
        if field(pfr0, 44) != 0 {
            msr!("S3_4_C3_C1_6", 0);
        }
        if fgt >= 2 {
            for_each_fgt2_zero();
        }
    }
    // MPAM: default partition, no traps.
    if field(pfr0, 40) != 0 || field(pfr1, 16) != 0 {
        msr!("S3_4_C10_C5_0", 0);
    }
    match realm {
        Some((vtcr, vttbr)) => {
            msr!("vtcr_el2", vtcr);
            msr!("vttbr_el2", vttbr);
            isb();
            tlbi_guest_local();
        }
        None => msr!("vttbr_el2", 0),
    }
    msr!("sctlr_el1", SCTLR_EL1_MMU_OFF);
    isb();
}

/// FEAT_FGT2's registers: no traps.
fn for_each_fgt2_zero() {
    msr!("S3_4_C3_C1_0", 0);
    msr!("S3_4_C3_C1_1", 0);
    msr!("S3_4_C3_C1_2", 0);
    msr!("S3_4_C3_C1_3", 0);
    msr!("S3_4_C3_C1_7", 0);
}
