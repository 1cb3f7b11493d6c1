//! The oracle: scenario files, the in-guest ptdump parser, and the commands that boot a
//! scenario's kernel and report on it. Later stages (host-side walker, model replay,
//! differ) plug in here.

pub mod boot_cmd;
pub mod prepare;
pub mod ptdump;
pub mod scenario;
