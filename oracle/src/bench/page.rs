//! `oracle bench page`: how long the HTML report takes to draw itself in headless
//! Chromium for a guest of a million leaves that do not merge (every other page unmapped,
//! as debug_pagealloc leaves them) and for a real guest's results (by default the 8 GiB
//! PTE-mapped bench guest: two million leaves), against the page for a small map, in one
//! run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::compare::run_one;
use crate::results::collect::{matrix_entry, scenario_result};
use crate::results::{html, CheckpointData, Line, MatrixEntry, Results, RunInfo, ScenarioResult, SCHEMA};

/// Results of one scenario whose map has `leaves` lines on each side.
fn synthetic(leaves: u64) -> Results {
    let base = 0xffff_0000_0000_0000u64;
    let lines: Vec<Line> = (0..leaves)
        .map(|i| {
            let va = base + i * 0x1000;
            let attrs = if i % 2 == 0 { "RW NX SHD AF UXN MEM/NORMAL" } else { "INVALID RW NX SHD AF UXN MEM/NORMAL" };
            Line(format!("{va:#x}"), format!("{:#x}", va + 0x1000), "PTE".into(), false, format!("{:#x}", 0x4000_0000 + i * 0x1000), attrs.into(), false)
        })
        .collect();
    let scenario = ScenarioResult {
        scenario: format!("synthetic-{leaves}"),
        file: "synthetic.json".into(),
        description: format!("{leaves} PTEs, every other one invalid"),
        verdict: "match".into(),
        as_expected: true,
        infrastructure_failure: None,
        kernel_failure: None,
        not_run: None,
        expect: crate::scenario::Expect::Match,
        kernel: None,
        seconds: 0.0,
        kernel_warnings: vec![],
        checkpoints: vec![CheckpointData { checkpoint: "end-of-boot".into(), deterministic: true, model_steps: vec![], divergences: vec![], rsi_mismatches: vec![], sharing: vec![], linux: lines.clone(), model: lines }],
        calls: vec![],
        trace_gaps: vec![],
        warning_mismatches: vec![],
        monitor: None,
    };
    let matrix = vec![MatrixEntry { scenario: scenario.scenario.clone(), file: scenario.file.clone(), kernel: String::new() }];
    Results { schema: SCHEMA.into(), complete: true, run: RunInfo { origin: "lmo".into(), matrix, shard: None, series: None, kernel: None, seconds: 0.0 }, scenarios: vec![scenario] }
}

/// Opens `page` in headless Chromium and returns (the page's own render time in ms, the
/// browser's wall time in s).
fn render(page: &Path) -> Result<(f64, f64)> {
    let profile = tempfile::tempdir()?;
    let t = Instant::now();
    let out = Command::new("/usr/bin/chromium")
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--virtual-time-budget=600000", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .map_err(|e| Error::io("running /usr/bin/chromium (cargo xtask setup installs it)", e))?;
    let wall = t.elapsed().as_secs_f64();
    let dom = String::from_utf8_lossy(&out.stdout);
    let ms = dom
        .split("data-render-ms=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Usage(format!("the page did not finish drawing (chromium: {})", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""))))?;
    Ok((ms, wall))
}

/// Times the page (median of three opens) for a small synthetic map (the baseline), for
/// `leaves` unmergeable lines per side, and for the results of the real scenario `real`
/// (booted here).
pub fn bench_page(leaves: u64, real: Option<&Path>) -> Result<String> {
    let dir = tempfile::tempdir()?;
    let mut s = String::new();
    let mut pages = vec![("1000 lines per side (synthetic)".to_string(), synthetic(1_000)), (format!("{leaves} lines per side, every other page unmapped (synthetic)"), synthetic(leaves))];
    if let Some(file) = real {
        let r = scenario_result(&run_one(file));
        let leaves_read: usize = r.checkpoints.iter().map(|c| c.linux.len()).sum();
        let matrix = vec![matrix_entry(file)];
        let label = format!("{} (real: {}, {leaves_read} normalised Linux lines)", r.scenario, r.verdict);
        pages.push((label, Results { schema: SCHEMA.into(), complete: true, run: RunInfo { origin: "lmo".into(), matrix, shard: None, series: None, kernel: None, seconds: r.seconds }, scenarios: vec![r] }));
    }
    let mut baseline = None;
    for (i, (label, results)) in pages.iter().enumerate() {
        let page = dir.path().join(format!("{i}.html"));
        let text = html::page(results);
        std::fs::write(&page, &text)?;
        // The median of three opens: a browser's first start is slower.
        let mut runs = [render(&page)?, render(&page)?, render(&page)?];
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (ms, wall) = runs[1];
        let base = *baseline.get_or_insert(ms);
        let _ = writeln!(s, "{label}: page {:.2} MiB, drawn in {ms:.0} ms (browser wall time {wall:.1} s); ratio to the first: {:.1}x", text.len() as f64 / (1 << 20) as f64, ms / base.max(1.0));
    }
    Ok(s)
}
