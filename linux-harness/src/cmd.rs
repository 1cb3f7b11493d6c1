//! Running external commands with errors that show the command line and its stderr.

use std::process::{Command, Output};

use crate::{Error, Result};

/// A printable form of `cmd` for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` to completion; a non-zero exit is an error carrying the stderr tail.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().map_err(|e| Error::Command { command: describe(cmd), detail: e.to_string() })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(Error::Command {
            command: describe(cmd),
            detail: format!("{}\n{}", out.status, tail.join("\n")),
        });
    }
    Ok(out)
}
