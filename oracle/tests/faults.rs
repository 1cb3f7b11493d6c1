//! Faults in the middle of a boot are results, not harness crashes: QEMU killed while
//! the guest runs and while it is stopped at a checkpoint, and the debugger connection
//! lost. Each leaves no QEMU process and no run directory behind.

mod common;

use std::time::{Duration, Instant};

use linux_harness::boot::{boot_with, StopHandler};
use linux_harness::gdbstub::{GdbStub, StopReply};
use linux_harness::qemu::RunFiles;
use linux_harness::{BootOutcome, EndAction};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use oracle::prepare::{prepare, Prepared};

/// The QEMU process whose command line names `path` (its RAM file).
fn qemu_using(path: &std::path::Path) -> Option<u32> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline).contains(&needle).then_some(pid)
    })
}

/// What a test handler does at its one breakpoint.
enum Fault {
    KillQemu,
    DropDebugger,
}

/// Breaks once at the entry of `mem_init` (the after-map-mem checkpoint) and injects a
/// fault there, with every vCPU stopped.
struct FaultAt {
    address: u64,
    fault: Fault,
    qemu: Option<u32>,
    run_dir: Option<std::path::PathBuf>,
}

impl StopHandler for FaultAt {
    fn breakpoints(&self) -> Vec<u64> {
        vec![self.address]
    }
    fn on_stop(&mut self, stop: &StopReply, gdb: &mut GdbStub, files: &RunFiles) -> linux_harness::Result<()> {
        self.run_dir = files.ram.parent().map(|d| d.to_path_buf());
        match self.fault {
            Fault::KillQemu => {
                let pid = qemu_using(&files.ram).expect("QEMU is running");
                self.qemu = Some(pid);
                kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
            }
            Fault::DropDebugger => {
                self.qemu = qemu_using(&files.ram);
                gdb.disconnect();
            }
        }
        // What the handler does next at a checkpoint: ask the debugger.
        gdb.read_register(stop.thread.as_deref().unwrap_or("p1.1"), "pc").map(|_| ())
    }
}

fn boot_with_fault(p: &Prepared, fault: Fault) -> (linux_harness::Result<linux_harness::boot::Boot>, FaultAt) {
    let address = p.kernel_info().unwrap().symbols.get("mem_init").unwrap();
    let mut handler = FaultAt { address, fault, qemu: None, run_dir: None };
    let req = p.boot_request(EndAction::Wait);
    let boot = boot_with(&req, Some(&mut handler));
    (boot, handler)
}

#[test]
fn qemu_killed_at_a_checkpoint_is_a_qemu_failure() {
    let p = prepare(&common::scenario("baseline-pte")).unwrap_or_else(|e| panic!("{e:#}"));
    let (boot, h) = boot_with_fault(&p, Fault::KillQemu);
    let boot = boot.unwrap_or_else(|e| panic!("a QEMU killed under the debugger must be an outcome, not {e}"));
    match &boot.outcome {
        BootOutcome::QemuFailed { status, .. } => assert!(status.contains("SIGKILL") || status.contains("signal: 9"), "{status}"),
        other => panic!("expected QEMU failed, got {other:?}"),
    }
    assert!(boot.guest.is_none());
    assert!(!common::process_exists(h.qemu.unwrap()));
    assert!(!h.run_dir.unwrap().exists(), "run directory left behind");
}

#[test]
fn a_lost_debugger_connection_is_an_error_that_cleans_up() {
    let p = prepare(&common::scenario("baseline-pte")).unwrap_or_else(|e| panic!("{e:#}"));
    let (boot, h) = boot_with_fault(&p, Fault::DropDebugger);
    match boot {
        Err(linux_harness::Error::Gdb(msg)) => assert!(!msg.is_empty()),
        Err(e) => panic!("expected a debugger error, got {e}"),
        Ok(b) => panic!("expected a debugger error, got {:?}", b.outcome),
    }
    assert!(!common::process_exists(h.qemu.expect("QEMU was running")), "QEMU survived the lost debugger");
    assert!(!h.run_dir.unwrap().exists(), "run directory left behind");
}

/// `oracle run` on a scenario whose QEMU is killed while it boots: an infrastructure
/// failure (exit 2) that names QEMU's end, and nothing left behind.
#[test]
fn qemu_killed_mid_boot_is_reported_by_run() {
    let file = common::scenario("baseline-pte");
    prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_oracle")).arg("run").arg(&file).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let (qemu, run_dir) = common::qemu_child(child.id(), deadline, "the boot");
    std::thread::sleep(Duration::from_secs(2));
    kill(Pid::from_raw(qemu as i32), Signal::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("INFRASTRUCTURE FAILURE") && stdout.contains("QEMU failed") && (stdout.contains("SIGKILL") || stdout.contains("signal: 9")), "{stdout}");
    assert!(!common::process_exists(qemu));
    assert!(!run_dir.exists(), "run directory {} left behind", run_dir.display());
}

/// A patch appending a comment with `token` to `file` of the pristine kernel source, so
/// the variant is new (and built) every time the test runs.
fn comment_patch(file: &str, token: &str) -> String {
    let source = linux_harness::source::KernelSource::locate("debian:linux-source-7.3").unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new("git").arg("-C").arg(&source.tree).arg("show").arg(format!("HEAD:{file}")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let n = lines.len();
    let context: String = lines[n - 3..].iter().map(|l| format!(" {l}\n")).collect();
    format!("diff --git a/{file} b/{file}\n--- a/{file}\n+++ b/{file}\n@@ -{},3 +{},4 @@\n{context}+/* lmo fault test {token} */\n", n - 2, n - 2)
}

/// Ctrl-C while the kernel builds: exit 130, make and its compilers stopped, and the
/// next run builds the same variant and boots it, with no manual cleanup.
#[test]
fn a_build_interrupted_half_way_recovers_on_the_next_run() {
    let corpus = common::TempCorpus::new();
    let token = format!("{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    corpus.add_patch("touch", "0001-touch.patch", &comment_patch("arch/arm64/mm/pageattr.c", &token));
    let file = corpus.add_scenario("interrupted-build", &common::scenario_text("interrupted-build", &["touch"], "", 120));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oracle")).arg("boot").arg(&file).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().unwrap();
    // make runs in a process group of its own (its pid), child of oracle.
    // On a cold cache other tests' kernel builds hold the build lock first, one after
    // the other: make starts only when this one gets it.
    let deadline = Instant::now() + Duration::from_secs(3600);
    let make = loop {
        if let Some(pid) = common::children_named(child.id(), "make").first() {
            break *pid;
        }
        assert!(Instant::now() < deadline, "oracle never started make (waiting for another build?)");
        assert!(child.try_wait().unwrap().is_none(), "oracle ended before building");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Let it get into compiling.
    std::thread::sleep(Duration::from_secs(4));
    kill(Pid::from_raw(child.id() as i32), Signal::SIGINT).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(130));
    // Nothing of the build's process group is left.
    let group_left = |pgid: u32| {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("stat")).ok().and_then(|s| s.rsplit_once(')').and_then(|(_, t)| t.split_whitespace().nth(2).map(|g| g == pgid.to_string()))).unwrap_or(false)
        })
    };
    let gone_by = Instant::now() + Duration::from_secs(5);
    while group_left(make) && Instant::now() < gone_by {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!group_left(make), "processes of the interrupted build (group {make}) are still running");
    // The next run recovers by itself.
    let p = prepare(&file).unwrap_or_else(|e| panic!("the next build did not recover: {e:#}"));
    let boot = oracle::boot::boot_scenario(&p, EndAction::Poweroff, false).unwrap();
    assert_eq!(boot.outcome, BootOutcome::Booted, "{}", boot.console);
    let _ = std::fs::remove_dir_all(&p.kernel.dir);
}

/// A guest that never reaches /init (here: a timeout shorter than the kernel's own
/// boot, with every checkpoint breakpoint armed) is an infrastructure failure of that
/// scenario that says it hung and where the console stopped; nothing is left behind.
#[test]
fn a_guest_that_never_reaches_init_is_reported_as_hung() {
    let corpus = common::TempCorpus::new();
    // A real hang, whatever the host's speed: no /init in the initramfs under that name,
    // so the kernel turns to mounting a root device and first waits rootdelay seconds.
    let file = corpus.add_scenario("hang-early", &common::scenario_text("hang-early", &[], "rdinit=/nonexistent rootdelay=100000", 2));
    prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let runs = tempfile::tempdir_in("/dev/shm").unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_oracle"))
        .arg("run")
        .arg(&file)
        .env("LMO_RUN_PARENT", runs.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The boot's run directory appears there while it runs...
    let mut seen = false;
    while !seen && child.try_wait().unwrap().is_none() {
        seen = std::fs::read_dir(runs.path()).unwrap().next().is_some();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(seen, "the boot never made its run directory under LMO_RUN_PARENT");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("INFRASTRUCTURE FAILURE") && stdout.contains("hung: nothing conclusive after 2s"), "{stdout}");
    // ... and is gone after it.
    assert!(!stdout.contains("Run /init"), "{stdout}");
    let left: Vec<_> = std::fs::read_dir(runs.path()).unwrap().flatten().map(|e| e.path()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Two `oracle` processes on one cache at once, both needing the same new kernel: one
/// builds it while the other waits for the build lock and then takes the built kernel;
/// both boot, and the cache holds that kernel once with no half-made entry beside it.
#[test]
fn two_processes_share_one_cache() {
    let corpus = common::TempCorpus::new();
    let token = format!("shared-{}-{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    corpus.add_patch("touch", "0001-touch.patch", &comment_patch("arch/arm64/mm/pageattr.c", &token));
    let file = corpus.add_scenario("shared-cache", &common::scenario_text("shared-cache", &["touch"], "", 120));
    let spawn = || std::process::Command::new(env!("CARGO_BIN_EXE_oracle")).arg("boot").arg(&file).output();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    for out in [&a, &b] {
        assert_eq!(out.status.code(), Some(0), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    }
    let p = prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let key = p.kernel.dir.file_name().unwrap().to_string_lossy().into_owned();
    let kernels = p.kernel.dir.parent().unwrap();
    let entries: Vec<String> = std::fs::read_dir(kernels).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with(&key[..12])).collect();
    assert_eq!(entries, vec![key.clone()], "the variant's cache entries");
    let _ = std::fs::remove_dir_all(&p.kernel.dir);
}

/// The cache's filesystem fills up during a kernel build (a 32 MiB tmpfs over the new
/// build tree, in a private mount namespace): the build fails with an error that says
/// the disk is full and where, exit 2, and no kernel entry (finished or half-made) is
/// left in the cache.
#[test]
fn a_full_cache_filesystem_during_a_build_is_reported() {
    let corpus = common::TempCorpus::new();
    let token = format!("{}{}", std::process::id(), std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    // A fragment of its own makes a new configuration family: a build from scratch.
    let fragment = format!("full-{token}");
    std::fs::write(corpus.root().join("configs").join(format!("{fragment}.config")), format!("CONFIG_LOCALVERSION=\"-lmo{token}\"\n")).unwrap();
    let text = common::scenario_text("disk-full", &[], "", 60).replace("\"configs\": [\"base\"]", &format!("\"configs\": [\"base\", \"{fragment}\"]"));
    let file = corpus.add_scenario("disk-full", &text);
    let scenario = oracle::scenario::Scenario::load(&file).unwrap();
    let variant = scenario.kernel.resolve(&oracle::scenario::corpus_root(&file));
    let (family, key) = linux_harness::build::variant_keys(&variant).unwrap_or_else(|e| panic!("{e}"));
    let build_dir = linux_harness::paths::build_trees_dir().join(&family[..24]);
    std::fs::create_dir_all(&build_dir).unwrap();
    let out = std::process::Command::new("unshare")
        .args(["--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=32m lmo-full \"$1\" && exec \"$2\" boot \"$3\"", "sh"])
        .arg(&build_dir)
        .arg(env!("CARGO_BIN_EXE_oracle"))
        .arg(&file)
        .output()
        .expect("unshare (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    // Outside the namespace the tree was never written; nothing of the variant is cached.
    assert_eq!(std::fs::read_dir(&build_dir).unwrap().count(), 0);
    std::fs::remove_dir(&build_dir).unwrap();
    let kernels = linux_harness::paths::kernels_dir();
    let left: Vec<_> = std::fs::read_dir(&kernels).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.contains(&key[..24])).collect();
    assert!(left.is_empty(), "cache entries of the failed build: {left:?}");
}
