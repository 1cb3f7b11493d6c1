//! The oracle: scenario files, the in-guest ptdump parser, and the commands that boot a
//! scenario's kernel and report on it. Later stages (host-side walker, model replay,
//! differ) plug in here.

pub mod bench;
pub mod bisect_cmd;
pub mod boot_cmd;
pub mod boot_params;
pub mod cpu_regs;
pub mod differ;
pub mod dump_cmd;
pub mod dwarf;
pub mod guest_memory;
pub mod kfence;
pub mod linux_side;
pub mod memblock;
pub mod monitor_events;
pub mod prepare;
pub mod replay;
pub mod repro_cmd;
pub mod reported;
pub mod run_cmd;
pub mod ptdump;
pub mod ptdump_check;
pub mod scenario;
pub mod swiotlb;
pub mod symbols;
pub mod trace;
pub mod walker;
