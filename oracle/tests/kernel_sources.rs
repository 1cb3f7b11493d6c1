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
