//! A kernel from the user's own git checkout (`--kernel git:PATH[@REV]`), on the real
//! kernel: the commit is exported into the cache and built there, the checkout is never
//! touched, and the same source gives the same linear maps as Debian's package.

mod common;

use std::process::Command;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_kernel_from_a_git_checkout() {
    // The user's checkout: a bare clone of the cached Linux 7.3 tree (its one commit is
    // the pristine Debian source), sharing its objects.
    let debian = linux_harness::source::KernelSource::locate("debian:linux-source-7.3").unwrap_or_else(|e| panic!("{e:#}"));
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("linux.git");
    let out = Command::new("git").args(["clone", "-q", "--bare", "--shared"]).arg(&debian.tree).arg(&checkout).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = (git(&checkout, &["show-ref"]), git(&checkout, &["rev-parse", "HEAD"]));
    let spec = format!("git:{}@HEAD", checkout.display());

    let results = tmp.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_oracle"))
        .args(["run", "-j", "1", "--kernel", &spec, "--out"])
        .arg(&results)
        .arg(common::scenario("bbml3-blocks"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("kernel source for every scenario: {spec}")), "{stdout}");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("report.json")).unwrap()).unwrap();
    assert_eq!(data["run"]["kernel"], spec.as_str());
    let source = data["scenarios"][0]["kernel"]["source"].as_str().unwrap().to_string();
    assert_eq!(source, format!("git:{}", before.1.trim()), "the source is the commit");

    // Same source, same maps: the accepted snapshots (from Debian's package) hold.
    let snaps = common::copy_snapshots(tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(["snapshot", "--kernel", &spec, "--snapshots"]).arg(&snaps).arg(common::scenario("bbml3-blocks")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("8 snapshot(s), 0 changed or new"), "{stdout}");

    // The checkout is as it was: same refs, same HEAD.
    assert_eq!((git(&checkout, &["show-ref"]), git(&checkout, &["rev-parse", "HEAD"])), before);
    // A revision that does not exist is named.
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(["run", "--kernel", &format!("git:{}@no-such-rev", checkout.display())]).arg(common::scenario("bbml3-blocks")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(stdout.contains("no-such-rev"), "{stdout}");
}
