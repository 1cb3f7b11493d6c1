//! VA geometries on a real kernel: Debian's 7.3 built for 52-bit VAs with 4K pages
//! (LPA2) boots with 5 levels on `-cpu max` (pages, and with rodata=off blocks) and drops to 48 bits and 4 levels at boot on
//! a CPU without LPA2 (`-cpu max,lpa2=off`); the walker, the ptdump cross-check and the
//! model (which decides the VA size from the scenario's CPU) agree on both. The other
//! geometries (16K and 64K with 52 bits, 2-level walks) are in corpora/geometries, which
//! the nightly runs; the model and the walker are held against each other in every
//! geometry by unit tests (rust-impl mmu/tests_geometry.rs, walker/tests_geometry.rs).

mod common;

use std::process::Command;

fn oracle(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

fn geometry(name: &str) -> String {
    common::corpus().join("geometries").join(format!("{name}.json")).display().to_string()
}

#[test]
fn a_52_bit_kernel_with_and_without_lpa2() {
    let (lpa2, no_lpa2, blocks) = (geometry("va52-lpa2"), geometry("va52-no-lpa2"), geometry("va52-lpa2-blocks"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let (code, stdout, stderr) = oracle(&["run", "-j", "2", "--out", out.to_str().unwrap(), &lpa2, &no_lpa2, &blocks]);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    for s in report["scenarios"].as_array().unwrap() {
        assert_eq!(s["verdict"], "match", "{s}");
    }

    // What each boot ran with, in the kernel's own ptdump and in the walk of guest RAM.
    let boot = |path: &str| {
        let (code, stdout, stderr) = oracle(&["boot", path]);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        stdout
    };
    let dump = |path: &str| {
        let (code, stdout, stderr) = oracle(&["dump", path]);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        assert!(stderr.contains("ptdump cross-check: the host walk and the kernel's ptdump agree"), "{stdout}\n{stderr}");
        stdout.lines().filter(|l| l.starts_with("0x")).map(str::to_owned).collect::<Vec<_>>()
    };

    // -cpu max: LPA2, 52 bits, 5 levels (ptdump names a P4D level), the linear map at
    // _PAGE_OFFSET(52), no shareability field in the descriptors.
    let b = boot(&lpa2);
    assert!(b.contains("52-bit Virtual Addressing (LPA2)"), "{b}");
    assert!(b.lines().any(|l| l.contains(" P4D ")), "{b}");
    let lines = dump(&lpa2);
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.starts_with("0xfff0") && !l.contains(" SHD "), "{l}");
    }

    // rodata=off: 1G PUD blocks and CONT PMD ranges below the P4D table of the 5-level walk.
    let lines = dump(&blocks);
    assert!(lines.iter().any(|l| l.contains(" 1G PUD ")) && lines.iter().any(|l| l.contains(" PMD CONT ")), "{lines:#?}");

    // lpa2=off: the same kernel at 48 bits with its fifth level folded (no P4D), the
    // linear map at _PAGE_OFFSET(48), inner shareable.
    let b = boot(&no_lpa2);
    assert!(!b.contains("52-bit Virtual Addressing (LPA2)"), "{b}");
    assert!(!b.lines().any(|l| l.contains(" P4D ")), "{b}");
    let lines = dump(&no_lpa2);
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l.starts_with("0xffff0") && l.contains(" SHD "), "{l}");
    }
}
