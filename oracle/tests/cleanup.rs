//! A guest that hangs or panics is an outcome, and leaves no QEMU process and no run
//! directory behind.

mod common;

use linux_harness::{BootOutcome, EndAction};
use oracle::boot::boot_scenario;
use oracle::prepare::prepare;

#[test]
fn hung_boot_is_reported_and_cleaned_up() {
    let corpus = common::TempCorpus::new();
    // /init spins forever before reporting in (lmo_end=hang), so the boot times out. The
    // time allowed is the boot's whole budget: under a loaded host (the suite's other
    // boots, a kernel build) 8 s did not reach /init, so it is 30 s, which it always does.
    let file = corpus.add_scenario("hang", &common::scenario_text("hang", &[], "lmo_end=hang", 30));
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
    // Private: the run directory owner-only, guest RAM owner read-write, every socket
    // inside the directory, and no network device in the guest.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(guest.run_dir()).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(ram.permissions().mode() & 0o777, 0o600);
    let cmdline = std::fs::read_to_string(guest.run_dir().join("qemu.cmdline")).unwrap();
    let sockets: Vec<&str> = cmdline.split([' ', ',', '=']).map(|w| w.trim_start_matches("unix:")).filter(|w| w.ends_with(".sock")).collect();
    assert!(!sockets.is_empty() && sockets.iter().all(|s| s.starts_with(guest.run_dir().to_str().unwrap())), "sockets outside the run directory: {sockets:?}");
    let nics = guest.qmp().unwrap().execute("human-monitor-command", Some(serde_json::json!({ "command-line": "info network" }))).unwrap();
    assert_eq!(nics.as_str().map(str::trim), Some(""), "the guest has a network device: {nics}");
    let (pid, dir) = (guest.qemu_pid(), guest.run_dir().to_path_buf());
    assert!(common::process_exists(pid));
    drop(guest);
    assert!(!common::process_exists(pid), "QEMU {pid} survived the drop");
    assert!(!dir.exists(), "run directory {} left behind", dir.display());
}

#[test]
fn ctrl_c_kills_qemu_and_removes_the_run_directory() {
    use std::time::{Duration, Instant};
    let corpus = common::TempCorpus::new();
    let file = corpus.add_scenario("hang-long", &common::scenario_text("hang-long", &[], "lmo_end=hang", 120));
    // Build first so the command below only boots.
    prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oracle"))
        .arg("boot")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (qemu, run_dir) = common::qemu_child(child.id(), deadline, "the boot");
    assert!(run_dir.exists());
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(!common::process_exists(qemu), "QEMU {qemu} survived Ctrl-C");
    assert!(!run_dir.exists(), "run directory {} left behind", run_dir.display());
}

/// `oracle run` stopped by Ctrl-C or SIGTERM in the middle of a corpus: exit 130, no
/// QEMU left, no run directory left, and the results file keeps the scenario that
/// finished and says the run is incomplete.
#[rstest::rstest]
#[case::sigint(nix::sys::signal::Signal::SIGINT)]
#[case::sigterm(nix::sys::signal::Signal::SIGTERM)]
fn an_interrupted_run_keeps_what_finished(#[case] signal: nix::sys::signal::Signal) {
    use std::time::{Duration, Instant};
    let scenarios = [common::scenario("baseline-pte"), common::scenario("bbml3-blocks")];
    for s in &scenarios {
        prepare(s).unwrap_or_else(|e| panic!("{e:#}"));
    }
    let out = tempfile::tempdir().unwrap();
    let json = out.path().join("results.json");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oracle"))
        .arg("run")
        .args(["-j", "1"])
        .args(&scenarios)
        .arg("--json")
        .arg(&json)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let read = || -> Option<serde_json::Value> { serde_json::from_str(&std::fs::read_to_string(&json).ok()?).ok() };
    let deadline = Instant::now() + Duration::from_secs(600);
    while read().is_none_or(|d| d["scenarios"].as_array().map_or(0, Vec::len) < 1) {
        assert!(Instant::now() < deadline, "the first scenario never finished");
        assert!(child.try_wait().unwrap().is_none(), "oracle run ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The second scenario is booting.
    let (qemu, run_dir) = common::qemu_child(child.id(), deadline, "the second scenario");
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(!common::process_exists(qemu), "QEMU {qemu} survived {signal}");
    assert!(!run_dir.exists(), "run directory {} left behind", run_dir.display());
    let data = read().expect("the results file is whole");
    assert_eq!(data["complete"], false, "{data}");
    assert_eq!(data["run"]["matrix"].as_array().map(Vec::len), Some(2));
    let outcomes = data["scenarios"].as_array().unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0]["scenario"], "baseline-pte");
    let left: Vec<_> = std::fs::read_dir(out.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("results.json")], "temporary files left beside the results");
}
