//! The monitor on the hardware: entry and vectors ([`entry`]), system registers
//! ([`regs`]), memory, UART and locks ([`hw`]), per-CPU EL2 set-up and the way into
//! Linux ([`setup`]), trap handling ([`trap`]) and monitor failures ([`fail`]).

mod entry;
mod fail;
mod hw;
mod regs;
mod setup;
mod state;
mod trap;
