//! The renderers on synthetic results: what a person reads first, and what the
//! machine-readable files say about each scenario.

use super::sample::{results, scenario};
use super::*;

#[test]
fn text_is_one_line_per_scenario_as_expected_details_for_the_rest() {
    let r = results(&["good", "bad"], None, vec![scenario("good", 2, true), scenario("bad", 1, false)]);
    let t = text::report(&r, false);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("good") && lines[0].contains("2 divergent range(s)"), "{t}");
    assert!(lines[1].starts_with("bad") && lines[1].contains("UNEXPECTED DIVERGENCE"), "{t}");
    assert_eq!(lines[2], "  at end-of-boot:");
    assert_eq!(lines.last().unwrap(), &"2 scenario(s): 1 as expected, 1 not as expected, 0 infrastructure failure(s)");
    // Verbose: the expected divergence's ranges too.
    assert!(text::report(&r, true).matches("  at end-of-boot:").count() == 2);
    let mut partial = r.clone();
    partial.scenarios.pop();
    partial.complete = false;
    assert!(text::summary(&partial).contains("(INCOMPLETE: 1 of 2 planned)"));
    assert_eq!(partial.exit_code(), 2);
    assert_eq!(r.exit_code(), 1);
}

#[test]
fn junit_and_ktap_say_which_scenario_failed() {
    let r = results(&["good", "bad"], None, vec![scenario("good", 0, true), scenario("bad", 1, false)]);
    let x = junit::junit(&r);
    assert!(x.contains("<testcase classname=\"lmo.linear-map\" name=\"good\""), "{x}");
    assert!(x.contains("<failure message=\"UNEXPECTED DIVERGENCE\" type=\"divergence\">bad "), "{x}");
    assert!(x.contains("tests=\"2\" failures=\"1\" errors=\"0\""), "{x}");
    let k = ktap::ktap(&r);
    assert!(k.starts_with("KTAP version 1\n1..2\n"), "{k}");
    assert!(k.contains("\nok 1 good\n") && k.contains("    not ok 1 end-of-boot\nnot ok 2 bad\n"), "{k}");
}

#[test]
fn kcidb_ids_and_paths_fit_the_schema_patterns() {
    let r = results(&["a.b c"], None, vec![scenario("a.b c", 1, false)]);
    let d = kcidb::kcidb(&r);
    for t in d["tests"].as_array().unwrap() {
        let path = t["path"].as_str().unwrap();
        assert!(path.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')), "{path}");
        assert!(t["id"].as_str().unwrap().starts_with("lmo:"));
    }
    assert_eq!(d["version"]["major"], 5);
}

#[test]
fn the_page_embeds_its_data_safely() {
    let mut s = scenario("x", 0, true);
    s.description = "</script><b>".into();
    let page = html::page(&results(&["x"], None, vec![s]));
    assert_eq!(page.matches("</script>").count(), 2, "only the page's own script ends can close a script");
    assert!(page.contains("<\\/script><b>"));
}

#[test]
fn compare_runs_names_new_and_fixed_ranges() {
    let old = results(&["s"], None, vec![scenario("s", 1, true)]);
    let new = results(&["s"], None, vec![scenario("s", 2, false)]);
    let ch = changes::changes(&old, &new);
    assert_eq!((ch.new.len(), ch.fixed.len(), ch.still.len()), (1, 0, 1));
    assert!(ch.regressed(&new));
    let back = changes::changes(&new, &old);
    assert_eq!((back.new.len(), back.fixed.len()), (0, 1));
    assert!(!back.regressed(&old));
    // A nondeterministic checkpoint's ranges are not compared range by range.
    let mut moving = new.clone();
    moving.scenarios[0].checkpoints[0].deterministic = false;
    assert_eq!(changes::changes(&old, &moving).new.len(), 0);
}

#[test]
fn a_results_file_with_a_shard_out_of_range_is_refused() {
    let mut r = serde_json::to_value(results(&["s"], None, vec![])).unwrap();
    r["run"]["shard"] = serde_json::json!({"index": 3, "count": 2});
    let e = dir::parse(r.to_string().as_bytes(), "x/report.json").unwrap_err().to_string();
    assert!(e.contains("x/report.json: field `run.shard`") && e.contains("shard 3/2 is out of range"), "{e}");
    r["schema"] = "lmo-run/1".into();
    let e = dir::parse(r.to_string().as_bytes(), "x/report.json").unwrap_err().to_string();
    assert_eq!(e, "x/report.json: schema lmo-run/1, this oracle reads lmo-results/1");
}

/// Found by the `results` fuzz target: a results file whose patchset hash is shorter
/// than the 16 digits a checkout id takes.
#[test]
fn a_short_patchset_hash_names_its_checkout() {
    let mut s = scenario("a", 0, true);
    s.kernel = Some(KernelBuild { source: "src".into(), patches: vec![], configs: vec![], variant: "v".into(), compiler: "c".into(), patchset_hash: "?".into(), patch_subjects: vec![], model_rules: "7.3".into() });
    let d = kcidb::kcidb(&results(&["a"], None, vec![s]));
    assert_eq!(d["checkouts"][0]["id"], "lmo:src+_");
}

/// Found by the `results` fuzz target: a scenario that claims to be as expected and an
/// infrastructure failure at once is counted once.
#[test]
fn a_scenario_counted_twice_does_not_underflow_the_summary() {
    let mut s = scenario("a", 0, true);
    s.infrastructure_failure = Some("boom".into());
    let line = text::summary(&results(&["a"], None, vec![s]));
    assert_eq!(line, "1 scenario(s): 0 as expected, 0 not as expected, 1 infrastructure failure(s)\n");
}

/// A scenario whose entry says it does not run on the kernel's version: skipped in every
/// format, with the reason, and neither as expected nor a failure in the summary.
#[test]
fn a_scenario_not_run_on_a_version_is_skipped_everywhere() {
    let mut skipped = scenario("old", 0, true);
    skipped.not_run = Some("Linux 7.2: the patch is against 7.3's split_kernel_leaf_mapping()".into());
    skipped.checkpoints.clear();
    skipped.verdict = "not run".into();
    let r = results(&["good", "old"], None, vec![scenario("good", 0, true), skipped]);
    let t = text::report(&r, false);
    assert!(t.lines().nth(1).unwrap().starts_with("old") && t.contains("not run") && t.contains("Linux 7.2: the patch"), "{t}");
    assert!(t.ends_with("2 scenario(s): 1 as expected, 0 not as expected, 0 infrastructure failure(s), 1 not run on this kernel version\n"), "{t}");
    assert_eq!(r.exit_code(), 0);
    let x = junit::junit(&r);
    assert!(x.contains("skipped=\"1\"") && x.contains("<skipped message=\"Linux 7.2: the patch"), "{x}");
    let k = ktap::ktap(&r);
    assert!(k.contains("\nok 2 old # SKIP Linux 7.2: the patch"), "{k}");
    let d = kcidb::kcidb(&r);
    let old: Vec<_> = d["tests"].as_array().unwrap().iter().filter(|t| t["path"].as_str().unwrap().starts_with("linear_map.old")).collect();
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["status"], "SKIP");
    let build = d["builds"].as_array().unwrap().iter().find(|b| b["id"] == old[0]["build_id"]).unwrap();
    assert_eq!(build["status"], "SKIP", "nothing was built, and nothing failed to build: {build}");
}

/// The outcome of a scenario not run, as the run makes it, becomes a result that says
/// why and counts as neither as expected nor a failure.
#[test]
fn a_not_run_outcome_is_collected_as_not_run() {
    let mut o = crate::compare::infrastructure_failure(std::path::Path::new("x.json"), "x", crate::error::Error::Usage(String::new()));
    o.verdict = crate::compare::Verdict::NotRun("Linux 7.2: why".into());
    let r = collect::scenario_result(&o);
    assert_eq!((r.verdict.as_str(), r.as_expected, r.not_run.as_deref()), ("not run", true, Some("Linux 7.2: why")));
    assert!(r.infrastructure_failure.is_none() && r.kernel_failure.is_none());
}
