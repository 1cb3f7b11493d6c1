//! The model keyed by kernel version, on real kernels: corpus scenarios built from
//! Debian's linux-source-7.2 and linux-source-6.12 (the base family) match the model
//! under that version's rules (docs/versions.md, docs/versions-6.12.md), fail as their
//! entry says the version fails, or are not run where the version lacks what they test;
//! and what those rules change shows in each version's own maps and calls.

mod common;

use std::process::Command;

fn oracle(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

const SEVEN_TWO: &str = "debian:linux-source-7.2";
const SIX_TWELVE: &str = "debian:linux-source-6.12";

/// `oracle run --kernel KERNEL` over the named corpus scenarios, which must all come
/// out as expected: its stdout and report.json.
fn run_on(kernel: &str, names: &[&str]) -> (String, serde_json::Value) {
    let scenarios: Vec<String> = names.iter().map(|n| common::scenario(n).display().to_string()).collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("results");
    let mut args = vec!["run", "-j", "2", "--kernel", kernel, "--out", out.to_str().unwrap()];
    args.extend(scenarios.iter().map(String::as_str));
    let (code, stdout, stderr) = oracle(&args);
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    (stdout, report)
}

/// On 6.12 (docs/versions-6.12.md): `rodata=on` is not full, so baseline-pte gets
/// blocks; `rodata=full` is accepted and gives PTEs, with the text alias still in a PMD
/// block; `noalias` is refused; the repaint checkpoints stop where 6.12's capabilities
/// are final; nothing is split; a realm scenario is not run. Every map matches the
/// model under 6.12's rules at every checkpoint.
#[test]
fn corpus_scenarios_on_6_12_match_its_rules() {
    let names = ["baseline-pte", "bbml3-blocks", "mixed-bbml3-repaint", "rodata-full-word", "rodata-noalias-pte", "realm-pte"];
    let (stdout, report) = run_on(SIX_TWELVE, &names);
    assert!(stdout.contains(&format!("model rules 6.12: {} scenario(s)", names.len() - 1)), "{stdout}");
    for s in report["scenarios"].as_array().unwrap() {
        if s["scenario"] == "realm-pte" {
            assert_eq!(s["verdict"], "not run", "{s}");
            assert!(s["not_run"].as_str().unwrap().contains("no arm64 realm guest"), "{s}");
            continue;
        }
        assert!(s["kernel"]["source"].as_str().unwrap().starts_with("linux-source-6.12 "), "{}", s["kernel"]);
        assert_eq!(s["kernel"]["model_rules"], "6.12", "{}", s["scenario"]);
        assert_eq!(s["verdict"], "match", "{}", s["scenario"]);
    }

    // The maps themselves, in 6.12's own words.
    let dump = |name: &str| {
        let scenario = common::scenario(name);
        let (code, stdout, stderr) = oracle(&["dump", "--kernel", SIX_TWELVE, scenario.to_str().unwrap()]);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        stdout
    };
    let leaves = |dump: &str, what: &str| dump.lines().filter(|l| l.contains(what)).count();
    // rodata=on: blocks, and the data/bss alias stays valid (no INVALID line).
    let on = dump("baseline-pte");
    assert!(leaves(&on, " PMD ") > 0 && leaves(&on, " INVALID ") == 0, "{on}");
    // rodata=full: the banks are PTEs, but one read-only PMD block is the text alias.
    let full = dump("rodata-full-word");
    let pmd: Vec<&str> = full.lines().filter(|l| l.contains(" PMD ")).collect();
    assert!(pmd.len() == 1 && pmd[0].contains(" ro "), "{full}");
}

#[test]
fn corpus_scenarios_on_7_2_match_its_rules() {
    let names = ["baseline-pte", "bbml3-blocks", "rodata-off-pte", "mixed-bbml3-repaint", "realm-pte", "realm-host-refuses"];
    let (stdout, report) = run_on(SEVEN_TWO, &names);
    assert!(stdout.contains(&format!("model rules 7.2: {} scenario(s)", names.len())), "{stdout}");
    for s in report["scenarios"].as_array().unwrap() {
        assert!(s["kernel"]["source"].as_str().unwrap().starts_with("linux-source-7.2 "), "{}", s["kernel"]);
        assert_eq!(s["kernel"]["model_rules"], "7.2", "{}", s["scenario"]);
        if s["scenario"] == "realm-host-refuses" {
            // 7.2 frees the pages of an atomic pool whose share the host refused while
            // they are still unmapped; the scenario's entry expects the oops (its
            // "versions" field, with the kernel lines).
            assert_eq!(s["verdict"], "fails as expected", "{}", s["kernel_failure"]);
            assert_eq!(s["expect"]["verdict"], "kernel-failure");
            assert!(s["kernel_failure"].as_str().unwrap().contains("Oops: 0000000096000047"), "{}", s["kernel_failure"]);
        } else {
            assert_eq!(s["verdict"], "match", "{}", s["scenario"]);
        }
    }
    // 7.2 forces bouncing in a realm and keeps swiotlb's default 64 MiB (7.3 shrinks it
    // to 1 MiB per GiB, 2 MiB here): the share the caller model expects and sees.
    let realm = report["scenarios"].as_array().unwrap().iter().find(|s| s["scenario"] == "realm-pte").unwrap();
    let swiotlb: Vec<&str> = realm["calls"].as_array().unwrap().iter().map(|c| c["text"].as_str().unwrap()).filter(|t| t.contains("from swiotlb_update_mem_attributes")).collect();
    assert!(swiotlb.len() == 1 && swiotlb[0].starts_with("set_memory_decrypted(") && swiotlb[0].contains(", 0x4000) = 0"), "{swiotlb:?}");

    // What mark_rodata_ro() leaves of the data/bss alias: 7.3 makes it present-invalid,
    // 7.2 read-only and valid (the map above matched the model under each version's
    // rules; here is the difference itself, in Linux's own maps).
    let dump = |kernel: Option<&str>| {
        let mut args = vec!["dump"];
        if let Some(k) = kernel {
            args.extend(["--kernel", k]);
        }
        let bbml3 = common::scenario("bbml3-blocks");
        args.push(bbml3.to_str().unwrap());
        let (code, stdout, stderr) = oracle(&args);
        assert_eq!(code, Some(0), "{stdout}\n{stderr}");
        stdout
    };
    let (seven_two, seven_three) = (dump(Some(SEVEN_TWO)), dump(None));
    assert!(seven_three.lines().any(|l| l.contains(" INVALID ")), "7.3 unmaps the data/bss alias:\n{seven_three}");
    assert!(!seven_two.lines().any(|l| l.contains(" INVALID ")), "7.2 leaves it mapped:\n{seven_two}");
    let read_only = |dump: &str| dump.lines().filter(|l| l.contains(" ro ") && l.contains("MEM/NORMAL ")).count();
    assert!(read_only(&seven_two) > read_only(&seven_three), "7.2 has the text and the data alias read-only, 7.3 the text alone:\n{seven_two}\n{seven_three}");
}

/// A scenario says what it expects on another version, or why it does not run there:
/// on 7.2 the first expects a divergence (which 7.2's base family does not have, so it
/// is reported gone) and the second is not run (nothing built, the reason in every
/// report); on 7.3, which neither mentions, both expect and get their own match. Both
/// kernels run as one kernel matrix (`oracle run --matrix`) in two shards, merged as the
/// CI files do.
#[test]
fn a_scenario_says_what_it_expects_on_each_version() {
    let tmp = tempfile::tempdir().unwrap();
    let base: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::scenario("baseline-pte")).unwrap()).unwrap();
    let mut expects = base.clone();
    expects["name"] = "expects-on-7-2".into();
    expects["versions"] = serde_json::json!({"7.2": {"expect": {"verdict": "diverge", "what": "w", "why": "y"}}});
    let mut not_run = base;
    not_run["name"] = "not-run-on-7-2".into();
    not_run["versions"] = serde_json::json!({"7.2": {"not_run": "a reason in the kernel's terms"}});
    let dir = tmp.path().join("scenarios");
    std::fs::create_dir(&dir).unwrap();
    for s in [&expects, &not_run] {
        std::fs::write(dir.join(format!("{}.json", s["name"].as_str().unwrap())), s.to_string()).unwrap();
    }
    // Both kernels in one run of a kernel matrix, in two shards, merged as CI does.
    let matrix = tmp.path().join("matrix");
    std::fs::write(&matrix, format!("# 7.3, then 7.2\nscenarios\n{SEVEN_TWO}\n")).unwrap();
    let mut text = String::new();
    let mut shards = Vec::new();
    for i in 1..=2 {
        let out = tmp.path().join(format!("shard-{i}"));
        let (code, stdout, stderr) = oracle(&["run", "-j", "1", "--matrix", matrix.to_str().unwrap(), "--shard", &format!("{i}/2"), "--out", out.to_str().unwrap(), dir.to_str().unwrap()]);
        assert!(matches!(code, Some(0 | 1)), "{stdout}\n{stderr}");
        assert!(out.join("kernel-linux-source-7_2/report.json").is_file() && out.join("report.json").is_file(), "{stdout}");
        text += &format!("{stdout}\n{stderr}\n");
        shards.push(out);
    }
    let merged = tmp.path().join("merged");
    let (code, stdout, stderr) = oracle(&["merge", "--out", merged.to_str().unwrap(), shards[0].to_str().unwrap(), shards[1].to_str().unwrap()]);
    let text = format!("{text}{stdout}\n{stderr}");
    // The worst of the two kernels' runs: 7.2's (not as expected).
    assert_eq!(code, Some(1), "{text}");
    let column = |out: &std::path::Path| {
        let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
        assert_eq!(report["complete"], true);
        let by_name = |n: &str| report["scenarios"].as_array().unwrap().iter().find(|s| s["scenario"] == n).unwrap().clone();
        (report["run"]["kernel"].clone(), by_name("expects-on-7-2"), by_name("not-run-on-7-2"))
    };
    let out = merged.join("kernel-linux-source-7_2");
    let (kernel, expects, not_run) = column(&out);
    assert_eq!(kernel, SEVEN_TWO);
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(expects["verdict"], "EXPECTED DIVERGENCE GONE", "{text}");
    assert_eq!(expects["expect"]["verdict"], "diverge");
    assert_eq!((not_run["verdict"].as_str(), not_run["as_expected"].as_bool()), (Some("not run"), Some(true)), "{text}");
    assert_eq!(not_run["not_run"], "Linux 7.2: a reason in the kernel's terms");
    assert!(not_run["kernel"].is_null(), "nothing is built for a scenario not run: {not_run}");
    assert!(text.contains("1 not run on this kernel version"), "{text}");
    assert!(std::fs::read_to_string(out.join("ktap.txt")).unwrap().contains("not-run-on-7-2 # SKIP Linux 7.2: a reason"));
    // KCIDB's own schema library takes the skipped test; junitparser reads it skipped.
    let kcidb = common::python(
        "import json, sys, kcidb_io\n\
         d = json.load(open(sys.argv[1]))\n\
         kcidb_io.schema.LATEST.validate(d)\n\
         print(json.dumps({x['path']: x['status'] for x in d['tests']}))",
        &[&out.join("kcidb.json")],
    );
    let tests: serde_json::Value = serde_json::from_str(&kcidb).unwrap();
    assert_eq!(tests["linear_map.not-run-on-7-2"], "SKIP", "{tests}");
    let junit = common::python(
        "import sys, junitparser\n\
         for suite in junitparser.JUnitXml.fromfile(sys.argv[1]):\n\
         \x20   for case in suite:\n\
         \x20       print(case.name, type(case.result[0]).__name__ if case.result else 'passed')",
        &[&out.join("junit.xml")],
    );
    assert!(junit.lines().any(|l| l == "not-run-on-7-2 Skipped"), "{junit}");

    let (kernel, expects, not_run) = column(&merged);
    assert!(kernel.is_null(), "{kernel}");
    assert_eq!((expects["verdict"].as_str(), not_run["verdict"].as_str()), (Some("match"), Some("match")), "{text}");
}
