//! Pinned Debian sources (`corpora/kernels.lock`), on the real archive and cache: a
//! corpus's scenarios build from the exact version its lock pins, a pin the archive does
//! not serve is named with the command that moves it, and `oracle pin` moves a pin and
//! reviews the snapshots of the scenarios built from it.

mod common;

use std::process::Command;

use linux_harness::source::KernelSource;

fn oracle(args: &[&str], extra: &[&std::path::Path]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(args).args(extra).output().unwrap();
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_project_lock_pins_the_cached_source() {
    let lock = linux_harness::lock::KernelsLock::load(&common::corpus().join("kernels.lock")).unwrap();
    let pinned = lock.pin("debian:linux-source-7.3").unwrap();
    let source = KernelSource::locate(&pinned).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(source.id, format!("linux-source-7.3 {}", lock.pins["debian:linux-source-7.3"]));
}

#[test]
fn pins_are_kept_moved_and_refused_as_the_archive_says() {
    let corpus = common::TempCorpus::new();
    let root = corpus.root();
    let scenario = corpus.add_scenario("bbml3-blocks", &std::fs::read_to_string(common::scenario("bbml3-blocks")).unwrap());
    let served = linux_harness::source::served_versions("linux-source-7.3").unwrap();
    let cached = KernelSource::locate("debian:linux-source-7.3").unwrap().id;

    // A version the archive does not serve: named, with the command that moves the pin;
    // nothing changes (no lock written, the cached tree as it was).
    let (code, out) = oracle(&["pin", "debian:linux-source-7.3", "--version", "7.3.4-1~bpo13+99", "--corpus"], &[&root]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no longer serves linux-source-7.3 7.3.4-1~bpo13+99") && out.contains(&served[0]) && out.contains("`oracle pin debian:linux-source-7.3`"), "{out}");
    assert!(!root.join("kernels.lock").exists());
    assert_eq!(KernelSource::locate("debian:linux-source-7.3").unwrap().id, cached);

    // A corpus whose lock pins a version the cache does not hold: the run says so and
    // names the set-up command; a Debian source with no pin at all names `oracle pin`.
    std::fs::write(root.join("kernels.lock"), "debian:linux-source-7.3 7.3.3-1~bpo13+1\n").unwrap();
    let (code, out) = oracle(&["run"], &[&scenario]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("the cache holds 7.3.4") && out.contains("the pin is 7.3.3-1~bpo13+1") && out.contains("cargo xtask setup"), "{out}");
    std::fs::write(root.join("kernels.lock"), "debian:linux-source-7.2 7.2.12-1~bpo13+1\n").unwrap();
    let (code, out) = oracle(&["run"], &[&scenario]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("pin it with `oracle pin debian:linux-source-7.3`") && out.contains("kernels.lock"), "{out}");

    // Moving the pin to the newest version served (the one cached here): the lock says
    // it, and the scenario's snapshots are reviewed against it (unchanged).
    std::fs::remove_file(root.join("kernels.lock")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let snaps = common::copy_snapshots(tmp.path());
    let (code, out) = oracle(&["pin", "debian:linux-source-7.3", "--corpus"], &[&root, std::path::Path::new("--snapshots"), &snaps]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("already in the cache") && out.contains(&format!("pinned to {}", served[0])), "{out}");
    assert!(out.contains(&format!("snapshot(s) on debian:linux-source-7.3 {}, 0 changed or new", served[0])), "{out}");
    let lock = linux_harness::lock::KernelsLock::load(&root.join("kernels.lock")).unwrap();
    assert_eq!(lock.pins["debian:linux-source-7.3"], served[0]);
    let (code, out) = oracle(&["run"], &[&scenario]);
    assert_eq!(code, Some(0), "{out}");
}
