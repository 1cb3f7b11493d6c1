//! The oracle library: a scenario goes through `prepare` (kernel built, `.config` and
//! boot parameters decided once), `capture` (booted to its checkpoints, the Linux side
//! read from guest RAM through `linux_side`), `replay` (the model run once along the
//! same timeline), `compare` (diffs, call-by-call answers, verdicts) and `report` (text
//! and JSON). The `oracle` binary's commands are thin wrappers over these calls.

pub mod bench;
pub mod boot;
pub mod cache;
pub mod capture;
pub mod compare;
pub mod diff_class;
pub mod error;
pub mod linux_side;
pub mod named;
pub mod prepare;
pub mod replay;
pub mod report;
pub mod results;
pub mod scenario;
pub mod snapshot;
pub mod timeline;

pub use error::{Error, Result};
