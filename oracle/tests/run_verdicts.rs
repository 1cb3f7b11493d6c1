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
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).arg("run").arg(common::corpus().join("scenarios")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("bbml3-blocks") && stdout.contains(" match "), "{stdout}");
    assert!(stdout.lines().last().unwrap().contains("0 not as expected, 0 infrastructure failure(s)"), "{stdout}");
}

#[test]
fn a_model_with_a_wrong_bbml3_rule_is_caught() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let dump = dump_scenario(&p).unwrap();
    let config = linux_harness::config::parse_config(&std::fs::read_to_string(&p.kernel.config).unwrap());
    let params = boot_params(&p.scenario.cmdline, &config, &p.scenario.machine).unwrap();
    // The model believes the boot CPU is not on the BBML3 list.
    let wrong = replay_end_of_boot_with(&params, &Observed::from_linux_side(&dump.side), Overrides { boot_cpu_bbml3: Some(false) }).unwrap();
    let divergences = diff(&dump.side.linear_map, &wrong.linear_map);
    assert!(!divergences.is_empty());
    assert!(divergences.iter().all(|d| d.classes == vec![DiffClass::Granularity]), "{divergences:#?}");
    let text: Vec<String> = divergences.iter().map(|d| d.explanation()).collect();
    assert!(text.iter().any(|t| t.contains("CONT PMD blocks") && t.contains("PUD blocks") && t.contains("the model expects plain PTEs")), "{text:#?}");
    // The whole of RAM outside nothing diverges but granularity: same PAs, same attributes.
    println!("{}", divergences.iter().map(|d| d.to_string()).collect::<String>());
}
