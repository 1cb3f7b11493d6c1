//! Synchronous exceptions from Linux at EL1/EL0: SMCs (PSCI, SMCCC, RSI), trapped
//! ID-register reads, and stage-2 aborts, which are logged and injected back into the
//! guest as synchronous external aborts.

use lmo_monitor::eventlog::Kind;
use lmo_monitor::inject::external_abort;
use lmo_monitor::psci::{self, Action};
use lmo_monitor::rsi;
use lmo_monitor::smccc::{self, Service, NOT_SUPPORTED, RSI_IPA_STATE_SET, RSI_SUCCESS};
use lmo_monitor::sysreg::{id_aa64mmfr2_with_bbm, SysregAccess, EC_DABT_LOW, EC_HVC64, EC_IABT_LOW, EC_SMC64, EC_SYSREG};

use super::entry::secondary_entry_pa;
use super::hw::RawMem;
use super::regs::{mrs, msr, read_id_reg, tlbi_guest_all, tlbi_guest_local};
use super::state::{boot_info, cpu, log, CPUS, REALM};

/// The registers `lower_sync` saved (entry.rs).
#[repr(C)]
pub struct Frame {
    pub x: [u64; 31],
    pub elr: u64,
    pub spsr: u64,
    _pad: u64,
}

#[unsafe(no_mangle)]
extern "C" fn handle_lower_sync(f: &mut Frame) {
    let esr = mrs!("esr_el2");
    let ec = (esr >> 26) & 0x3f;
    match ec {
        EC_SMC64 => {
            // ELR points at the SMC itself.
            f.elr += 4;
            smc(f);
        }
        EC_HVC64 => {
            log(Kind::Unsupported, [f.x[0], f.x[1], f.x[2], f.x[3], 1, 0, 0]);
            f.x[0] = NOT_SUPPORTED;
        }
        EC_SYSREG => sysreg(f, esr),
        EC_DABT_LOW | EC_IABT_LOW => stage2_abort(f, esr, ec == EC_IABT_LOW),
        _ => panic!(
            "unexpected trap from the guest: ESR_EL2 {esr:#x} (EC {ec:#x}) at PC {:#x}, FAR_EL2 {:#x}, SPSR {:#x}",
            f.elr,
            mrs!("far_el2"),
            f.spsr
        ),
    }
}

fn smc(f: &mut Frame) {
    let fid = f.x[0] as u32;
    match smccc::service(fid) {
        Service::Arch | Service::Psci => psci_call(f),
        Service::Rsi if boot_info().realm.is_some() => rsi_call(f),
        _ => {
            log(Kind::Unsupported, [f.x[0], f.x[1], f.x[2], f.x[3], 0, 0, 0]);
            f.x[0] = NOT_SUPPORTED;
        }
    }
}

/// An SMC at EL2: QEMU's PSCI answers it.
fn smc_el2(a: [u64; 4]) -> u64 {
    let r: u64;
    // SAFETY: QEMU's PSCI handles SMCs issued at EL2 (virt without EL3) and writes x0;
    // the rest of the SMCCC result registers are declared clobbered.
    unsafe {
        core::arch::asm!("smc #0", inout("x0") a[0] => r, inout("x1") a[1] => _, inout("x2") a[2] => _, inout("x3") a[3] => _,
            out("x4") _, out("x5") _, out("x6") _, out("x7") _, out("x8") _, out("x9") _, out("x10") _, out("x11") _,
            out("x12") _, out("x13") _, out("x14") _, out("x15") _, out("x16") _, out("x17") _, options(nostack));
    }
    r
}

fn psci_call(f: &mut Frame) {
    let x = [f.x[0], f.x[1], f.x[2], f.x[3]];
    let info = boot_info();
    let ret = match psci::decide(x, info.cpus, secondary_entry_pa()) {
        Action::Answer(v) => v,
        Action::Forward(a) => {
            let fid = a[0] as u32;
            if matches!(fid, smccc::PSCI_SYSTEM_OFF | smccc::PSCI_SYSTEM_RESET | smccc::PSCI_CPU_OFF) {
                // These do not return: log first.
                log(Kind::Psci, [x[0], x[1], x[2], x[3], 0, 0, 0]);
            }
            smc_el2(a)
        }
        Action::CpuOn { target, linux_entry, linux_context, forward } => {
            {
                let mut cpus = CPUS.lock();
                cpus[target].linux_entry = linux_entry;
                cpus[target].linux_context = linux_context;
            }
            smc_el2(forward)
        }
    };
    log(Kind::Psci, [x[0], x[1], x[2], x[3], ret, 0, 0]);
    f.x[0] = ret;
}

fn rsi_call(f: &mut Frame) {
    let mut x = [0u64; 11];
    x.copy_from_slice(&f.x[..11]);
    let me = cpu();
    let mut token = CPUS.lock()[me].token;
    let reply = {
        let mut realm = REALM.lock();
        let Some(realm) = realm.as_mut() else { panic!("RSI call without a realm") };
        match rsi::handle(&x, realm, &mut RawMem, &mut token) {
            Ok(r) => r,
            Err(e) => panic!("{} {:#x}..{:#x}: {e}", smccc::name(x[0] as u32), x[1], x[2]),
        }
    };
    CPUS.lock()[me].token = token;
    if x[0] as u32 == RSI_IPA_STATE_SET && reply.regs[0] == RSI_SUCCESS {
        tlbi_guest_all();
    }
    f.x[..reply.n].copy_from_slice(&reply.regs[..reply.n]);
    let r = |i: usize| if i < reply.n { reply.regs[i] } else { 0 };
    log(Kind::Rsi, [(x[0] & 0xffff_ffff) | (reply.regs[0] << 32), x[1], x[2], x[3], x[4], r(1), r(2)]);
}

fn sysreg(f: &mut Frame, esr: u64) {
    let a = SysregAccess::decode(esr);
    if !(a.read && a.is_id_space()) {
        panic!("the guest's {a} at PC {:#x} trapped to EL2, and the monitor only emulates ID register reads", f.elr);
    }
    let real = read_id_reg(a.crm, a.op2);
    let shown = if a.is_id_aa64mmfr2() {
        let v = id_aa64mmfr2_with_bbm(real, boot_info().identities[cpu()].bbm);
        log(Kind::IdMmfr2, [real, v, f.elr, 0, 0, 0, 0]);
        v
    } else {
        real
    };
    if a.rt != 31 {
        f.x[a.rt as usize] = shown;
    }
    f.elr += 4;
}

fn stage2_abort(f: &mut Frame, esr: u64, instruction: bool) {
    let far = mrs!("far_el2");
    let fsc = esr & 0x3f;
    // Translation (0b0001xx), access flag (0b0010xx) and permission (0b0011xx) faults
    // are stage-2 faults with a valid HPFAR_EL2.
    if !(0x04..=0x0f).contains(&fsc) {
        panic!("abort from the guest the monitor cannot place: ESR_EL2 {esr:#x} at PC {:#x}, FAR_EL2 {far:#x}", f.elr);
    }
    let ipa = (((mrs!("hpfar_el2") >> 4) & 0xfff_ffff_ffff) << 12) | (far & 0xfff);
    {
        let realm = REALM.lock();
        let Some(realm) = realm.as_ref() else {
            panic!("stage-2 abort at IPA {ipa:#x} (PC {:#x}) without a realm", f.elr);
        };
        if realm.s2.lookup(&RawMem, ipa).is_some() {
            // Mapped by now (another CPU's change raced this access): retry it.
            tlbi_guest_local();
            return;
        }
    }
    log(Kind::Stage2Fault, [ipa, far, f.elr, esr, instruction as u64, 0, 0]);
    let inj = external_abort(esr, far, f.elr, f.spsr, mrs!("vbar_el1"), mrs!("sctlr_el1"), instruction);
    msr!("esr_el1", inj.esr_el1);
    msr!("far_el1", inj.far_el1);
    msr!("spsr_el1", inj.spsr_el1);
    msr!("elr_el1", inj.elr_el1);
    f.elr = inj.elr_el2;
    f.spsr = inj.spsr_el2;
}
