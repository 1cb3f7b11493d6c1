//! Reports: what people read (`oracle repro` mails, `oracle boot`
//! summaries, `oracle dump`'s monitor log) and what machines read (JSON).

pub mod boot;
pub mod json;
pub mod monitor;
pub mod repro;
pub mod trace;
