//! Helpers shared by the integration tests: paths into the project corpus and
//! temporary corpora with scenarios written on the fly.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn corpus() -> PathBuf {
    oracle::scenario::project_corpora()
}

pub fn scenario(name: &str) -> PathBuf {
    corpus().join("scenarios").join(format!("{name}.json"))
}

/// A throw-away corpus folder (named `corpora`, so names resolve inside it) holding the
/// project's config fragments, extra patch series and one scenario file.
pub struct TempCorpus {
    pub dir: tempfile::TempDir,
}

impl Default for TempCorpus {
    fn default() -> Self {
        Self::new()
    }
}

impl TempCorpus {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("corpora");
        std::fs::create_dir_all(root.join("scenarios")).unwrap();
        std::fs::create_dir_all(root.join("patches")).unwrap();
        let configs = root.join("configs");
        std::fs::create_dir_all(&configs).unwrap();
        for entry in std::fs::read_dir(corpus().join("configs")).unwrap() {
            let p = entry.unwrap().path();
            std::fs::copy(&p, configs.join(p.file_name().unwrap())).unwrap();
        }
        TempCorpus { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("corpora")
    }

    /// Writes `corpora/patches/SERIES/NAME` with `text`.
    pub fn add_patch(&self, series: &str, name: &str, text: &str) {
        let d = self.root().join("patches").join(series);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), text).unwrap();
    }

    /// Writes a scenario; returns its path.
    pub fn add_scenario(&self, name: &str, text: &str) -> PathBuf {
        let p = self.root().join("scenarios").join(format!("{name}.json"));
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// A scenario text for the base kernel with these machine settings and command line.
pub fn scenario_text(name: &str, patches: &[&str], cmdline: &str, timeout_s: u32) -> String {
    let patches: Vec<String> = patches.iter().map(|p| format!("{p:?}")).collect();
    format!(
        r#"{{
  "schema": 1, "name": "{name}", "description": "test scenario",
  "kernel": {{ "source": "debian:linux-source-7.3", "patches": [{}], "configs": ["base"] }},
  "machine": {{ "cpus": 2, "memory_mib": 1024, "cpu": "max" }},
  "cmdline": "{cmdline}",
  "expect": {{ "verdict": "match" }},
  "timeout_s": {timeout_s}
}}"#,
        patches.join(", ")
    )
}

/// Whether a process with this pid still exists and is not a zombie, allowing up to two
/// seconds for a process that was just killed to go.
pub fn process_exists(pid: u32) -> bool {
    let alive = || match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').and_then(|(_, t)| t.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    while alive() {
        if std::time::Instant::now() > deadline {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

/// Pids of the children of `parent` whose command name starts with `comm`.
pub fn children_named(parent: u32, comm: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // "pid (comm) state ppid ..."; comm may hold spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or("");
        let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && name.starts_with(comm) {
            out.push(pid);
        }
    }
    out
}

/// Waits (until `deadline`) for `parent` to start a QEMU that boots a guest (not a
/// short-lived one such as the device-tree dump); returns its pid and run directory
/// (where its serial console file lies). Panics naming `what` on timeout.
pub fn qemu_child(parent: u32, deadline: std::time::Instant, what: &str) -> (u32, PathBuf) {
    loop {
        for pid in children_named(parent, "qemu-system") {
            let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let console = cmdline.split('\0').find_map(|a| a.strip_prefix("file:"));
            if let Some(run_dir) = console.and_then(|c| std::path::Path::new(c).parent()) {
                return (pid, run_dir.to_path_buf());
            }
        }
        assert!(std::time::Instant::now() < deadline, "oracle never started QEMU for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A copy of the project's accepted snapshots in `dir/snapshots` (for `oracle snapshot`,
/// which writes beside them).
pub fn copy_snapshots(dir: &std::path::Path) -> PathBuf {
    let snaps = dir.join("snapshots");
    std::fs::create_dir(&snaps).unwrap();
    for e in std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../snapshots")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, snaps.join(p.file_name().unwrap())).unwrap();
    }
    snaps
}

/// The tools `cargo xtask setup` installs for these tests (target/tools); missing, the
/// test fails and says how to get them.
pub fn tool(rel: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools").join(rel);
    assert!(p.exists(), "{} is missing: run `cargo xtask setup` (it installs the report validators)", p.display());
    p
}

pub fn python(script: &str, args: &[&Path]) -> String {
    let out = Command::new(tool("venv/bin/python")).arg("-c").arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
