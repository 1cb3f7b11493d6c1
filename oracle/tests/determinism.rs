//! Every corpus scenario gives the same result twice: the same verdict and WARN count,
//! and the same Linux side and divergences at every checkpoint it calls deterministic
//! (`cargo xtask determinism` does the same 20 times).

mod common;

use std::process::Command;

#[test]
fn every_corpus_scenario_is_the_same_twice() {
    let out = Command::new(env!("CARGO_BIN_EXE_oracle"))
        .args(["determinism", "--runs", "2"])
        .arg(common::corpus().join("scenarios"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    let total = std::fs::read_dir(common::corpus().join("scenarios")).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json")).count();
    assert_eq!(last, format!("{total}/{total} scenario(s) identical over 2 runs each"), "{stdout}");
    // Scenarios with nondeterministic checkpoints say which and why.
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("end-of-boot: verdict only (")), "{stdout}");
}
