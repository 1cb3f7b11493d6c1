//! The monitor's state shared by its CPUs: the boot information, the realm (RIPAS and
//! stage 2), what each CPU was asked to start at, and the event log.

use lmo_monitor::bootinfo::BootInfo;
use lmo_monitor::eventlog::{Kind, Log};
use lmo_monitor::layout::{LOG_PA, LOG_SIZE, MAX_CPUS};
use lmo_monitor::realm::Realm;
use lmo_monitor::rsi::TokenState;

use super::hw::{RawMem, SpinLock};
use super::regs::mrs;

pub static BOOT: SpinLock<Option<BootInfo>> = SpinLock::new(None);
pub static REALM: SpinLock<Option<Realm>> = SpinLock::new(None);

/// Per CPU: where Linux asked (PSCI CPU_ON) for it to start, and its attestation state.
#[derive(Clone, Copy)]
pub struct PerCpu {
    pub linux_entry: u64,
    pub linux_context: u64,
    pub token: TokenState,
}

pub static CPUS: SpinLock<[PerCpu; MAX_CPUS]> = SpinLock::new([PerCpu { linux_entry: 0, linux_context: 0, token: TokenState { offset: None } }; MAX_CPUS]);

pub const LOG: Log = Log { base: LOG_PA, size: LOG_SIZE };

/// This CPU's index (kept in TPIDR_EL2 from entry on).
pub fn cpu() -> usize {
    mrs!("tpidr_el2") as usize
}

/// The boot information (set by the boot CPU before any other CPU starts).
pub fn boot_info() -> BootInfo {
    match *BOOT.lock() {
        Some(b) => b,
        None => panic!("boot information used before the boot CPU read it"),
    }
}

/// Appends an event for this CPU.
pub fn log(kind: Kind, args: [u64; 7]) {
    LOG.push(&mut RawMem, cpu() as u16, kind, args);
}
