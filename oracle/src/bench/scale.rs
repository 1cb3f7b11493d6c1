//! `oracle bench scale`: PTE-mapped and block-mapped guests of growing RAM, each booted,
//! paused and walked: boot time, walk time, leaves, table pages and host memory, as a
//! table and as an SVG plot. The walk's cost must follow the number of descriptors, not
//! the bytes of RAM: its time per leaf stays flat while its time per GiB does not.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use linux_harness::{BootOutcome, EndAction};
use rust_impl::address::PhysAddr;

use super::{median, Tables};
use crate::boot::boot_scenario;
use crate::error::{Context, Error, Result};
use crate::linux_side::guest_memory::MappedRam;
use crate::linux_side::kernel::GuestKernel;
use crate::linux_side::read_linux_side;
use crate::linux_side::walker::{walk_with, Normaliser};
use crate::prepare::prepare_scenario;
use crate::scenario::Scenario;

/// One guest measured.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Point {
    pub mapping: &'static str,
    pub gib: u64,
    pub boot_s: f64,
    pub walk_ms: f64,
    pub leaves: u64,
    pub table_pages: usize,
    pub lines: usize,
    /// QEMU's resident memory once booted, MiB.
    pub qemu_rss_mib: u64,
    /// This process's resident memory after the walks, MiB.
    pub oracle_rss_mib: u64,
}

/// How each kind of guest is mapped: `-cpu max` without BBML3 and rodata=on gives plain
/// PTEs; with the BBML3 MIDR, blocks (docs/map-mem.md).
fn scenario_for(base: &Scenario, mapping: &str, gib: u64) -> Scenario {
    let mut s = base.clone();
    s.name = format!("scale-{mapping}-{gib}g");
    s.machine.memory_mib = gib * 1024;
    s.machine.midr = (mapping == "block").then_some(0x410f_d842);
    s
}

/// Measures every size for both mappings; `base_file` is the bench guest's scenario.
pub fn bench_scale(base_file: &Path, sizes: &[u64], runs: usize) -> Result<Vec<Point>> {
    let base = Scenario::load(base_file)?;
    let mut points = Vec::new();
    for mapping in ["pte", "block"] {
        for &gib in sizes {
            let p = prepare_scenario(base_file, scenario_for(&base, mapping, gib), &[])?;
            let t = Instant::now();
            let boot = boot_scenario(&p, EndAction::Wait, false)?;
            let boot_s = t.elapsed().as_secs_f64();
            if boot.outcome != BootOutcome::Booted {
                return Err(Error::Usage(format!("the {gib} GiB {mapping} guest did not boot: {}", boot.outcome.summary())));
            }
            let guest = boot.guest.as_ref().context("no live guest")?;
            guest.pause()?;
            let qemu_rss_mib = rss_mib(&format!("/proc/{}/status", guest.qemu_pid()), "VmRSS:");
            let mem = MappedRam::open(guest.ram_file(), PhysAddr(guest.ram_base())).map_err(|e| Error::io("mapping guest RAM", e))?;
            let gk = GuestKernel::attach(&mem, PhysAddr(guest.ram_base()), guest.ram_size(), p.kernel_info()?)?;
            let cfg = read_linux_side(&gk, None)?.config;
            let (start, end) = (cfg.page_offset(), cfg.page_end());
            let mut tables = Tables(Vec::new());
            walk_with(&mem, cfg, start, end, &mut tables)?;
            let mut times: Vec<Duration> = Vec::new();
            let mut n = Normaliser::default();
            for _ in 0..runs {
                n = Normaliser::default();
                let t = Instant::now();
                walk_with(&mem, cfg, start, end, &mut n)?;
                times.push(t.elapsed());
            }
            let point = Point {
                mapping,
                gib,
                boot_s,
                walk_ms: median(times).as_secs_f64() * 1e3,
                leaves: n.leaves,
                table_pages: tables.0.len(),
                lines: n.map.lines.len(),
                qemu_rss_mib,
                oracle_rss_mib: rss_mib("/proc/self/status", "VmRSS:"),
            };
            eprintln!("{mapping} {gib} GiB: {} leaves, walk {:.2} ms", point.leaves, point.walk_ms);
            points.push(point);
        }
    }
    Ok(points)
}

fn rss_mib(status: &str, field: &str) -> u64 {
    std::fs::read_to_string(status)
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix(field).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())))
        .map_or(0, |kb| kb / 1024)
}

/// The table, with the walk's cost per leaf and per GiB side by side.
pub fn table(points: &[Point]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{:6} {:>5} {:>8} {:>9} {:>9} {:>11} {:>7} {:>11} {:>10} {:>9} {:>10}", "map", "GiB", "boot s", "walk ms", "leaves", "table pages", "lines", "ns/leaf", "ms/GiB", "QEMU MiB", "oracle MiB");
    for p in points {
        let _ = writeln!(
            s,
            "{:6} {:>5} {:>8.1} {:>9.2} {:>9} {:>11} {:>7} {:>11.1} {:>10.3} {:>9} {:>10}",
            p.mapping,
            p.gib,
            p.boot_s,
            p.walk_ms,
            p.leaves,
            p.table_pages,
            p.lines,
            p.walk_ms * 1e6 / p.leaves.max(1) as f64,
            p.walk_ms / p.gib as f64,
            p.qemu_rss_mib,
            p.oracle_rss_mib
        );
    }
    // The claim, as ratios within this run: from the smallest to the largest guest of
    // each mapping, walk time grows like the leaves, not like the RAM.
    for mapping in ["pte", "block"] {
        let of: Vec<&Point> = points.iter().filter(|p| p.mapping == mapping).collect();
        if let (Some(a), Some(b)) = (of.first(), of.last()) {
            if a.gib != b.gib {
                let _ = writeln!(
                    s,
                    "{mapping}: {}x the RAM, {:.1}x the leaves, {:.1}x the walk time (ns per leaf {:.1} -> {:.1})",
                    b.gib / a.gib,
                    b.leaves as f64 / a.leaves.max(1) as f64,
                    b.walk_ms / a.walk_ms,
                    a.walk_ms * 1e6 / a.leaves.max(1) as f64,
                    b.walk_ms * 1e6 / b.leaves.max(1) as f64
                );
            }
        }
    }
    s
}

/// The plot: walk time against leaves (log-log), one series per mapping, RAM size on
/// each point. A self-contained SVG.
pub fn svg(points: &[Point]) -> String {
    let (w, h, m) = (640.0, 400.0, 60.0);
    let lx = |v: f64| v.max(1.0).log10();
    let (x0, x1) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(lx(p.leaves as f64)), b.max(lx(p.leaves as f64))));
    let (y0, y1) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(lx(p.walk_ms * 1e3)), b.max(lx(p.walk_ms * 1e3))));
    let (x0, x1, y0, y1) = (x0.floor(), x1.ceil().max(x0.floor() + 1.0), y0.floor(), y1.ceil().max(y0.floor() + 1.0));
    let px = |v: f64| m + (lx(v) - x0) / (x1 - x0) * (w - 2.0 * m);
    let py = |v: f64| h - m - (lx(v) - y0) / (y1 - y0) * (h - 2.0 * m);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    let _ = writeln!(s, "<text x=\"{}\" y=\"20\" text-anchor=\"middle\">walk time against leaves (log-log)</text>", w / 2.0);
    let _ = writeln!(s, "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>", h - m, w - m, h - m, h - m);
    for d in (x0 as i32)..=(x1 as i32) {
        let x = px(10f64.powi(d));
        let _ = writeln!(s, "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">1e{d}</text>", h - m + 16.0);
    }
    for d in (y0 as i32)..=(y1 as i32) {
        let y = py(10f64.powi(d));
        let _ = writeln!(s, "<text x=\"{}\" y=\"{y}\" text-anchor=\"end\">{}</text>", m - 4.0, 10f64.powi(d) / 1e3);
    }
    let _ = writeln!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">leaves</text><text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">walk ms</text>", w / 2.0, h - 20.0, h / 2.0, h / 2.0);
    for (mapping, colour) in [("pte", "#e8912d"), ("block", "#1f3b8f")] {
        let of: Vec<&Point> = points.iter().filter(|p| p.mapping == mapping).collect();
        let path: Vec<String> = of.iter().map(|p| format!("{:.1},{:.1}", px(p.leaves as f64), py(p.walk_ms * 1e3))).collect();
        let _ = writeln!(s, "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>", path.join(" "));
        // Labels of points drawn on top of each other go one under the other.
        let mut placed: Vec<(f64, f64)> = Vec::new();
        for p in &of {
            let (x, y) = (px(p.leaves as f64), py(p.walk_ms * 1e3));
            let mut ly = y - 6.0;
            while placed.iter().any(|&(px_, py_)| (px_ - x).abs() < 60.0 && (py_ - ly).abs() < 12.0) {
                ly += 13.0;
            }
            placed.push((x, ly));
            let _ = writeln!(s, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"4\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{ly:.1}\">{} {} GiB</text>", x + 6.0, mapping, p.gib);
        }
    }
    s.push_str("</svg>\n");
    s
}
