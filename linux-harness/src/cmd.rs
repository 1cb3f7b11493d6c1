//! Running external commands with errors that show the command line and its stderr.

use std::process::{Child, Command, Output};

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

/// Starts `cmd` (a build step: make and the compilers it runs) in a process group of
/// its own, registered with the reaper so Ctrl-C or SIGTERM stops the whole build (make
/// deleting the targets it was writing) rather than leaving it running into the cache.
/// Returns the child and its registration (pass it to `reaper::unregister` once waited).
pub(crate) fn spawn_build(cmd: &mut Command) -> Result<(Child, u64)> {
    use std::os::unix::process::CommandExt;
    cmd.process_group(0);
    // SAFETY: prctl(PR_SET_PDEATHSIG) is async-signal-safe and touches no parent memory:
    // if this process dies without reaping (SIGKILL), the kernel kills make too.
    unsafe {
        cmd.pre_exec(|| nix::sys::prctl::set_pdeathsig(Some(nix::sys::signal::Signal::SIGKILL)).map_err(std::io::Error::from));
    }
    let child = cmd.spawn().map_err(|e| Error::Command { command: describe(cmd), detail: e.to_string() })?;
    let registration = crate::reaper::register_build_group(nix::unistd::Pid::from_raw(child.id() as i32));
    Ok((child, registration))
}

/// [`run`] for a build step (configuring, merging fragments): in its own process group,
/// registered with the reaper like the build itself (see [`spawn_build`]).
pub(crate) fn run_build(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let (child, registration) = spawn_build(cmd)?;
    let out = child.wait_with_output();
    crate::reaper::unregister(registration);
    let out = out.map_err(|e| Error::Command { command: describe(cmd), detail: e.to_string() })?;
    check_status(cmd, out)
}

/// Runs `cmd` to completion; a non-zero exit is an error carrying the stderr tail.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().map_err(|e| Error::Command { command: describe(cmd), detail: e.to_string() })?;
    check_status(cmd, out)
}

/// `out` if `cmd` succeeded, else an error carrying the stderr tail.
fn check_status(cmd: &Command, out: Output) -> Result<Output> {
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
