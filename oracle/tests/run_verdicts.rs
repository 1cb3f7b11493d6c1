//! The model against Linux on the real kernel: every corpus scenario comes out as its
//! entry expects, and a model with one rule flipped is caught with a readable reason.

mod common;

use std::process::Command;

use oracle::boot_params::boot_params;
use oracle::differ::{diff, DiffClass};
use oracle::dump_cmd::dump_scenario;
use oracle::prepare::prepare;
use oracle::replay::{replay_end_of_boot_with, Observed, Overrides};

#[test]
fn corpus_verdicts_are_as_expected() {
    let json = tempfile::NamedTempFile::new().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_oracle"))
        .arg("run")
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
    let entries = data.as_array().unwrap();
    let scenarios = std::fs::read_dir(common::corpus().join("scenarios")).unwrap().count();
    assert_eq!(entries.len(), scenarios);
    let bbml3 = entries.iter().find(|e| e["scenario"] == "bbml3-blocks").unwrap();
    assert_eq!(bbml3["verdict"], "match");
    assert_eq!(bbml3["checkpoints"].as_array().unwrap().len(), 8);
    assert!(bbml3["trace"].as_array().unwrap().iter().any(|t| t["function"] == "split_kernel_leaf_mapping" && t["ret"] == 0 && t["model_ret"] == 0));
}

#[test]
fn a_model_with_a_wrong_bbml3_rule_is_caught() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = dump_scenario(&p).unwrap();
    let config = linux_harness::config::parse_config(&std::fs::read_to_string(&p.kernel.config).unwrap());
    let params = boot_params(&p.scenario.cmdline, &config, &p.scenario.machine).unwrap();
    // The model believes the boot CPU is not on the BBML3 list.
    let wrong = replay_end_of_boot_with(&params, &Observed::from_linux_side(&dump.side), Overrides { boot_cpu_bbml3: Some(false), ..Overrides::default() }, &[]).unwrap();
    let divergences = diff(&dump.side.linear_map, &wrong.linear_map);
    assert!(!divergences.is_empty());
    assert!(divergences.iter().all(|d| d.classes == vec![DiffClass::Granularity]), "{divergences:#?}");
    let text: Vec<String> = divergences.iter().map(|d| d.explanation()).collect();
    assert!(text.iter().any(|t| t.contains("CONT PMD blocks") && t.contains("PUD blocks") && t.contains("the model expects plain PTEs")), "{text:#?}");
    // The whole of RAM outside nothing diverges but granularity: same PAs, same attributes.
    println!("{}", divergences.iter().map(|d| d.to_string()).collect::<String>());
}

#[test]
fn call_trace_and_a_call_level_divergence() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let mut capture = oracle::dump_cmd::capture_checkpoints(&p, &["end-of-boot".to_string()], true).unwrap();
    let config = linux_harness::config::parse_config(&std::fs::read_to_string(&p.kernel.config).unwrap());
    let params = boot_params(&p.scenario.cmdline, &config, &p.scenario.machine).unwrap();
    let obs = Observed::from_linux_side(&capture.sides["end-of-boot"]);
    let trace = &mut capture.trace;
    // The GIC ITS shares its tables through set_memory_decrypted at boot (a no-op
    // outside a realm), and mark_rodata_ro's set_memory_valid reaches the split gate.
    assert!(trace.iter().any(|c| c.function == "set_memory_decrypted" && c.caller.starts_with("its_alloc_pages_node") && c.ret == Some(0)), "{trace:#?}");
    let split = trace.iter().position(|c| c.function == "split_kernel_leaf_mapping").expect("a traced split");
    assert_eq!(trace[split].ret, Some(0));
    assert!(trace[split].state.caps_finalized && trace[split].state.online_cpus == 2);

    oracle::replay::replay_calls(&params, &obs, trace).unwrap();
    assert!(trace.iter().all(|c| !c.mismatch()), "{trace:#?}");
    assert_eq!(trace[split].model_ret, Some(0));

    // A model whose split gate never sees finalisation answers -EBUSY (second window:
    // two CPUs online) where Linux split and returned 0.
    oracle::replay::replay_calls_with(&params, &obs, trace, Overrides { forget_finalisation: true, ..Overrides::default() }).unwrap();
    assert_eq!(trace[split].model_ret, Some(-16));
    let line = trace[split].to_string();
    assert!(line.starts_with("split_kernel_leaf_mapping(") && line.contains("= 0 from update_range_prot") && line.ends_with("MODEL RETURNS -EBUSY"), "{line}");
}
