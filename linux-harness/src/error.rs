//! The harness's error type: every variant names what was wrong and where.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Something set-up should have provided is missing.
    #[error("{what} is missing ({path}); run `cargo xtask setup`")]
    NotSetUp { what: &'static str, path: PathBuf },
    /// The cached tree of a Debian source is another version than its pin.
    #[error("kernel source {package}: the cache holds {cached} ({tree}), the pin is {pinned}; `cargo xtask setup` fetches the pinned version")]
    SourceVersion { package: String, pinned: String, cached: String, tree: PathBuf },
    /// The archive does not serve (any more) the version a source is pinned to.
    #[error("the Debian archive no longer serves {package} {version} (it serves: {}); `oracle pin debian:{package}` moves the pin to the newest it serves, rebuilds and leaves the snapshot changes for review", if served.is_empty() { "nothing".to_string() } else { served.join(", ") })]
    NotServed { package: String, version: String, served: Vec<String> },
    /// A patch of a series does not apply to the tree it was given.
    #[error("patch {patch} does not apply: {file}: {detail}")]
    PatchDoesNotApply { patch: PathBuf, file: String, detail: String },
    /// A series would write outside the kernel tree (a symlinked patch file, a path
    /// that is absolute or climbs out with `..`, a symlink created by a patch).
    #[error("refusing patch {patch}: {detail}")]
    UnsafePatch { patch: String, detail: String },
    /// A series or config fragment named by a variant does not exist or is unreadable.
    #[error("{kind} {name:?} not found at {path}")]
    MissingInput { kind: &'static str, name: String, path: PathBuf },
    /// A `git:` or `tar:` source that does not hold a kernel tree.
    #[error("{given} is not a Linux kernel source: {why}")]
    NotAKernel { given: String, why: String },
    /// The merged kernel configuration does not have a value a fragment asked for.
    #[error("config fragment {fragment} asks for {option}={wanted}, but the merged .config has {got} (a Kconfig dependency is missing or the option does not exist)")]
    ConfigNotHonoured { fragment: PathBuf, option: String, wanted: String, got: String },
    /// `make` failed; `errors` holds the compiler's error lines, `log` the full log.
    #[error("kernel build failed ({log}):\n{errors}")]
    BuildFailed { errors: String, log: PathBuf },
    /// An external command could not be run or failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// QEMU could not be started.
    #[error("cannot start QEMU: {0}")]
    QemuSpawn(String),
    /// The gdbstub conversation failed.
    #[error("gdbstub: {0}")]
    Gdb(String),
    /// The QMP conversation failed.
    #[error("QMP: {0}")]
    Qmp(String),
    /// A device tree could not be read or written.
    #[error("device tree: {0}")]
    DeviceTree(String),
    /// The EL2 monitor could not be built or set up.
    #[error("monitor: {0}")]
    Monitor(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a human context to an I/O error.
pub(crate) trait IoContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io { context: context(), source })
    }
}
