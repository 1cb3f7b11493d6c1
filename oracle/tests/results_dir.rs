//! The results directory of a real corpus run, read by the tools it is for: KCIDB's own
//! schema library, a JUnit parser, the kernel's KTAP parser (kunit.py) and a headless
//! Chromium; shards merged back into the unsharded result; two runs compared.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{python, TempCorpus};

/// Two scenarios on cached kernels: one that matches, one that diverges where it says
/// it should not (corpus scenario pagealloc-free-pages-mapped: a debug_pagealloc kernel
/// of our own that leaves freed pages mapped; the copy claims a match). Both
/// deterministic at the checkpoints they read.
fn corpus() -> (TempCorpus, PathBuf, PathBuf) {
    let c = TempCorpus::new();
    let text = |name: &str| std::fs::read_to_string(common::scenario(name)).unwrap();
    let mut matching: serde_json::Value = serde_json::from_str(&text("bbml3-blocks")).unwrap();
    matching["checkpoints"] = serde_json::json!(["after-map-mem", "end-of-boot"]);
    let mut diverging: serde_json::Value = serde_json::from_str(&text("pagealloc-free-pages-mapped")).unwrap();
    diverging["name"] = "pagealloc-claims-match".into();
    diverging["checkpoints"] = serde_json::json!(["after-map-mem", "mem-init"]);
    diverging["expect"] = serde_json::json!({"verdict": "match"});
    diverging.as_object_mut().unwrap().remove("nondeterministic");
    let series = "pagealloc-keeps-free-pages-mapped";
    let patch = "0001-pagealloc-keeps-free-pages-mapped.patch";
    c.add_patch(series, patch, &std::fs::read_to_string(common::corpus().join("patches").join(series).join(patch)).unwrap());
    let a = c.add_scenario("bbml3-blocks", &matching.to_string());
    let b = c.add_scenario("pagealloc-claims-match", &diverging.to_string());
    (c, a, b)
}

fn oracle(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oracle")).args(args).output().unwrap()
}

fn run_to(dir: &Path, scenarios: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), "--out".as_ref(), dir.as_os_str()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    args.extend(scenarios.iter().map(|s| s.as_os_str()));
    oracle(&args)
}

/// Headless Chromium from Debian, with a profile of its own and no network.
fn chromium(args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("/usr/bin/chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("/usr/bin/chromium (Debian's chromium, installed by `cargo xtask setup`)");
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// Any results file with what differs from run to run zeroed: the timings (JUnit
/// `time`, KCIDB `duration`, `seconds`) and the CPU the scheduler happened to run each
/// traced call on (`"cpu": "02"`, `... on 02 [...]`; kernel_init migrates).
fn run_to_run_zeroed(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Each is a number after one of these keys; zero the number.
    const KEYS: [&str; 7] = ["time=\"", "\"duration\": ", "\"seconds\":", "\"seconds\": ", "\"cpu\":\"", "\"cpu\": \"", " on "];
    // The first key found; of two at one place, the longer (`"seconds": ` over `"seconds":`).
    while let Some((i, _, key)) = KEYS.iter().filter_map(|k| rest.find(k).map(|i| (i, std::cmp::Reverse(k.len()), *k))).min() {
        out.push_str(&rest[..i + key.len()]);
        rest = &rest[i + key.len()..];
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-' || c == '+')).unwrap_or(rest.len());
        out.push('0');
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

#[test]
fn a_corpus_run_for_people_dashboards_and_ci() {
    let (_c, good, bad) = corpus();
    let out = tempfile::tempdir().unwrap();
    let full = out.path().join("full");
    let o = run_to(&full, &[&good, &bad], &["-j", "2"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&o.stderr));
    for f in ["report.txt", "report.json", "kcidb.json", "junit.xml", "ktap.txt", "index.html"] {
        assert!(full.join(f).is_file(), "{f} missing");
    }

    // Text: one line for what came out as expected, details for what did not.
    let txt = std::fs::read_to_string(full.join("report.txt")).unwrap();
    assert_eq!(txt, stdout.lines().filter(|l| !l.starts_with("results: ")).map(|l| format!("{l}\n")).collect::<String>());
    let lines: Vec<&str> = txt.lines().collect();
    assert!(lines[0].starts_with("bbml3-blocks") && lines[0].contains(" match "), "{txt}");
    assert!(lines[1].starts_with("pagealloc-claims-match") && lines[1].contains("UNEXPECTED DIVERGENCE"), "{txt}");
    assert!(lines[2].starts_with("  at mem-init:") || lines[2].starts_with("  call trace"), "details follow the diverging scenario only:\n{txt}");
    assert!(txt.lines().last().unwrap().starts_with("2 scenario(s): 1 as expected, 1 not as expected"), "{txt}");

    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(full.join("report.json")).unwrap()).unwrap();
    assert_eq!((data["schema"].as_str(), data["complete"].as_bool()), (Some("lmo-results/1"), Some(true)));
    let diverging = &data["scenarios"][1];
    let at = diverging["checkpoints"].as_array().unwrap().iter().find(|c| c["checkpoint"] == "mem-init").unwrap();
    let first = &at["divergences"][0];
    assert_eq!(first["classes"], serde_json::json!(["presence"]));
    assert!(diverging["checkpoints"][0]["divergences"].as_array().unwrap().is_empty(), "nothing is free before mem_init");

    // KCIDB, validated by KCIDB's own I/O library at the schema it calls latest.
    let kcidb = python(
        "import json, sys, kcidb_io\n\
         d = json.load(open(sys.argv[1]))\n\
         kcidb_io.schema.LATEST.validate(d)\n\
         assert (d['version']['major'], d['version'].get('minor')) == (kcidb_io.schema.LATEST.major, kcidb_io.schema.LATEST.minor), d['version']\n\
         t = {x['path']: x['status'] for x in d['tests']}\n\
         print(json.dumps(t))",
        &[&full.join("kcidb.json")],
    );
    let tests: serde_json::Value = serde_json::from_str(&kcidb).unwrap();
    assert_eq!(tests["linear_map.bbml3-blocks"], "PASS", "{tests}");
    assert_eq!(tests["linear_map.pagealloc-claims-match"], "FAIL", "{tests}");
    assert_eq!(tests["linear_map.pagealloc-claims-match.mem-init.map_diff"], "FAIL", "{tests}");
    assert_eq!(tests["linear_map.pagealloc-claims-match.after-map-mem.map_diff"], "PASS", "{tests}");
    assert_eq!(tests["linear_map.bbml3-blocks.calls"], "PASS", "{tests}");

    // JUnit, read by junitparser: one testcase per scenario, the failure text is the
    // divergence report.
    let junit = python(
        "import sys, junitparser\n\
         x = junitparser.JUnitXml.fromfile(sys.argv[1])\n\
         for suite in x:\n\
         \x20   for case in suite:\n\
         \x20       r = case.result\n\
         \x20       print(case.name, '|', r[0].type if r else 'passed', '|', (r[0].text or '').splitlines()[0] if r else '')",
        &[&full.join("junit.xml")],
    );
    let cases: Vec<&str> = junit.lines().collect();
    assert_eq!(cases.len(), 2, "{junit}");
    assert_eq!(cases[0], "bbml3-blocks | passed | ", "{junit}");
    assert!(cases[1].starts_with("pagealloc-claims-match | divergence | pagealloc-claims-match"), "{junit}");

    // KTAP, parsed by the kernel's own kunit.py.
    let source = std::fs::read_dir(linux_harness::paths::sources_dir()).unwrap().map(|e| e.unwrap().path()).find(|p| p.join("tools/testing/kunit/kunit.py").exists()).expect("a kernel source with kunit.py");
    let ktap = Command::new("python3").arg(source.join("tools/testing/kunit/kunit.py")).arg("parse").arg(full.join("ktap.txt")).output().unwrap();
    let parsed = String::from_utf8_lossy(&ktap.stdout);
    assert!(parsed.contains("[PASSED] bbml3-blocks") && parsed.contains("[FAILED] pagealloc-claims-match") && parsed.contains("[FAILED] mem-init"), "{parsed}\n{}", String::from_utf8_lossy(&ktap.stderr));
    assert!(parsed.contains("Testing complete. Ran 4 tests: passed: 3, failed: 1"), "{parsed}");

    // The page, in a real browser: the divergence is drawn where its VA is.
    let dom = String::from_utf8_lossy(&chromium(&["--virtual-time-budget=10000", "--dump-dom"], &full.join("index.html")).stdout).into_owned();
    assert!(dom.contains("data-ready=\"1\""), "the page's script did not finish:\n{}", &dom[..dom.len().min(2000)]);
    let start = first["start"].as_str().unwrap();
    let marker = dom.split("<div class=\"divergence\"").skip(1).find(|m| m.contains(&format!("data-start=\"{start}\""))).unwrap_or_else(|| panic!("no highlighted range at {start}"));
    assert!(marker.contains("data-checkpoint=\"mem-init\"") && marker.contains("data-scenario=\"pagealloc-claims-match\""), "{marker}");
    let left: f64 = marker.split("left:").nth(1).unwrap().split('%').next().unwrap().parse().unwrap();
    let lines = at["linux"].as_array().unwrap().iter().chain(at["model"].as_array().unwrap());
    let hex = |v: &serde_json::Value| u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let (lo, hi) = lines.fold((u64::MAX, 0), |(lo, hi), l| (lo.min(hex(&l[0])), hi.max(hex(&l[1]))));
    let want = (hex(&first["start"]) - lo) as f64 / (hi - lo) as f64 * 100.0;
    assert!((left - want).abs() < 1e-6, "marker at {left}%, the VA is at {want}%");
    assert_eq!(dom.matches("<div class=\"divergence\"").count(), data["scenarios"][1]["checkpoints"][1]["divergences"].as_array().unwrap().len());
    // Screenshots to look at, under target/.
    let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("corpus-run.png");
    chromium(&["--virtual-time-budget=10000", "--window-size=1400,2400", &format!("--screenshot={}", shot.display())], &full.join("index.html"));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000, "an empty screenshot");

    // Shards: each takes its share (one scenario, so run alone); merged, they are the
    // run above at -j2: the same results whatever the parallelism and the sharding.
    let shard1 = out.path().join("shard1");
    let shard2 = out.path().join("shard2");
    for (dir, shard) in [(&shard1, "1/2"), (&shard2, "2/2")] {
        let o = run_to(dir, &[&good, &bad], &["--shard", shard]);
        assert!(matches!(o.status.code(), Some(0 | 1)), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let shard_sizes: Vec<usize> = [&shard1, &shard2].iter().map(|d| serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(d.join("report.json")).unwrap()).unwrap()["scenarios"].as_array().unwrap().len()).collect();
    assert_eq!(shard_sizes, vec![1, 1]);
    let merged = out.path().join("merged");
    let o = oracle(&["merge".as_ref(), "--out".as_ref(), merged.as_os_str(), shard2.as_os_str(), shard1.as_os_str()]);
    assert_eq!(o.status.code(), Some(1), "{}", String::from_utf8_lossy(&o.stderr));
    let read = |d: &Path, f: &str| std::fs::read_to_string(d.join(f)).unwrap();
    for f in ["report.json", "report.txt", "ktap.txt", "junit.xml", "kcidb.json", "index.html"] {
        assert_eq!(run_to_run_zeroed(&read(&merged, f)), run_to_run_zeroed(&read(&full, f)), "{f}");
    }

    // What changed: nothing between the two runs; then a baseline without the
    // divergence makes it new, a regression.
    let o = oracle(&["compare-runs".as_ref(), full.as_os_str(), merged.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{text}");
    assert!(text.contains("new divergences: 0") && text.contains("fixed divergences: 0") && text.contains("verdicts changed: 0"), "{text}");
    let baseline = out.path().join("baseline.json");
    let mut old: serde_json::Value = serde_json::from_str(&read(&full, "report.json")).unwrap();
    let removed = old["scenarios"][1]["checkpoints"][1]["divergences"].as_array_mut().unwrap().remove(0);
    old["scenarios"][1]["verdict"] = "match".into();
    old["scenarios"][1]["as_expected"] = true.into();
    std::fs::write(&baseline, old.to_string()).unwrap();
    let o = oracle(&["compare-runs".as_ref(), baseline.as_os_str(), full.as_os_str()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains(&format!("new divergences: 1\n  pagealloc-claims-match at mem-init: {}-{} [presence]", removed["start"].as_str().unwrap(), removed["end"].as_str().unwrap())), "{text}");
    assert!(text.contains("pagealloc-claims-match: match -> UNEXPECTED DIVERGENCE  (REGRESSION)"), "{text}");
    let o = oracle(&["compare-runs".as_ref(), full.as_os_str(), baseline.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "a fix is not a regression: {}", String::from_utf8_lossy(&o.stdout));
    assert!(String::from_utf8_lossy(&o.stdout).contains("fixed divergences: 1"));
}
