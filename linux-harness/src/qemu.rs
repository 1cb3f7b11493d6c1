//! The QEMU process: its command line for a machine, and a handle that kills its whole
//! process group on drop.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use crate::machine::MachineSpec;
use crate::toolchain::QEMU;
use crate::{reaper, Error, Result};

/// Physical address of the start of RAM on `-machine virt`: RAM file offset 0.
pub const VIRT_RAM_BASE: u64 = 0x4000_0000;

/// Files a QEMU run reads and writes, all inside its private run directory.
#[derive(Clone, Debug)]
pub struct RunFiles {
    pub ram: std::path::PathBuf,
    pub qmp: std::path::PathBuf,
    pub gdb: std::path::PathBuf,
    pub console: std::path::PathBuf,
    pub stderr: std::path::PathBuf,
}

impl RunFiles {
    pub fn in_dir(dir: &Path) -> Self {
        RunFiles {
            ram: dir.join("ram"),
            qmp: dir.join("qmp.sock"),
            gdb: dir.join("gdb.sock"),
            console: dir.join("console.log"),
            stderr: dir.join("qemu.stderr"),
        }
    }
}

/// What QEMU boots.
#[derive(Clone, Debug)]
pub enum BootImages<'a> {
    /// Linux directly at EL1 (`-kernel`, `-initrd`, `-append`).
    Direct { image: &'a Path, initrd: &'a Path, append: &'a str },
    /// The EL2 monitor (`-kernel`), with Linux, its initramfs, its device tree and the
    /// monitor's boot information loaded where `lmo_monitor::layout` says.
    Monitor { monitor: &'a Path, image: &'a Path, initrd: &'a Path, dtb: &'a Path, dtb_pa: u64, boot_info: &'a Path },
}

/// The `-machine` board for `machine`: virt with GICv3 and ITS; EL2 for the monitor.
fn board(machine: &MachineSpec) -> &'static str {
    if machine.needs_monitor() {
        "virt,gic-version=3,its=on,virtualization=on"
    } else {
        "virt,gic-version=3,its=on"
    }
}

/// The full QEMU argument list for booting `images` on `machine`.
pub fn qemu_args(machine: &MachineSpec, images: &BootImages, files: &RunFiles) -> Vec<OsString> {
    let mib = machine.qemu_ram_mib();
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |s: String| a.push(OsString::from(s));
    for s in ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-nic", "none"] {
        push(s.into());
    }
    push("-machine".into());
    push(format!("{},memory-backend=ram", board(machine)));
    push("-cpu".into());
    push(machine.cpu_arg());
    push("-smp".into());
    push(machine.cpus.to_string());
    push("-m".into());
    push(format!("{mib}M"));
    push("-object".into());
    push(format!("memory-backend-file,id=ram,size={mib}M,mem-path={},share=on", files.ram.display()));
    match images {
        BootImages::Direct { image, initrd, append } => {
            push("-kernel".into());
            push(image.display().to_string());
            push("-initrd".into());
            push(initrd.display().to_string());
            push("-append".into());
            push(append.to_string());
        }
        BootImages::Monitor { monitor, image, initrd, dtb, dtb_pa, boot_info } => {
            use lmo_monitor::layout::{BOOT_INFO_PA, LINUX_IMAGE_PA, LINUX_INITRD_PA};
            push("-kernel".into());
            push(monitor.display().to_string());
            for (file, addr) in [(image, LINUX_IMAGE_PA), (initrd, LINUX_INITRD_PA), (dtb, *dtb_pa), (boot_info, BOOT_INFO_PA)] {
                push("-device".into());
                push(format!("loader,file={},addr={addr:#x},force-raw=on", file.display()));
            }
        }
    }
    push("-serial".into());
    push(format!("file:{}", files.console.display()));
    push("-qmp".into());
    push(format!("unix:{},server=on,wait=off", files.qmp.display()));
    push("-gdb".into());
    push(format!("unix:{},server=on,wait=off", files.gdb.display()));
    a
}

/// QEMU's own device tree for `machine` (`-machine ...,dumpdtb=`), written to `out`.
pub fn dump_dtb(machine: &MachineSpec, out: &Path) -> Result<Vec<u8>> {
    let machine_opt = format!("{},dumpdtb={}", board(machine), out.display());
    let mut cmd = Command::new(QEMU);
    cmd.args(["-nodefaults", "-no-user-config", "-display", "none", "-machine", &machine_opt, "-cpu", &machine.cpu_arg()])
        .args(["-smp", &machine.cpus.to_string(), "-m", &format!("{}M", machine.qemu_ram_mib())]);
    crate::cmd::run(&mut cmd)?;
    std::fs::read(out).map_err(|e| Error::Io { context: format!("reading {}", out.display()), source: e })
}

/// A running QEMU in its own process group; dropping it kills the group.
pub struct QemuProcess {
    child: Child,
    pgid: Pid,
    registration: u64,
    status: Option<ExitStatus>,
}

impl QemuProcess {
    /// Starts QEMU with `args`, stdout and stderr to `stderr_path`.
    pub fn spawn(args: &[OsString], stderr_path: &Path) -> Result<Self> {
        let log = File::options().write(true).create(true).truncate(true).mode(0o600).open(stderr_path).map_err(|e| Error::QemuSpawn(format!("{}: {e}", stderr_path.display())))?;
        let log2 = log.try_clone().map_err(|e| Error::QemuSpawn(e.to_string()))?;
        let mut cmd = Command::new(QEMU);
        cmd.args(args).stdin(Stdio::null()).stdout(log).stderr(log2).process_group(0);
        // SAFETY: prctl(PR_SET_PDEATHSIG) and umask are async-signal-safe and touch no
        // memory of the parent: the kernel SIGKILLs QEMU if the spawning thread dies, and
        // whatever QEMU creates (console log, sockets) is owner-only.
        unsafe {
            cmd.pre_exec(|| {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
                nix::sys::prctl::set_pdeathsig(Some(Signal::SIGKILL)).map_err(std::io::Error::from)
            });
        }
        let child = cmd.spawn().map_err(|e| Error::QemuSpawn(format!("{QEMU}: {e} (run `cargo xtask setup`)")))?;
        let pgid = Pid::from_raw(child.id() as i32);
        let registration = reaper::register_process_group(pgid);
        Ok(QemuProcess { child, pgid, registration, status: None })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if QEMU has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Waits up to `limit` for QEMU to exit by itself.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Kills the whole process group and reaps QEMU.
    pub fn kill(&mut self) {
        if self.status.is_none() {
            let _ = killpg(self.pgid, Signal::SIGKILL);
            self.status = self.child.wait().ok();
        }
        reaper::unregister(self.registration);
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill();
    }
}
