//! The cross toolchain and QEMU binaries the harness runs, and their identities.

use std::process::Command;

use crate::{Error, Result};

/// `CROSS_COMPILE` prefix for arm64 kernel and `/init` builds.
pub const CROSS_COMPILE: &str = "aarch64-linux-gnu-";
/// The system emulator binary.
pub const QEMU: &str = "qemu-system-aarch64";

/// First line of `PROGRAM --version`, which identifies a compiler or emulator build.
pub fn version_line(program: &str) -> Result<String> {
    let out = Command::new(program).arg("--version").output().map_err(|e| Error::Command {
        command: format!("{program} --version"),
        detail: format!("{e} (run `cargo xtask setup`)"),
    })?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or_default().trim().to_string())
}

/// The cross C compiler's version line, part of every build cache key.
pub fn cross_gcc_version() -> Result<String> {
    version_line(&format!("{CROSS_COMPILE}gcc"))
}
