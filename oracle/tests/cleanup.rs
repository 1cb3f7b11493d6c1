//! A guest that hangs or panics is an outcome, and leaves no QEMU process and no run
//! directory behind.

mod common;

use linux_harness::{BootOutcome, EndAction};
use oracle::boot_cmd::boot_scenario;
use oracle::prepare::prepare;

#[test]
fn hung_boot_is_reported_and_cleaned_up() {
    let corpus = common::TempCorpus::new();
    // /init spins forever before reporting in (lmo_end=hang), so the boot times out.
    let file = corpus.add_scenario("hang", &common::scenario_text("hang", &[], "lmo_end=hang", 8));
    let p = prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let boot = boot_scenario(&p, EndAction::Wait, false).unwrap();
    match &boot.outcome {
        BootOutcome::Hung { last_lines, .. } => {
            assert!(last_lines.iter().any(|l| l.contains("Run /init")), "{last_lines:?}")
        }
        other => panic!("expected a hang, got {other:?}"),
    }
    assert!(boot.guest.is_none());
    assert!(!common::process_exists(boot.qemu_pid), "QEMU {} survived", boot.qemu_pid);
    assert!(!boot.run_dir.exists(), "run directory {} left behind", boot.run_dir.display());
}

#[test]
fn panicked_boot_is_reported_and_cleaned_up() {
    let corpus = common::TempCorpus::new();
    let file = corpus.add_scenario(
        "panic",
        &common::scenario_text("panic", &[], "rdinit=/does-not-exist init=/does-not-exist", 60),
    );
    let p = prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let boot = boot_scenario(&p, EndAction::Wait, false).unwrap();
    match &boot.outcome {
        BootOutcome::Panicked { message, text } => {
            assert!(message.starts_with("Kernel panic - not syncing"), "{message}");
            assert!(text.contains("init"), "{text}");
        }
        other => panic!("expected a panic, got {other:?}\n{}", boot.console),
    }
    assert!(!common::process_exists(boot.qemu_pid), "QEMU {} survived", boot.qemu_pid);
    assert!(!boot.run_dir.exists(), "run directory {} left behind", boot.run_dir.display());
}

#[test]
fn live_guest_is_killed_and_removed_on_drop() {
    let p = prepare(&common::scenario("baseline-pte")).unwrap_or_else(|e| panic!("{e:#}"));
    let boot = boot_scenario(&p, EndAction::Wait, false).unwrap();
    assert_eq!(boot.outcome, BootOutcome::Booted);
    let guest = boot.guest.expect("a waiting guest stays up");
    guest.pause().unwrap();
    assert_eq!(guest.qmp().unwrap().status().unwrap(), "paused");
    let ram = std::fs::metadata(guest.ram_file()).unwrap();
    assert_eq!(ram.len(), guest.ram_size());
    let (pid, dir) = (guest.qemu_pid(), guest.run_dir().to_path_buf());
    assert!(common::process_exists(pid));
    drop(guest);
    assert!(!common::process_exists(pid), "QEMU {pid} survived the drop");
    assert!(!dir.exists(), "run directory {} left behind", dir.display());
}
