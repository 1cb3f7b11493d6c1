//! Booting a built kernel on a machine: start QEMU in a private run directory, watch the
//! console until `/init` reports in, the kernel panics, QEMU dies or time runs out, and
//! classify the result. A hang or a panic is an outcome, not an error.

use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::build::KernelArtifacts;
use crate::console::{self, Warning};
use crate::error::IoContext;
use crate::machine::MachineSpec;
use crate::qemu::{dump_dtb, qemu_args, BootImages, QemuProcess, RunFiles, VIRT_RAM_BASE};
use crate::gdbstub::{GdbStub, StopReply};
use crate::qmp::Qmp;
use crate::{paths, reaper, Result};

/// What `/init` does once it has reported in.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EndAction {
    /// Stay up so the host can pause the guest and read its memory.
    #[default]
    Wait,
    /// Power off through PSCI SYSTEM_OFF; QEMU exits.
    Poweroff,
    /// Restart through PSCI SYSTEM_RESET; QEMU (run with -no-reboot) exits.
    Reboot,
}

impl EndAction {
    fn cmdline_value(self) -> &'static str {
        match self {
            EndAction::Wait => "wait",
            EndAction::Poweroff => "poweroff",
            EndAction::Reboot => "reboot",
        }
    }
}

/// Everything one boot needs.
#[derive(Clone, Debug)]
pub struct BootRequest<'a> {
    pub kernel: &'a KernelArtifacts,
    pub initramfs: &'a Path,
    pub machine: &'a MachineSpec,
    /// The scenario's kernel command line (the harness adds console settings first).
    pub cmdline: &'a str,
    pub end: EndAction,
    pub timeout: Duration,
    /// Keep the run directory (RAM file, sockets, logs) after the boot ends.
    pub keep_run_dir: bool,
    /// Monitor boots only: load these bytes as the monitor's boot information page
    /// instead of the one the harness makes (tests of how a monitor failure is reported).
    pub monitor_boot_info_override: Option<&'a [u8]>,
}

/// How a boot ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BootOutcome {
    /// `/init` ran and reported in.
    Booted,
    /// The kernel panicked: the `Kernel panic` line and the text around it.
    Panicked { message: String, text: String },
    /// Nothing conclusive before the timeout: the last console lines.
    Hung { seconds: f64, last_lines: Vec<String> },
    /// QEMU exited on its own before `/init` reported in: its status and stderr.
    QemuFailed { status: String, stderr: String },
    /// The EL2 monitor failed (its own panic or an exception it did not expect): its
    /// message and the last console lines.
    MonitorFailed { message: String, last_lines: Vec<String> },
}

impl BootOutcome {
    pub fn summary(&self) -> String {
        match self {
            BootOutcome::Booted => "booted (reached /init)".into(),
            BootOutcome::Panicked { message, .. } => format!("panicked: {message}"),
            BootOutcome::Hung { seconds, last_lines } => {
                format!("hung: nothing conclusive after {seconds:.0}s; last line: {}", last_lines.last().map(String::as_str).unwrap_or("(no output)"))
            }
            BootOutcome::QemuFailed { status, stderr } => format!("QEMU failed ({status}): {}", stderr.trim()),
            BootOutcome::MonitorFailed { message, .. } => format!("monitor failed: {message}"),
        }
    }
}

/// The private run directory; removed on drop unless kept.
struct RunDir {
    path: PathBuf,
    keep: bool,
    registration: Option<u64>,
}

impl RunDir {
    fn create(keep: bool) -> Result<Self> {
        let parent = paths::run_parent();
        let dir = tempfile::Builder::new()
            .prefix("lmo-run-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&parent)
            .context(|| format!("creating a run directory in {}", parent.display()))?;
        // Owner-only, and cleaned up by us rather than by TempDir.
        let path = dir.keep();
        let registration = (!keep).then(|| reaper::register_run_dir(path.clone()));
        Ok(RunDir { path, keep, registration })
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
        if let Some(r) = self.registration {
            reaper::unregister(r);
        }
    }
}

/// A guest that booted and is still running (end action `wait`). Dropping it kills
/// QEMU and removes the run directory.
pub struct Guest {
    // Field order is drop order: QEMU dies before its directory goes.
    qemu: QemuProcess,
    files: RunFiles,
    run_dir: RunDir,
    ram_bytes: u64,
    monitor: bool,
}

impl Guest {
    /// Opens a QMP session to this guest.
    pub fn qmp(&self) -> Result<Qmp> {
        Qmp::connect(&self.files.qmp)
    }

    /// Pauses every vCPU; guest RAM is then stable in [`Guest::ram_file`].
    pub fn pause(&self) -> Result<()> {
        self.qmp()?.stop()
    }

    /// Writes guest RAM as an ELF core (QMP `dump-guest-memory`, one PT_LOAD per RAM
    /// block at its physical address) to `path`; the run directory is a good place.
    pub fn dump_core(&self, path: &Path) -> Result<()> {
        let protocol = format!("file:{}", path.display());
        let args = serde_json::json!({ "paging": false, "protocol": protocol });
        self.qmp()?.execute_within("dump-guest-memory", Some(args), Duration::from_secs(1800))?;
        Ok(())
    }

    /// The shared RAM file: offset = guest PA − [`Guest::ram_base`].
    pub fn ram_file(&self) -> &Path {
        &self.files.ram
    }

    pub fn ram_base(&self) -> u64 {
        VIRT_RAM_BASE
    }

    /// Size of the RAM file (with the monitor, its GiB included).
    pub fn ram_size(&self) -> u64 {
        self.ram_bytes
    }

    /// The EL2 monitor's event log, when this guest runs under the monitor.
    pub fn monitor_log(&self) -> Option<Result<crate::monitor::MonitorLog>> {
        self.monitor.then(|| crate::monitor::MonitorLog::read(&self.files.ram))
    }

    pub fn gdb_socket(&self) -> &Path {
        &self.files.gdb
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir.path
    }

    pub fn qemu_pid(&self) -> u32 {
        self.qemu.pid()
    }
}

/// The result of one boot.
pub struct Boot {
    pub outcome: BootOutcome,
    /// The whole console log.
    pub console: String,
    pub warnings: Vec<Warning>,
    /// Host wall-clock from starting QEMU to the outcome.
    pub host_seconds: f64,
    /// The run directory (gone after the boot unless kept or the guest is still alive).
    pub run_dir: PathBuf,
    /// The QEMU process id (for tests that check it is gone).
    pub qemu_pid: u32,
    /// The EL2 monitor's event log as the guest left it, read before the run directory
    /// went, when the boot did not leave a live guest (a panic, a hang): what the monitor
    /// saw up to the failure.
    pub monitor_log_at_end: Option<crate::monitor::MonitorLog>,
    /// The live guest, when it booted with [`EndAction::Wait`].
    pub guest: Option<Guest>,
}

impl Boot {
    pub fn kernel_version(&self) -> Option<String> {
        console::kernel_version(&self.console)
    }
    pub fn cpu_features(&self) -> Vec<String> {
        console::cpu_features(&self.console)
    }
    pub fn ptdump(&self) -> Option<String> {
        console::ptdump(&self.console)
    }
    pub fn warn_count(&self) -> Option<u64> {
        console::warn_count(&self.console)
    }
}

/// The kernel command line the harness passes: console settings (`earlycon` as
/// [`MachineSpec::earlycon`] says) and `/init`'s end action first, so the scenario's own
/// words come last and win.
pub fn kernel_cmdline(scenario_cmdline: &str, end: EndAction, earlycon: &str) -> String {
    format!("console=ttyAMA0 {earlycon} lmo_end={} {}", end.cmdline_value(), scenario_cmdline.trim()).trim_end().to_string()
}

/// Follows a growing log file.
struct Tail {
    file: Option<File>,
    path: PathBuf,
    text: String,
}

impl Tail {
    fn poll(&mut self) {
        if self.file.is_none() {
            self.file = File::open(&self.path).ok();
        }
        if let Some(f) = self.file.as_mut() {
            let mut buf = Vec::new();
            if f.read_to_end(&mut buf).is_ok() {
                self.text.push_str(&String::from_utf8_lossy(&buf));
            }
        }
    }
}

/// Gets control whenever the guest stops at one of its breakpoints during a boot.
pub trait StopHandler {
    /// Kernel virtual addresses to break at.
    fn breakpoints(&self) -> Vec<u64>;
    /// Handles one stop; every vCPU is stopped until it returns, then the guest resumes
    /// (stepping over the breakpoint it stopped at, if that is still inserted). The
    /// handler may insert and remove breakpoints through `gdb`.
    fn on_stop(&mut self, stop: &StopReply, gdb: &mut GdbStub, files: &RunFiles) -> Result<()>;

    /// Which vCPUs to resume after a stop: `None` resumes all, `Some(threads)` only
    /// those while the others stay held (until a later stop resumes all). There is no
    /// time limit on running so: results must not depend on how fast the host is. vCPUs
    /// that never stop again end as a hung boot (the scenario's timeout), with the held
    /// state named in its last lines.
    fn resume_only(&self) -> Option<Vec<String>> {
        None
    }
}

/// Boots `req` and classifies the result.
pub fn boot(req: &BootRequest) -> Result<Boot> {
    boot_with(req, None)
}

/// Connects to a gdbstub socket that QEMU creates as it starts.
fn connect_gdb(socket: &Path) -> Result<GdbStub> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match GdbStub::connect(socket) {
            Ok(g) => return Ok(g),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Boots `req`; with a handler, QEMU starts paused, the handler's breakpoints are set
/// before the first instruction, and the handler runs at every stop until `/init`
/// reports in (then the breakpoints are removed and the debugger detaches).
pub fn boot_with(req: &BootRequest, mut handler: Option<&mut dyn StopHandler>) -> Result<Boot> {
    // LMO_KEEP_RUN_DIR=1 keeps every run directory, for looking at a failure after the fact.
    let keep = req.keep_run_dir || std::env::var_os("LMO_KEEP_RUN_DIR").is_some_and(|v| v == "1");
    let run_dir = RunDir::create(keep)?;
    let files = RunFiles::in_dir(&run_dir.path);
    // Guest RAM is owner-only even if the directory's mode changes: QEMU opens the file
    // made here instead of creating its own (0644 less the umask).
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&files.ram)
        .context(|| format!("creating {}", files.ram.display()))?;
    let append = kernel_cmdline(req.cmdline, req.end, &req.machine.earlycon());
    let monitor = if req.machine.needs_monitor() { Some(prepare_monitor(req, &append, &run_dir.path)?) } else { None };
    let images = match &monitor {
        Some(m) => BootImages::Monitor {
            monitor: &m.image,
            image: &req.kernel.image,
            initrd: req.initramfs,
            dtb: &m.dtb,
            dtb_pa: m.dtb_pa,
            boot_info: &m.boot_info,
        },
        None => BootImages::Direct { image: &req.kernel.image, initrd: req.initramfs, append: &append },
    };
    let mut args = qemu_args(req.machine, &images, &files);
    let mut monitor_watch = monitor.as_ref().map(|_| crate::monitor::PanicWatch::new(&files.ram));
    if handler.is_some() {
        args.push("-S".into());
    }
    fs::write(run_dir.path.join("qemu.cmdline"), args.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "))
        .context(|| "writing qemu.cmdline".into())?;
    let started = Instant::now();
    let mut qemu = QemuProcess::spawn(&args, &files.stderr)?;
    let qemu_pid = qemu.pid();
    let mut tail = Tail { file: None, path: files.console.clone(), text: String::new() };
    let deadline = started + req.timeout;
    let mut panic_seen: Option<Instant> = None;
    let mut gdb = None;
    let mut alone: Option<Vec<String>> = None;
    if let Some(h) = handler.as_deref_mut() {
        let mut g = connect_gdb(&files.gdb)?;
        for bp in &h.breakpoints() {
            g.set_breakpoint(*bp)?;
        }
        g.cont()?;
        gdb = Some(g);
    }

    let outcome = loop {
        if let (Some(g), Some(h)) = (gdb.as_mut(), handler.as_deref_mut()) {
            // Waiting on the debugger is the loop's pause: a stop is handled at once.
            let stop = match g.wait_stop(Duration::from_millis(20)) {
                Ok(stop) => stop,
                // QEMU went away under the debugger (its exit may take a moment to
                // show after the socket closes): classify it like any other exit.
                Err(_) if qemu.wait_for_exit(Duration::from_secs(1)).is_some() => {
                    gdb = None;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if let Some(stop) = stop {
                let handled = (|| -> Result<()> {
                    let t0 = Instant::now();
                    h.on_stop(&stop, g, &files)?;
                    let t1 = Instant::now();
                    let thread = stop.thread.clone().unwrap_or_else(|| "p1.1".into());
                    let pc = g.read_register(&thread, "pc")?;
                    if g.inserted().contains(&pc) {
                        g.step_over(&thread, pc)?;
                    }
                    // LMO_PROFILE=1: where a traced boot spends its time.
                    if std::env::var_os("LMO_PROFILE").is_some() {
                        let ms = |d: Duration| d.as_secs_f64() * 1e3;
                        eprintln!("stop at {:.3} s: handler {:.1} ms, step {:.1} ms", started.elapsed().as_secs_f64(), ms(t1 - t0), ms(t1.elapsed()));
                    }
                    alone = h.resume_only();
                    match &alone {
                        Some(only) => g.cont_only(only),
                        None => g.cont(),
                    }
                })();
                match handled {
                    Ok(()) => {}
                    // QEMU died while the guest was stopped (the debugger's replies end
                    // with it): the loop classifies the exit.
                    Err(_) if qemu.wait_for_exit(Duration::from_secs(1)).is_some() => gdb = None,
                    Err(e) => return Err(e),
                }
                continue;
            }
        }
        tail.poll();
        let exited = qemu.try_wait();
        if let Some(message) = monitor_watch.as_mut().and_then(|w| w.check()) {
            tail.poll();
            break BootOutcome::MonitorFailed { message, last_lines: console::last_lines(&tail.text, 25) };
        }
        if console::reached_userspace(&tail.text) {
            if matches!(req.end, EndAction::Poweroff | EndAction::Reboot) && exited.is_none() {
                // Give /init's power-off a moment to take effect; a later kill is harmless.
                qemu.wait_for_exit(Duration::from_secs(10));
            }
            break BootOutcome::Booted;
        }
        if tail.text.contains(console::PANIC) {
            let since = *panic_seen.get_or_insert_with(Instant::now);
            if tail.text.contains(console::PANIC_END) || exited.is_some() || since.elapsed() > Duration::from_secs(3) {
                let (message, text) = console::panic(&tail.text).unwrap_or_default();
                break BootOutcome::Panicked { message, text };
            }
        } else if let Some(status) = exited {
            tail.poll();
            let stderr = fs::read_to_string(&files.stderr).unwrap_or_default();
            break BootOutcome::QemuFailed { status: status.to_string(), stderr };
        }
        if Instant::now() >= deadline {
            let mut last_lines = console::last_lines(&tail.text, 25);
            if let Some(threads) = &alone {
                last_lines.push(format!("(harness: only vCPU(s) {} were running, the others held by the debugger)", threads.join(", ")));
            }
            break BootOutcome::Hung { seconds: req.timeout.as_secs_f64(), last_lines };
        }
        if gdb.is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let host_seconds = started.elapsed().as_secs_f64();
    if let Some(mut g) = gdb.take() {
        if qemu.try_wait().is_none() && matches!(outcome, BootOutcome::Booted) {
            // Stop, take the breakpoints out and let the guest run on without a debugger.
            g.interrupt()?;
            let inserted: Vec<u64> = g.inserted().iter().copied().collect();
            for bp in inserted {
                g.clear_breakpoint(bp)?;
            }
            g.detach()?;
        }
    }
    tail.poll();
    let console_text = std::mem::take(&mut tail.text);
    let warnings = console::warnings(&console_text);
    let run_dir_path = run_dir.path.clone();
    let mut monitor_log_at_end = None;
    let guest = if outcome == BootOutcome::Booted && req.end == EndAction::Wait && qemu.try_wait().is_none() {
        Some(Guest { qemu, files, run_dir, ram_bytes: req.machine.qemu_ram_mib() << 20, monitor: monitor.is_some() })
    } else {
        qemu.kill();
        if monitor.is_some() {
            monitor_log_at_end = crate::monitor::MonitorLog::read(&files.ram).ok();
        }
        drop(qemu);
        drop(run_dir);
        None
    };
    Ok(Boot { outcome, console: console_text, warnings, host_seconds, run_dir: run_dir_path, qemu_pid, guest, monitor_log_at_end })
}

/// What a monitor boot loads besides Linux: the monitor Image, Linux's device tree and
/// where it goes, and the monitor's boot information.
struct MonitorFiles {
    image: PathBuf,
    dtb: PathBuf,
    dtb_pa: u64,
    boot_info: PathBuf,
}

/// Builds (or finds) the monitor, and writes Linux's device tree (from QEMU's own for
/// this machine) and the boot information into the run directory.
fn prepare_monitor(req: &BootRequest, bootargs: &str, dir: &Path) -> Result<MonitorFiles> {
    use lmo_monitor::bootinfo::{BootInfo, CpuIdentity, RealmConfig};
    use lmo_monitor::layout::{LINUX_IMAGE_PA, LINUX_INITRD_PA, LINUX_RAM_BASE, MAX_CPUS};
    let image = crate::monitor::build_monitor()?;
    let qemu_dtb = dump_dtb(req.machine, &dir.join("qemu.dtb"))?;
    let initrd_len = fs::metadata(req.initramfs).context(|| format!("reading {}", req.initramfs.display()))?.len();
    let initrd = (LINUX_INITRD_PA, LINUX_INITRD_PA + initrd_len);
    let ram = (LINUX_RAM_BASE, req.machine.memory_mib << 20);
    let reserved: Vec<(u64, u64, bool)> = req.machine.reserved_memory.iter().map(|r| (r.range.0, r.range.1, r.no_map)).collect();
    let dtb_bytes = crate::dtb::for_linux(&qemu_dtb, &crate::dtb::LinuxBoot { memory: ram, bootargs, initrd, reserved: &reserved })?;
    let dtb_pa = (initrd.1 + (2 << 20) - 1) & !((2 << 20) - 1);
    let dtb = dir.join("linux.dtb");
    fs::write(&dtb, &dtb_bytes).context(|| format!("writing {}", dtb.display()))?;
    let mut identities = [CpuIdentity { midr: None, bbm: None }; MAX_CPUS];
    for (id, spec) in identities.iter_mut().zip(&req.machine.per_cpu) {
        *id = CpuIdentity { midr: spec.midr, bbm: spec.bbm };
    }
    let info = BootInfo {
        linux_entry: LINUX_IMAGE_PA,
        dtb_pa,
        linux_ram_base: ram.0,
        linux_ram_size: ram.1,
        cpus: req.machine.cpus as usize,
        realm: req.machine.realm.as_ref().map(|r| RealmConfig { ipa_bits: r.ipa_bits, host: r.host.as_ref().map(|h| h.config()).unwrap_or_default() }),
        identities,
    };
    let boot_info = dir.join("boot-info.bin");
    let bytes = match req.monitor_boot_info_override {
        Some(b) => b.to_vec(),
        None => info.to_bytes().to_vec(),
    };
    fs::write(&boot_info, bytes).context(|| format!("writing {}", boot_info.display()))?;
    Ok(MonitorFiles { image, dtb, dtb_pa, boot_info })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenario_words_come_last() {
        assert_eq!(kernel_cmdline(" rodata=on ", EndAction::Wait, "earlycon"), "console=ttyAMA0 earlycon lmo_end=wait rodata=on");
        assert_eq!(kernel_cmdline("", EndAction::Poweroff, "earlycon"), "console=ttyAMA0 earlycon lmo_end=poweroff");
    }
}
