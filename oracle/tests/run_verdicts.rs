//! The model against Linux on the real kernel: every corpus scenario comes out as its
//! entry expects, and a model with one rule flipped is caught with a readable reason.

mod common;

use std::process::Command;

use oracle::capture::capture_checkpoints;
use oracle::compare::differ::{diff, DiffClass};
use oracle::compare::{judged, replay_stops};
use oracle::prepare::prepare;
use oracle::replay::{replay, Overrides};
use oracle::report::trace::call_line;
use oracle::timeline::{Checkpoint, TracedFn};

#[test]
fn corpus_verdicts_are_as_expected() {
    let json = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oracle"))
        .arg("run")
        // One at a time: nextest already runs tests side by side on this machine's cores.
        .args(["-j", "1"])
        .arg(common::corpus().join("scenarios"))
        .arg("--json")
        .arg(json.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("bbml3-blocks") && stdout.contains(" match "), "{stdout}");
    assert!(stdout.lines().last().unwrap().contains("0 not as expected, 0 infrastructure failure(s)"), "{stdout}");
    // The same results as data, with the per-checkpoint diffs and the call traces.
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json.path()).unwrap()).unwrap();
    let entries = data["scenarios"].as_array().unwrap();
    let scenarios = std::fs::read_dir(common::corpus().join("scenarios")).unwrap().count();
    assert_eq!(entries.len(), scenarios);
    assert_eq!((data["schema"].as_str(), data["complete"].as_bool(), data["run"]["matrix"].as_array().map(Vec::len)), (Some("lmo-results/1"), Some(true), Some(scenarios)));
    let bbml3 = entries.iter().find(|e| e["scenario"] == "bbml3-blocks").unwrap();
    assert_eq!(bbml3["verdict"], "match");
    assert_eq!(bbml3["checkpoints"].as_array().unwrap().len(), 8);
    assert!(bbml3["calls"].as_array().unwrap().iter().any(|t| t["function"] == "split_kernel_leaf_mapping" && t["ret"] == 0 && t["model_ret"] == 0));
}

#[test]
fn a_model_with_a_wrong_bbml3_rule_is_caught() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let capture = capture_checkpoints(&p, &[Checkpoint::EndOfBoot], false).unwrap_or_else(|e| panic!("{e:#}"));
    let linux = &capture.side(Checkpoint::EndOfBoot).unwrap().linear_map;
    // The model believes the boot CPU is not on the BBML3 list.
    let wrong = replay(&p.params, &replay_stops(&capture), &capture.trace, Vec::new(), Overrides { boot_cpu_bbml3: Some(false), ..Overrides::default() }).unwrap();
    let divergences = diff(linux, &wrong.last().unwrap().linear_map);
    assert!(!divergences.is_empty());
    assert!(divergences.iter().all(|d| d.classes == vec![DiffClass::Granularity]), "{divergences:#?}");
    let text: Vec<String> = divergences.iter().map(|d| d.explanation()).collect();
    assert!(text.iter().any(|t| t.contains("CONT PMD blocks") && t.contains("PUD blocks") && t.contains("the model expects plain PTEs")), "{text:#?}");
    // The whole of RAM outside nothing diverges but granularity: same PAs, same attributes.
    println!("{}", divergences.iter().map(|d| d.to_string()).collect::<String>());
    // The right model agrees.
    let right = replay(&p.params, &replay_stops(&capture), &capture.trace, Vec::new(), Overrides::default()).unwrap();
    assert!(diff(linux, &right.last().unwrap().linear_map).is_empty());
}

#[test]
fn call_trace_and_a_call_level_divergence() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let capture = capture_checkpoints(&p, &[Checkpoint::AfterMapMem, Checkpoint::EndOfBoot], true).unwrap_or_else(|e| panic!("{e:#}"));
    let trace = &capture.trace;
    // The GIC ITS shares its tables through set_memory_decrypted at boot (a no-op
    // outside a realm), and mark_rodata_ro's set_memory_valid reaches the split gate.
    assert!(trace.iter().any(|c| c.function == TracedFn::SetMemoryDecrypted && c.caller.starts_with("its_alloc_pages_node") && c.ret == Some(0)), "{trace:#?}");
    let split = trace.iter().position(|c| c.function == TracedFn::SplitKernelLeafMapping).expect("a traced split");
    assert_eq!(trace[split].ret, Some(0));
    assert!(trace[split].state.caps_finalized && trace[split].state.online_cpus == 2);

    // One replay answers every call and keeps the map at both checkpoints.
    let model = replay(&p.params, &replay_stops(&capture), trace, Vec::new(), Overrides::default()).unwrap();
    assert_eq!(model.at.iter().map(|(c, _)| *c).collect::<Vec<_>>(), vec![Checkpoint::AfterMapMem, Checkpoint::EndOfBoot]);
    let calls = judged(trace, &model.answers);
    assert!(calls.iter().all(|c| !c.mismatch()), "{trace:#?}");
    assert_eq!(calls[split].model_ret, Some(0));

    // A model whose split gate never sees finalisation answers -EBUSY (second window:
    // two CPUs online) where Linux split and returned 0.
    let wrong = replay(&p.params, &replay_stops(&capture), trace, Vec::new(), Overrides { forget_finalisation: true, ..Overrides::default() }).unwrap();
    let calls = judged(trace, &wrong.answers);
    assert_eq!(calls[split].model_ret, Some(-16));
    let line = call_line(&calls[split]);
    assert!(line.starts_with("split_kernel_leaf_mapping(") && line.contains("= 0 from update_range_prot") && line.ends_with("MODEL RETURNS -EBUSY"), "{line}");
}

/// A kernel that panics where its scenario expects a clean boot is a kernel outcome
/// (exit 1, KERNEL FAILURE), reported with the panic text, the last checkpoint reached
/// and the calls traced before it; not an infrastructure failure. Here the kernel's own
/// panic when it finds no init to run (`rdinit=` names a file the initramfs lacks).
#[test]
fn a_kernel_panic_is_a_kernel_outcome() {
    let corpus = common::TempCorpus::new();
    let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::scenario("bbml3-blocks")).unwrap()).unwrap();
    s["name"] = "no-init".into();
    s["cmdline"] = "rodata=on rdinit=/nonexistent".into();
    s["checkpoints"] = serde_json::json!(["after-map-mem", "after-rodata-ro", "end-of-boot"]);
    s["timeout_s"] = 120.into();
    let file = corpus.add_scenario("no-init", &s.to_string());
    let json = corpus.dir.path().join("results.json");
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).arg("run").arg(&file).arg("--json").arg(&json).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().next().unwrap().contains("KERNEL FAILURE") && stdout.contains("Kernel panic"), "{stdout}");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let r = &data["scenarios"][0];
    assert_eq!((r["verdict"].as_str(), r["infrastructure_failure"].is_null()), (Some("KERNEL FAILURE"), true), "{r}");
    let why = r["kernel_failure"].as_str().unwrap();
    assert!(why.contains("last checkpoint reached: after-rodata-ro"), "{why}");
    assert!(why.contains("No working init found") || why.contains("Unable to mount root fs"), "{why}");
    assert!(r["calls"].as_array().is_some_and(|c| c.iter().any(|c| c["function"] == "split_kernel_leaf_mapping")), "the calls traced before the panic are kept: {r}");
}

/// A traced call the model does not replay is never ignored: a kernel that calls
/// `set_memory_ro()` at boot (an initcall of our own on one page) gets no verdict, an
/// infrastructure failure naming the function and its caller.
#[test]
fn a_traced_call_the_model_does_not_replay_is_named() {
    let corpus = common::TempCorpus::new();
    corpus.add_patch(
        "ro-at-boot",
        "0001-ro-at-boot.patch",
        "Subject: [PATCH] arm64: mm: set_memory_ro() one page at boot (for tests)\n\n---\n--- a/arch/arm64/mm/pageattr.c\n+++ b/arch/arm64/mm/pageattr.c\n@@ -218,6 +218,15 @@\n \t\t\t\t\t__pgprot(PTE_WRITE));\n }\n \n+static int __init lmo_ro_at_boot(void)\n+{\n+\tunsigned long page = __get_free_page(GFP_KERNEL);\n+\n+\tif (page)\n+\t\tset_memory_ro(page, 1);\n+\treturn 0;\n+}\n+late_initcall(lmo_ro_at_boot);\n int set_memory_rw(unsigned long addr, int numpages)\n {\n \treturn change_memory_common(addr, numpages,\n",
    );
    let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::scenario("bbml3-blocks")).unwrap()).unwrap();
    s["name"] = "ro-at-boot".into();
    s["kernel"]["patches"] = serde_json::json!(["ro-at-boot"]);
    let file = corpus.add_scenario("ro-at-boot", &s.to_string());
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).arg("run").arg(&file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let first = stdout.lines().next().unwrap();
    assert!(first.contains("INFRASTRUCTURE FAILURE") && first.contains("the model does not replay 1 call(s) of set_memory_ro from lmo_ro_at_boot"), "{stdout}");
}
