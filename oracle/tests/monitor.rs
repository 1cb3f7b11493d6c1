//! The EL2 monitor on the real kernel in real QEMU: realm guests (RSI, RIPAS, stage 2,
//! the shared bit in the dump agreeing with the RSI log), per-CPU identities driving the
//! stop_machine repaint, a read of a page after the kernel shared it faulting at stage 2,
//! PSCI power-off and reset, and a monitor failure reported as one.

mod common;

use lmo_monitor::eventlog::Kind;
use lmo_monitor::smccc;
use linux_harness::{boot, BootOutcome, BootRequest, EndAction};
use oracle::capture::capture_checkpoints;
use oracle::compare::rsi::mapped_pa_ranges;
use oracle::linux_side::monitor_log::{MonitorEvents, RangeSet};
use oracle::prepare::prepare;
use oracle::timeline::{Checkpoint, TracedFn};
use rust_impl::granule::Level;

/// `(PA, 64 KiB)` of each "ITS@...: allocated ... @PA" table in the kernel log.
fn its_tables(console: &str) -> Vec<(u64, u64)> {
    linux_harness::console::lines(console)
        .filter(|l| l.starts_with("ITS@") && l.contains(" allocated "))
        .filter_map(|l| l.split(" @").nth(1)?.split_whitespace().next().and_then(|h| u64::from_str_radix(h, 16).ok()))
        .map(|pa| (pa, pa + 0x1_0000))
        .collect()
}

/// The Linux side at the end of boot, checked against the kernel's ptdump.
fn end_of_boot(p: &oracle::prepare::Prepared) -> oracle::capture::Capture {
    let c = capture_checkpoints(p, &[Checkpoint::EndOfBoot], false).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(c.ptdump.as_ref().unwrap().mismatches.is_empty());
    c
}

fn rsi_calls(ev: &MonitorEvents, fid: u32) -> Vec<lmo_monitor::eventlog::Record> {
    ev.of_kind(Kind::Rsi).filter(|r| r.rsi_fid_status().0 == fid).copied().collect()
}

fn covered(set: &RangeSet, (a, b): (u64, u64)) -> bool {
    set.ranges.iter().any(|&(s, e)| s.0 <= a && b <= e.0)
}

/// What a realm test looks at: the end of boot.
struct RealmDump {
    side: oracle::linux_side::LinuxSide,
    console: String,
    monitor: Option<MonitorEvents>,
}

/// The realm checks both realm scenarios share: Linux found the realm, reached /init
/// with the ITS probed, and the swiotlb pool and ITS tables are shared exactly where the
/// RSI log says RIPAS is EMPTY.
fn check_realm(name: &str) -> RealmDump {
    let p = prepare(&common::scenario(name)).unwrap_or_else(|e| panic!("{e:#}"));
    let c = end_of_boot(&p);
    let dump = RealmDump {
        side: c.side(Checkpoint::EndOfBoot).unwrap().clone(),
        console: c.console,
        monitor: c.monitor,
    };
    let console = &dump.console;
    assert!(console.contains("RME: Using RSI version 1.0"), "{console}");
    assert!(!console.contains("failed probing") && !console.contains("No ITS available"), "{console}");
    assert!(console.contains("GICv3: using LPI property table"), "{console}");
    let realm = dump.side.realm.expect("rsi_present is set: the kernel runs as a realm");
    assert_eq!((realm.ipa_bits, realm.prot_ns_shared), (48, 1 << 47));

    let ev = dump.monitor.as_ref().expect("a monitor log");
    assert_eq!(ev.dropped, 0);
    assert!(ev.of_kind(Kind::Stage2Fault).next().is_none(), "no stage-2 fault in a clean boot");
    let version = rsi_calls(ev, smccc::RSI_VERSION);
    assert_eq!(version.len(), 1);
    assert_eq!((version[0].args[1], version[0].rsi_fid_status().1), (0x1_0000, 0));
    let config = rsi_calls(ev, smccc::RSI_REALM_CONFIG);
    assert_eq!(config.len(), 1);
    assert_eq!(config[0].rsi_fid_status().1, 0);
    // arm64_rsi_setup_memory(): the memblock bank set to RAM, RSI_NO_CHANGE_DESTROYED.
    let changes = ev.ipa_state_changes();
    let setup: Vec<_> = changes.iter().filter(|c| !c.change_destroyed).collect();
    let banks: Vec<(u64, u64)> = dump.side.memblock_memory.iter().map(|r| (r.base.0, r.base.0 + r.size)).collect();
    assert_eq!(setup.iter().map(|c| (c.start.0, c.end.0)).collect::<Vec<_>>(), banks);
    assert!(setup.iter().all(|c| !c.empty));
    // Devices are looked up with RSI_IPA_STATE_GET and found EMPTY (mapped shared).
    let gets = rsi_calls(ev, smccc::RSI_IPA_STATE_GET);
    assert!(gets.iter().any(|g| g.args[1] == 0x0808_0000 && g.args[6] == 0), "the ITS frame is looked up: {gets:x?}");

    let empty = RangeSet::from_ranges(ev.empty_ranges());
    let shared = mapped_pa_ranges(&dump.side.linear_map, true);
    assert_eq!(empty, shared, "RIPAS EMPTY ranges vs shared-bit leaves");
    let pool = dump.side.swiotlb.expect("a swiotlb pool");
    assert!(covered(&shared, (pool.start.0, pool.end.0)), "swiotlb pool {}-{} not shared: {shared:x?}", pool.start, pool.end);
    let its = its_tables(console);
    assert_eq!(its.len(), 2, "device and collection tables: {console}");
    for t in its {
        assert!(covered(&shared, t), "ITS table {t:x?} not shared: {shared:x?}");
    }
    // Both CPUs entered Linux through the monitor; CPU 1 through PSCI CPU_ON.
    let entered: Vec<u16> = ev.of_kind(Kind::CpuEnter).map(|r| r.cpu).collect();
    assert_eq!(entered, vec![0, 1]);
    let cpu_on: Vec<_> = ev.of_kind(Kind::Psci).filter(|r| r.args[0] as u32 == smccc::PSCI_CPU_ON_64).collect();
    assert_eq!(cpu_on.len(), 1);
    assert_eq!((cpu_on[0].args[1], cpu_on[0].args[4]), (1, 0));
    dump
}

#[test]
fn realm_with_bbml3_splits_and_shares_swiotlb_and_its() {
    let dump = check_realm("realm-bbml3");
    assert!(dump.console.contains("BBM Level 3"));
    // Blocks stay where nothing was shared; the shared ITS tables sit in CONT PTE groups
    // split out of a block.
    let lm = &dump.side.linear_map;
    assert!(lm.lines.iter().any(|l| l.level == Level::Pmd && l.cont), "{lm}");
    assert!(lm.lines.iter().filter(|l| l.shared).any(|l| l.level == Level::Pte && l.cont), "{lm}");
}

#[test]
fn realm_without_bbml3_is_all_ptes_and_shares_swiotlb_and_its() {
    let dump = check_realm("realm-pte");
    assert!(!dump.console.contains("BBM Level 3"));
    assert!(dump.side.linear_map.lines.iter().all(|l| l.level == Level::Pte), "{}", dump.side.linear_map);
}

#[test]
fn mixed_identities_repaint_the_linear_map_to_ptes() {
    let p = prepare(&common::scenario("mixed-bbml3-repaint")).unwrap_or_else(|e| panic!("{e:#}"));
    let c = capture_checkpoints(&p, &[Checkpoint::AfterMapMem, Checkpoint::AfterRepaint], true).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(c.console.contains("Booting Linux on physical CPU 0x0000000000 [0x410fd842]"), "{}", c.console);
    assert!(c.console.contains("CPU1: Booted secondary processor 0x0000000001 [0x000f0510]"), "{}", c.console);
    assert!(c.console.contains("CPU: All CPU(s) started at EL1"));
    let ev = c.monitor.as_ref().unwrap();
    let shown: Vec<(u16, u64)> = ev.of_kind(Kind::CpuEnter).map(|r| (r.cpu, r.args[3])).collect();
    assert_eq!(shown, vec![(0, 0x410f_d842), (1, 0x000f_0510)]);
    // map_mem built blocks on the BBML3 boot CPU ...
    let before = c.side(Checkpoint::AfterMapMem).unwrap();
    assert!(before.linear_map.lines.iter().any(|l| l.level == Level::Pud), "{}", before.linear_map);
    // ... and the repaint callback ran once per online CPU under stop_machine ...
    let repaints: Vec<&str> = c.trace.iter().filter(|t| t.function == TracedFn::LinearMapSplitToPtes).map(|t| t.cpu.as_str()).collect();
    assert_eq!(repaints.len(), 2, "{repaints:?}");
    assert_ne!(repaints[0], repaints[1], "one call on each vCPU");
    // ... leaving PTEs, without CONT, everywhere but the text alias.
    let after = c.side(Checkpoint::AfterRepaint).unwrap();
    let img = after.image;
    let lm = |pa: rust_impl::address::PhysAddr| pa.0 - after.view.memstart_addr.0 + after.view.page_offset.0;
    let (text_lo, text_hi) = (lm(img.stext), lm(img.init_begin));
    for l in &after.linear_map.lines {
        let inside_text = l.start.0 >= text_lo && l.end.0 <= text_hi;
        if !inside_text {
            assert!(l.level == Level::Pte && !l.cont, "leaf outside the text alias after the repaint: {l:?}\n{}", after.linear_map);
        }
    }
}

/// A /init that reads `what` (lmo_probe) on a realm with /dev/mem.
fn probe_scenario(corpus: &common::TempCorpus, what: &str) -> std::path::PathBuf {
    let text = format!(
        r#"{{
  "schema": 1, "name": "realm-probe", "description": "realm-pte with /dev/mem; /init reads {what}",
  "kernel": {{ "source": "debian:linux-source-7.3", "patches": [], "configs": ["base", "devmem"] }},
  "machine": {{ "cpus": 2, "memory_mib": 1024, "cpu": "max", "realm": {{}} }},
  "cmdline": "rodata=on lmo_probe={what}",
  "expect": {{ "verdict": "match" }},
  "trace": true
}}"#
    );
    corpus.add_scenario("realm-probe", &text)
}

#[test]
fn reading_a_shared_page_through_its_protected_address_faults_at_stage_2() {
    let corpus = common::TempCorpus::new();
    let p = prepare(&probe_scenario(&corpus, "swiotlb")).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = end_of_boot(&p);
    let line = linux_harness::console::lines(&dump.console).find(|l| l.starts_with("LMO-PROBE: ")).unwrap_or_else(|| panic!("no probe line: {}", dump.console)).to_string();
    // SIGBUS (7): the monitor injected a synchronous external abort into EL0.
    assert!(line.ends_with(" signal 07"), "{line}");
    let pa = u64::from_str_radix(line.split("pa=0x").nth(1).unwrap().split_whitespace().next().unwrap(), 16).unwrap();
    let ev = dump.monitor.as_ref().unwrap();
    assert!(covered(&RangeSet::from_ranges(ev.empty_ranges()), (pa, pa + 0x1000)), "the probed page is RIPAS EMPTY");
    let faults: Vec<_> = ev.of_kind(Kind::Stage2Fault).collect();
    assert_eq!(faults.len(), 1, "{faults:x?}");
    let f = faults[0];
    assert_eq!(f.args[0] & !0xfff, pa & !0xfff, "fault IPA");
    assert!(f.args[2] < 1 << 48, "PC {:#x} is in user space", f.args[2]);
    assert_eq!(f.args[4], 0, "a data access");
    // The kernel itself was not hurt: the shared ranges still agree.
    let side = dump.side(Checkpoint::EndOfBoot).unwrap();
    assert_eq!(RangeSet::from_ranges(ev.empty_ranges()), mapped_pa_ranges(&side.linear_map, true));

    // Control: the same read of a protected RAM page (the kernel's own text) works.
    let text_pa = side.image.text.0;
    let p = prepare(&probe_scenario(&corpus, &format!("{text_pa:#x}"))).unwrap();
    let dump = end_of_boot(&p);
    let line = linux_harness::console::lines(&dump.console).find(|l| l.starts_with("LMO-PROBE: ")).unwrap().to_string();
    assert!(line.contains(" read 0x"), "{line}");
    assert!(dump.monitor.unwrap().of_kind(Kind::Stage2Fault).next().is_none());
}

/// A realm's MMIO is the host's, in the shared half only (TF-RMM injects an SEA for the
/// protected alias): the early console writes to the UART's shared alias from the first
/// line on, and a read of the UART through its protected address faults at stage 2.
#[test]
fn realm_mmio_is_reached_through_its_shared_alias_only() {
    let corpus = common::TempCorpus::new();
    let p = prepare(&probe_scenario(&corpus, "0x9000000")).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = end_of_boot(&p);
    let lines: Vec<&str> = linux_harness::console::lines(&dump.console).collect();
    // 48-bit IPA: the shared bit is bit 47.
    assert!(lines.iter().any(|l| l.contains("earlycon: pl11 MMIO:0x0000800009000000")), "{}", dump.console);
    let enabled = dump.console.lines().find_map(|l| linux_harness::console::timestamp(l).filter(|(_, text)| text.contains("legacy bootconsole [pl11] enabled")));
    assert_eq!(enabled.map(|(t, _)| t), Some(0.0), "the early console is up before the clock starts: {}", dump.console);
    let line = lines.iter().find(|l| l.starts_with("LMO-PROBE: ")).unwrap_or_else(|| panic!("no probe line: {}", dump.console));
    assert!(line.ends_with(" signal 07"), "{line}");
    let faults: Vec<_> = dump.monitor.as_ref().unwrap().of_kind(Kind::Stage2Fault).copied().collect();
    assert_eq!(faults.len(), 1, "{faults:x?}");
    assert_eq!(faults[0].args[0], 0x900_0000, "fault IPA: the UART's protected address");
}

fn boot_mixed(end: EndAction, boot_info: Option<&[u8]>) -> linux_harness::Boot {
    let p = prepare(&common::scenario("mixed-bbml3-repaint")).unwrap();
    let req = BootRequest {
        kernel: &p.kernel,
        initramfs: &p.initramfs,
        machine: &p.scenario.machine,
        cmdline: &p.scenario.cmdline,
        end,
        timeout: std::time::Duration::from_secs(60),
        keep_run_dir: true,
        monitor_boot_info_override: boot_info,
    };
    boot(&req).unwrap()
}

/// The PSCI calls in the log of a kept run directory (QEMU has exited).
fn psci_after_exit(b: &linux_harness::Boot) -> Vec<u32> {
    let log = linux_harness::monitor::MonitorLog::read(&b.run_dir.join("ram")).unwrap();
    let view = log.view().unwrap();
    let ev = MonitorEvents::from_view(&view);
    let out = ev.of_kind(Kind::Psci).map(|r| r.args[0] as u32).collect();
    std::fs::remove_dir_all(&b.run_dir).unwrap();
    out
}

#[test]
fn psci_system_off_and_reset_reach_qemu() {
    for (end, fid) in [(EndAction::Poweroff, smccc::PSCI_SYSTEM_OFF), (EndAction::Reboot, smccc::PSCI_SYSTEM_RESET)] {
        let b = boot_mixed(end, None);
        assert_eq!(b.outcome, BootOutcome::Booted);
        assert!(!common::process_exists(b.qemu_pid), "QEMU exits after {end:?}");
        let calls = psci_after_exit(&b);
        assert_eq!(calls.last(), Some(&fid), "{calls:x?}");
    }
}

#[test]
fn a_monitor_panic_is_a_monitor_failure_with_its_message() {
    let b = boot_mixed(EndAction::Poweroff, Some(&[0u8; 64]));
    match &b.outcome {
        BootOutcome::MonitorFailed { message, .. } => {
            assert!(message.contains("boot info: bad magic"), "{message}");
            assert!(message.starts_with("CPU 0: "), "{message}");
        }
        other => panic!("expected a monitor failure, got {other:?}"),
    }
    assert!(b.console.contains("LMO-MONITOR-PANIC: CPU 0: boot info: bad magic"), "{}", b.console);
    assert!(!common::process_exists(b.qemu_pid));
    std::fs::remove_dir_all(&b.run_dir).unwrap();
}
