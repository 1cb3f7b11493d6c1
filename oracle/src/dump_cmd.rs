//! `oracle dump SCENARIO`: boot with a breakpoint where the kernel finishes its own
//! ptdump walk for `/init` (`note_page_flush`), read the linear map from guest RAM while
//! every vCPU is stopped there, and cross-check the walk line for line against the
//! ptdump text the kernel then prints: both describe the same instant of the same guest.

use anyhow::{anyhow, bail, Context, Result};
use linux_harness::boot::{boot_with, StopHandler};
use linux_harness::gdbstub::{GdbStub, StopReply};
use linux_harness::qemu::{RunFiles, VIRT_RAM_BASE};
use linux_harness::{BootOutcome, BootRequest, EndAction};

use crate::cpu_regs::CpuRegs;
use crate::guest_memory::MappedRam;
use crate::linux_side::{read_linux_side, LinuxSide};
use crate::prepare::Prepared;
use crate::ptdump::Ptdump;
use crate::ptdump_check::{compare, remerge, Mismatch};
use crate::symbols::KernelSymbols;

/// The Linux side of a booted scenario and the ptdump cross-check.
pub struct Dump {
    pub side: LinuxSide,
    /// Disagreements between the host walk and the in-guest ptdump (empty: they agree).
    pub ptdump_mismatches: Vec<Mismatch>,
    /// Number of ptdump lines compared.
    pub ptdump_lines: usize,
    /// How many times the kernel's ptdump walk was caught (seq_file retries with a
    /// bigger buffer; the last one is the text that was printed).
    pub captures: usize,
    /// The guest's console log.
    pub console: String,
    /// WARN blocks in the kernel log.
    pub warnings: usize,
}

/// Reads the Linux side each time the kernel finishes a ptdump walk; keeps the last.
struct PtdumpCapture<'a> {
    prepared: &'a Prepared,
    note_page_flush: u64,
    ram_size: u64,
    last: Option<Result<LinuxSide>>,
    captures: usize,
}

impl StopHandler for PtdumpCapture<'_> {
    fn breakpoints(&self) -> Vec<u64> {
        vec![self.note_page_flush]
    }

    fn on_stop(&mut self, stop: &StopReply, gdb: &mut GdbStub, files: &RunFiles) -> linux_harness::Result<()> {
        let thread = stop.thread.clone().unwrap_or_else(|| "p1.1".into());
        let regs = (|| -> linux_harness::Result<CpuRegs> {
            Ok(CpuRegs {
                ttbr1: gdb.read_register(&thread, "TTBR1_EL1")?,
                tcr: gdb.read_register(&thread, "TCR_EL1")?,
                mair: gdb.read_register(&thread, "MAIR_EL1")?,
            })
        })();
        let side = regs.map_err(anyhow::Error::from).and_then(|regs| {
            let mem = MappedRam::open(&files.ram, VIRT_RAM_BASE).context("mapping guest RAM")?;
            read_linux_side(&mem, VIRT_RAM_BASE, self.ram_size, &self.prepared.kernel, Some(regs))
        });
        self.last = Some(side);
        self.captures += 1;
        Ok(())
    }
}

/// Boots `p` and reads its linear map at the end of boot.
pub fn dump_scenario(p: &Prepared) -> Result<Dump> {
    let syms = KernelSymbols::load(&p.kernel.vmlinux)?;
    let mut capture = PtdumpCapture {
        prepared: p,
        note_page_flush: syms.get("note_page_flush")?,
        ram_size: p.scenario.machine.memory_mib << 20,
        last: None,
        captures: 0,
    };
    let req = BootRequest {
        kernel: &p.kernel,
        initramfs: &p.initramfs,
        machine: &p.scenario.machine,
        cmdline: &p.scenario.cmdline,
        end: EndAction::Wait,
        timeout: p.scenario.timeout(),
        keep_run_dir: false,
    };
    let boot = boot_with(&req, Some(&mut capture)).with_context(|| format!("{}: booting", p.file.display()))?;
    if boot.outcome != BootOutcome::Booted {
        bail!("{}: the guest did not boot: {}", p.file.display(), boot.outcome.summary());
    }
    let side = capture.last.ok_or_else(|| anyhow!("the kernel's ptdump walk was never caught at note_page_flush"))??;
    let text = boot.ptdump().context("no in-guest ptdump in the console log")?;
    let ptdump = Ptdump::parse(&text)?;
    let section = ptdump.linear_map().context("the in-guest ptdump has no Linear Mapping section")?;
    let ptdump_mismatches = compare(&remerge(&side.visits), section);
    Ok(Dump { side, ptdump_mismatches, ptdump_lines: section.ranges.len(), captures: capture.captures, console: boot.console.clone(), warnings: boot.warnings.len() })
}
