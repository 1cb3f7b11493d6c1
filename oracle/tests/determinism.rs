//! Every corpus scenario gives the same result twice: the same verdict and WARN count,
//! and the same Linux side and divergences at every checkpoint it calls deterministic
//! (`cargo xtask determinism` does the same 20 times). The first run's Linux side at
//! each of those checkpoints is the accepted snapshot
//! (snapshots/<scenario>.<checkpoint>.linux.snap): a changed dump leaves a `.snap.new`
//! for `cargo insta review`. One pass of the corpus serves both (a cold run of the
//! suite is mostly these boots and the kernels they build).

mod common;

use std::process::Command;

#[test]
fn every_corpus_scenario_is_the_same_twice_and_as_snapshotted() {
    let snapshots = common::corpus().join("../snapshots");
    let out = Command::new(env!("CARGO_BIN_EXE_oracle"))
        .args(["determinism", "--runs", "2", "--snapshots"])
        .arg(&snapshots)
        .arg(common::corpus().join("scenarios"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let total = std::fs::read_dir(common::corpus().join("scenarios")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json")).count();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[lines.len() - 2], format!("{total}/{total} scenario(s) identical over 2 runs each"), "{stdout}");
    // Every deterministic checkpoint of every scenario has its snapshot, unchanged.
    let taken: usize = lines.last().unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(taken >= 25, "only {taken} snapshots");
    assert_eq!(*lines.last().unwrap(), format!("{taken} snapshot(s), 0 changed, new or unread"), "{stdout}");
    // Scenarios with nondeterministic checkpoints say which and why.
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("end-of-boot: verdict only (")), "{stdout}");
}
