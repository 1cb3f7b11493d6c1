//! Kernels from the user's own sources (`--kernel git:PATH[@REV]`, `--kernel tar:PATH`),
//! on the real kernel: the commit or tarball goes into the cache and is built in the
//! tree of Debian's source of the same version (only what differs is rebuilt), the
//! checkout is never touched, and the same source gives the same linear maps as
//! Debian's package.

mod common;

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git").arg("-C").arg(dir).args(["-c", "user.name=t", "-c", "user.email=t@localhost"]).args(args).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn oracle(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(args).output().unwrap();
    (out.status.code(), format!("{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// Everything of a checkout a build could disturb: HEAD, refs, the index's bytes, the
/// status (modified, staged and untracked files) and the content of the modified file.
fn checkout_state(checkout: &Path) -> (String, String, Vec<u8>, String, String) {
    (
        git(checkout, &["rev-parse", "HEAD"]),
        git(checkout, &["show-ref"]),
        std::fs::read(checkout.join(".git/index")).unwrap(),
        git(checkout, &["status", "--porcelain=v2", "--untracked-files=all", "--ignored"]),
        std::fs::read_to_string(checkout.join("arch/arm64/mm/mmu.c")).unwrap(),
    )
}

/// Builds `bbml3-blocks`'s own Debian kernel, so the family tree a shared build reuses
/// exists whatever order the tests run in.
fn build_debian_base_family() {
    let variant = linux_harness::KernelVariant {
        source: "debian:linux-source-7.3".into(),
        series: vec![],
        configs: vec![common::corpus().join("configs/base.config")],
    };
    linux_harness::build_kernel(&variant).unwrap_or_else(|e| panic!("{e:#}"));
}

#[test]
fn a_kernel_from_a_git_checkout() {
    // The user's checkout: a clone of the cached Linux 7.3 tree (its one commit is the
    // pristine Debian source), sharing its objects, with only arch/arm64/mm and the top
    // level checked out, and one commit of the user's own on top.
    let debian = linux_harness::source::KernelSource::locate("debian:linux-source-7.3").unwrap_or_else(|e| panic!("{e:#}"));
    let tmp = tempfile::tempdir().unwrap();
    let checkout = tmp.path().join("linux");
    let out = Command::new("git").args(["clone", "-q", "--shared", "--sparse"]).arg(&debian.tree).arg(&checkout).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    git(&checkout, &["sparse-checkout", "add", "arch/arm64/mm"]);
    let mmu = checkout.join("arch/arm64/mm/mmu.c");
    let mut text = std::fs::read_to_string(&mmu).unwrap();
    text.push_str("/* The user's commit: a comment after the last line, so no line moves. */\n");
    std::fs::write(&mmu, &text).unwrap();
    git(&checkout, &["commit", "-q", "-a", "-m", "arm64: mm: a comment"]);
    let commit = git(&checkout, &["rev-parse", "HEAD"]).trim().to_string();
    // Work in progress the oracle must not touch: a modified file, a staged new file
    // and an untracked one (Debian's .gitignore ignores everything: `add -f`).
    std::fs::write(&mmu, format!("{text}/* not committed */\n")).unwrap();
    std::fs::write(checkout.join("arch/arm64/mm/staged.c"), "/* staged */\n").unwrap();
    git(&checkout, &["add", "-f", "arch/arm64/mm/staged.c"]);
    std::fs::write(checkout.join("NOTES"), "mine\n").unwrap();
    let before = checkout_state(&checkout);

    build_debian_base_family();
    let spec = format!("git:{}", checkout.display());
    let scenario = common::scenario("bbml3-blocks");
    let (code, out) = oracle(&["boot", "--kernel", &spec, scenario.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(reused build tree)"), "built in Debian's 7.3 tree, incrementally: {out}");

    let results = tmp.path().join("results");
    let (code, out) = oracle(&["run", "-j", "1", "--kernel", &spec, "--out", results.to_str().unwrap(), scenario.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("kernel source for every scenario: {spec}")), "{out}");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("report.json")).unwrap()).unwrap();
    assert_eq!(data["run"]["kernel"], spec.as_str());
    assert_eq!(data["scenarios"][0]["kernel"]["source"], format!("git:{commit}"), "the source is the user's commit");

    // A comment changes no mapping: the accepted snapshots (from Debian's package) hold.
    let snaps = common::copy_snapshots(tmp.path());
    let (code, out) = oracle(&["snapshot", "--kernel", &spec, "--snapshots", snaps.to_str().unwrap(), scenario.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("8 snapshot(s), 0 changed or new"), "{out}");

    // The checkout is as it was: HEAD, refs, index, status, the modified file.
    assert!(checkout_state(&checkout) == before, "the checkout changed:\n{}", git(&checkout, &["status"]));
    // A revision that does not exist, and a checkout that is not a kernel, are named.
    let (code, out) = oracle(&["run", "--kernel", &format!("{spec}@no-such-rev"), scenario.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no-such-rev"), "{out}");
    let not_kernel = tmp.path().join("notes");
    std::fs::create_dir(&not_kernel).unwrap();
    git(&not_kernel, &["init", "-q"]);
    std::fs::write(not_kernel.join("README"), "hi\n").unwrap();
    git(&not_kernel, &["add", "README"]);
    git(&not_kernel, &["commit", "-q", "-m", "notes"]);
    let (code, out) = oracle(&["run", "--kernel", &format!("git:{}", not_kernel.display()), scenario.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains(&format!("git:{} is not a Linux kernel source: commit ", not_kernel.display())) && out.contains("has no Makefile"), "{out}");
    let (code, out) = oracle(&["run", "--kernel", &format!("git:{}", tmp.path().join("nowhere").display()), scenario.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("is not a git checkout"), "{out}");
}

/// A kernel tarball as kernel.org ships them (one top-level `linux-7.3/` folder): built
/// in Debian's 7.3 tree, same maps; a tarball without a kernel is named.
#[test]
fn a_kernel_from_a_tarball() {
    let debian = linux_harness::source::KernelSource::locate("debian:linux-source-7.3").unwrap_or_else(|e| panic!("{e:#}"));
    let tmp = tempfile::tempdir().unwrap();
    let tarball = tmp.path().join("linux-7.3.tar.gz");
    let branch = git(&debian.tree, &["for-each-ref", "--count=1", "--format=%(objectname)", "refs/heads/"]);
    git(&debian.tree, &["archive", "--format=tar.gz", "--prefix=linux-7.3/", "-o", tarball.to_str().unwrap(), branch.trim()]);

    build_debian_base_family();
    let spec = format!("tar:{}", tarball.display());
    let results = tmp.path().join("results");
    let scenario = common::scenario("bbml3-blocks");
    let (code, out) = oracle(&["run", "-j", "1", "--kernel", &spec, "--out", results.to_str().unwrap(), scenario.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("report.json")).unwrap()).unwrap();
    assert!(data["scenarios"][0]["kernel"]["source"].as_str().unwrap().starts_with("tar:"), "{}", data["scenarios"][0]["kernel"]);
    assert_eq!(data["scenarios"][0]["verdict"], "match");

    // Not a kernel: a tarball of a README, a file that is no tarball, a missing file.
    let readme = tmp.path().join("readme");
    std::fs::create_dir(&readme).unwrap();
    std::fs::write(readme.join("README"), "hi\n").unwrap();
    let small = tmp.path().join("small.tar");
    assert!(Command::new("tar").arg("-cf").arg(&small).arg("-C").arg(&readme).arg(".").status().unwrap().success());
    let junk = tmp.path().join("junk.tar.xz");
    std::fs::write(&junk, "not a tarball\n").unwrap();
    for (given, why) in [(&small, "it has no Makefile"), (&junk, "tar cannot unpack it")] {
        let (code, out) = oracle(&["run", "--kernel", &format!("tar:{}", given.display()), scenario.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{out}");
        assert!(out.contains(&format!("tar:{} is not a Linux kernel source: {why}", given.display())), "{out}");
    }
    let (code, out) = oracle(&["run", "--kernel", "tar:/nonexistent/linux.tar", scenario.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("/nonexistent/linux.tar"), "{out}");
}

/// `realm-bbml3` on `series` (none: the scenario's own kernel): exit 0 and report.json.
fn run_realm_bbml3(dir: &std::path::Path, series: Option<&std::path::Path>) -> serde_json::Value {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_oracle"));
    cmd.args(["run", "-j", "1", "--out"]).arg(dir);
    if let Some(s) = series {
        cmd.arg("--series").arg(s);
    }
    let out = cmd.arg(common::scenario("realm-bbml3")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap()
}

/// How many calls of each traced function a scenario's trace holds.
fn calls_per_function(scenario: &serde_json::Value) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for c in scenario["calls"].as_array().unwrap() {
        *counts.entry(c["function"].as_str().unwrap().to_string()).or_default() += 1;
    }
    counts
}

/// Tracing that survives another build: a patch that makes the compiler inline
/// `__change_memory_common()` everywhere (no symbol left) still gives a traced realm
/// scenario that matches the model, with every call recorded through the DWARF's inlined
/// instances, their located arguments right, and the ones the DWARF does not locate
/// reported instead of failing the scenario.
#[test]
fn a_build_that_inlines_a_traced_function_is_traced_through_the_dwarf() {
    let tmp = tempfile::tempdir().unwrap();
    let base = run_realm_bbml3(&tmp.path().join("base"), None);
    let series = common::corpus().join("patches/inline-change-memory-common");
    let inlined = run_realm_bbml3(&tmp.path().join("inlined"), Some(&series));
    let (base, inlined) = (&base["scenarios"][0], &inlined["scenarios"][0]);
    assert_eq!(inlined["verdict"], "match", "{inlined}");
    assert_eq!(base["trace_gaps"], serde_json::json!([]), "the base build hides nothing: {base}");
    assert_eq!(calls_per_function(inlined), calls_per_function(base));
    assert!(calls_per_function(base)["__change_memory_common"] > 0);

    let calls = inlined["calls"].as_array().unwrap();
    let mut enc_dec: Option<&serde_json::Value> = None;
    let mut checked = 0;
    for c in calls {
        match c["function"].as_str().unwrap() {
            "__set_memory_enc_dec" => enc_dec = Some(c),
            "__change_memory_common" => {
                assert!(c["text"].as_str().unwrap().contains("(inlined into "), "{c}");
                assert_eq!(c["ret"], serde_json::Value::Null, "an inlined call has no return value: {c}");
                if c["caller"].as_str().unwrap().starts_with("__set_memory_enc_dec+") {
                    // The inlined call's address and size are those of the sharing call
                    // it belongs to (pageattr.c:304 and :319): PAGE_SIZE * numpages.
                    let outer = enc_dec.expect("an enc_dec call before its inlined change");
                    assert_eq!(c["args"][0], outer["args"][0], "{c} in {outer}");
                    let numpages = u64::from_str_radix(outer["args"][1].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
                    assert_eq!(c["args"][1], format!("{:#x}", numpages * 4096), "{c} in {outer}");
                    assert_eq!(c["args"][2], "?", "the pgprot_t masks are not located at the entry: {c}");
                    checked += 1;
                }
            }
            _ => {}
        }
    }
    assert_eq!(checked, 2 * calls_per_function(inlined)["__set_memory_enc_dec"], "two changes per share (invalidate, then the new attributes)");
    let gaps: Vec<&str> = inlined["trace_gaps"].as_array().unwrap().iter().map(|g| g.as_str().unwrap()).collect();
    assert!(gaps.iter().any(|g| g.contains("of __change_memory_common at __set_memory_enc_dec+") && g.contains("argument(s) 2, 3 (from 0) not located")), "{gaps:?}");
    assert!(!gaps.iter().any(|g| g.contains("not replayed")), "the model's calls keep their arguments: {gaps:?}");
}
