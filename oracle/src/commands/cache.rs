//! `oracle cache [CORPUS...]`: what the kernel cache holds, against what the corpus
//! needs; `oracle cache gc [--max-size SIZE] [--dry-run] [CORPUS...]`: remove what it
//! does not need, least recently used first.

use std::path::PathBuf;
use std::time::SystemTime;

use linux_harness::cache::{Entry, Fate, Kind};
use oracle::cache::{collect, default_corpora, format_size, parse_size, survey, Needed};

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Scenario files, reported-bug entries or folders of them whose kernels are needed
    /// (default: corpora/scenarios, corpora/reported and corpora/bench).
    corpus: Vec<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Remove kernels and build trees the corpus does not need, least recently used
    /// first; skips kernels in use, and build trees while a build runs.
    Gc(GcArgs),
}

#[derive(clap::Args)]
struct GcArgs {
    /// Stop once the whole cache is at most this big (20G, 500M, 1.5GiB, bytes);
    /// needed entries are never removed.
    #[arg(long, value_parser = parse_size)]
    max_size: Option<u64>,
    /// Say what would be removed; remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// As for `oracle cache`.
    corpus: Vec<PathBuf>,
}

fn corpus_or_default(corpus: Vec<PathBuf>) -> Vec<PathBuf> {
    if corpus.is_empty() {
        default_corpora()
    } else {
        corpus
    }
}

pub fn run(a: Args) -> anyhow::Result<u8> {
    match a.action {
        None => list(corpus_or_default(a.corpus)),
        Some(Action::Gc(g)) => gc(g),
    }
}

fn list(corpus: Vec<PathBuf>) -> anyhow::Result<u8> {
    let (listing, needed) = survey(&corpus)?;
    let now = SystemTime::now();
    println!("cache {} ({})", listing.root.display(), format_size(listing.total));
    for area in &listing.areas {
        println!("  {:<10} {:>6}", area.name, format_size(area.bytes));
    }
    println!("kernels, least recently used first:");
    if listing.kernels.is_empty() {
        println!("  (none)");
    }
    for e in &listing.kernels {
        println!("  {}", entry_line(e, &needed, now));
    }
    println!("build trees, least recently used first{}:", if listing.build_running { " (a build is running)" } else { "" });
    if listing.build_trees.is_empty() {
        println!("  (none)");
    }
    for e in &listing.build_trees {
        println!("  {}", entry_line(e, &needed, now));
    }
    for (path, bytes) in &listing.leftovers {
        println!("leftover {} {} (removed by `oracle cache gc`)", path.display(), format_size(*bytes));
    }
    Ok(0)
}

/// `627b7b42942a  52M  used 3 h ago  needed by 4  in use  linux-source-7.3 7.3.4-1  series: -  configs: base`
fn entry_line(e: &Entry, needed: &Needed, now: SystemTime) -> String {
    let users = needed.users(e.kind, &e.name);
    let mut line = format!(
        "{}  {:>6}  used {:<12}  {:<12}",
        &e.name[..12],
        format_size(e.bytes),
        age(e.last_used, now),
        if users == 0 { "unneeded".to_string() } else { format!("needed by {users}") }
    );
    if e.in_use && e.kind == Kind::Kernel {
        line.push_str("  in use");
    }
    if !e.complete {
        line.push_str(if e.kind == Kind::Kernel { "  incomplete (no done)" } else { "  not configured" });
    }
    if let Some(v) = &e.variant {
        let names = |paths: &[PathBuf], strip: &str| -> String {
            if paths.is_empty() {
                return "-".into();
            }
            let names: Vec<String> = paths
                .iter()
                .map(|p| p.file_name().map(|n| n.to_string_lossy().trim_end_matches(strip).to_string()).unwrap_or_default())
                .collect();
            names.join(",")
        };
        line.push_str(&format!("  {}  series: {}  configs: {}", v.source, names(&v.series, ""), names(&v.configs, ".config")));
    }
    line.trim_end().to_string()
}

/// `just now`, `12 min ago`, `5 h ago`, `3 days ago`.
fn age(t: SystemTime, now: SystemTime) -> String {
    let Ok(d) = now.duration_since(t) else { return "just now".into() };
    match d.as_secs() {
        s if s < 60 => "just now".into(),
        s if s < 3600 => format!("{} min ago", s / 60),
        s if s < 2 * 86400 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86400),
    }
}

fn gc(g: GcArgs) -> anyhow::Result<u8> {
    let (report, needed) = collect(&corpus_or_default(g.corpus), g.max_size, g.dry_run)?;
    let now = SystemTime::now();
    for item in &report.items {
        let what = match &item.fate {
            Fate::Removed => "removed".to_string(),
            Fate::WouldRemove => "would remove".to_string(),
            Fate::Needed => "kept (needed)".to_string(),
            Fate::InUse => "kept (in use)".to_string(),
            Fate::BuildRunning => "kept (a build is running)".to_string(),
            Fate::UnderLimit => "kept (cache within --max-size)".to_string(),
            Fate::Failed(why) => format!("FAILED ({why})"),
        };
        let kind = match item.entry.kind {
            Kind::Kernel => "kernel",
            Kind::BuildTree => "build tree",
        };
        println!("{what}: {kind} {}", entry_line(&item.entry, &needed, now));
    }
    for (path, bytes) in &report.leftovers {
        println!("{}: leftover {} {}", if report.dry_run { "would remove" } else { "removed" }, path.display(), format_size(*bytes));
    }
    let verb = if report.dry_run { "would free" } else { "freed" };
    let limit = report.max_size.map(|m| format!(" (limit {})", format_size(m))).unwrap_or_default();
    println!(
        "{verb} {}: cache {} -> {}{limit}",
        format_size(report.freed()),
        format_size(report.size_before),
        format_size(report.size_after)
    );
    if report.still_above_limit() {
        let mut left = vec!["src, initramfs, mbox and monitor (never collected)"];
        for (fate, why) in [
            (Fate::Needed, "entries the corpus needs (never removed)"),
            (Fate::InUse, "kernels in use"),
            (Fate::BuildRunning, "build trees (a build is running)"),
        ] {
            if report.items.iter().any(|i| i.fate == fate) {
                left.push(why);
            }
        }
        println!("still above the limit: what is left is {}", left.join(", "));
    }
    if report.build_running {
        println!("a build is running: build trees were left alone");
    }
    let failures = report.failures().count();
    if failures > 0 {
        eprintln!("error: {failures} entr{} could not be removed", if failures == 1 { "y" } else { "ies" });
        return Ok(2);
    }
    Ok(0)
}
