//! Monitor failures: a Rust panic or an exception the monitor did not expect at EL2. The
//! message goes into the event log header (which the harness polls, and reports as a
//! monitor failure) and to the UART; the CPU then stops.

use core::fmt::Write;

use lmo_monitor::eventlog::PANIC_MSG_MAX;

use super::hw::{uart_write, MsgBuf, RawMem};
use super::state::{cpu, LOG};

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut msg = MsgBuf::<PANIC_MSG_MAX>::new();
    let me = cpu();
    let _ = write!(msg, "CPU {me}: {}", info.message());
    if let Some(loc) = info.location() {
        let _ = write!(msg, " ({}:{})", loc.file(), loc.line());
    }
    if LOG.panic(&mut RawMem, me as u32, msg.as_bytes()) {
        uart_write(b"\nLMO-MONITOR-PANIC: ");
        uart_write(msg.as_bytes());
        uart_write(b"\n");
    }
    loop {
        // SAFETY: parks this CPU.
        unsafe { core::arch::asm!("wfe", options(nomem, nostack)) };
    }
}

/// An exception taken at EL2 from anything but a lower-EL synchronous exception.
#[unsafe(no_mangle)]
extern "C" fn monitor_unexpected(slot: u64, esr: u64, elr: u64, far: u64) -> ! {
    let from = match slot {
        0..=3 => "EL2 with SP_EL0",
        4..=7 => "the monitor itself (EL2)",
        8..=11 => "the guest (AArch64)",
        _ => "the guest (AArch32)",
    };
    let what = ["synchronous exception", "IRQ", "FIQ", "SError"][(slot % 4) as usize];
    panic!("unexpected {what} from {from}: ESR_EL2 {esr:#x} at {elr:#x}, FAR_EL2 {far:#x}");
}
