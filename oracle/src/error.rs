//! The oracle library's one error type, and the `context` helpers that put what was being
//! done in front of a lower error (the binary and xtask keep anyhow).

use std::fmt::Display;

use crate::linux_side::guest_memory::OutsideRam;
use crate::linux_side::walker::WalkError;
use crate::scenario::ScenarioError;

/// Everything that can go wrong in the oracle library. A kernel that panics, hangs or
/// WARNs is not an error: it is an outcome (`linux_harness::BootOutcome`, verdicts).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A scenario or reported-bug entry that cannot be read; names the file and field.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// Building, patching or booting (the harness).
    #[error(transparent)]
    Harness(#[from] linux_harness::Error),
    /// A page-table descriptor or walk range that makes no sense.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// A read outside guest RAM.
    #[error(transparent)]
    OutsideRam(#[from] OutsideRam),
    /// The in-guest ptdump text could not be parsed.
    #[error(transparent)]
    Ptdump(#[from] crate::linux_side::ptdump::PtdumpError),
    /// A file of ours or the kernel's could not be read or written.
    #[error("{what}: {err}")]
    Io { what: String, err: std::io::Error },
    /// The kernel's symbols or debug information lack what the oracle reads.
    #[error("{0}")]
    Debuginfo(String),
    /// Guest memory or registers say something the oracle cannot believe.
    #[error("{0}")]
    Guest(String),
    /// The boot did not give what was asked for (it did not boot, a checkpoint was
    /// never reached, no ptdump in the log, the walk disagrees with ptdump).
    #[error("{0}")]
    Capture(String),
    /// The model could not replay a step.
    #[error("model: {0}")]
    Model(String),
    /// A request that makes no sense (an unknown checkpoint, benchmark, ...).
    #[error("{0}")]
    Usage(String),
    /// The scenario says it does not run on this kernel version, and why.
    #[error("not run on Linux {}.{}: {why}", version.0, version.1)]
    NotRun { version: (u32, u32), why: String },
    /// A results file or directory that cannot be read, merged or compared.
    #[error("{0}")]
    Results(String),
    /// What was being done when `inner` happened.
    #[error("{context}: {inner}")]
    Context {
        context: String,
        // Not a source (thiserror takes a field named `source` as one): the message
        // already holds it, and anyhow's `{:#}` would print it twice.
        inner: Box<Error>,
    },
}

/// The oracle library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error with what was being done.
    pub fn io(what: impl Display, err: std::io::Error) -> Error {
        Error::Io { what: what.to_string(), err }
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Error {
        Error::Io { what: "I/O".into(), err }
    }
}

impl From<goblin::error::Error> for Error {
    fn from(e: goblin::error::Error) -> Error {
        Error::Debuginfo(format!("ELF: {e}"))
    }
}

impl From<gimli::Error> for Error {
    fn from(e: gimli::Error) -> Error {
        Error::Debuginfo(format!("DWARF: {e}"))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Error {
        Error::Usage(format!("JSON: {e}"))
    }
}

/// `.context(..)` and `.with_context(|| ..)` on results and options, as anyhow has them.
pub trait Context<T> {
    fn context(self, context: impl Display) -> Result<T>;
    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl Display) -> Result<T> {
        self.map_err(|e| Error::Context { context: context.to_string(), inner: Box::new(e.into()) })
    }
    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::Context { context: context().to_string(), inner: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl Display) -> Result<T> {
        self.ok_or_else(|| Error::Capture(context.to_string()))
    }
    fn with_context<D: Display>(self, context: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| Error::Capture(context().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_reads_outside_in() {
        let r: Result<()> = Err(Error::Guest("bad magic".into()));
        let e = r.context("reading the log").context("CPU 0").unwrap_err();
        assert_eq!(e.to_string(), "CPU 0: reading the log: bad magic");
        let none: Option<u8> = None;
        assert_eq!(none.context("no capture at end-of-boot").unwrap_err().to_string(), "no capture at end-of-boot");
    }

    #[test]
    fn the_cli_prints_each_cause_once() {
        let r: Result<()> = Err(Error::Guest("bad magic".into()));
        let e = anyhow::Error::from(r.context("reading the log").unwrap_err());
        assert_eq!(format!("{e:#}"), "reading the log: bad magic");
    }
}
