//! `cargo xtask fuzz [SECONDS]`: builds every cargo-fuzz target of `oracle/fuzz` and runs
//! each in turn for SECONDS (default 30) from its committed seeds. A target that does
//! not build, crashes (a panic), hangs (one input over [`INPUT_TIMEOUT_S`]) or runs out
//! of memory fails the command.
//!
//! cargo-fuzz passes `-Z` flags to rustc: on the pinned stable compiler that takes
//! `RUSTC_BOOTSTRAP=1`. The targets are built with AddressSanitizer (cargo-fuzz's
//! default), which also makes any single allocation over the memory limit an error.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

/// Seconds one input may take before it counts as a hang.
const INPUT_TIMEOUT_S: u64 = 10;
/// Memory a fuzzer process may use (and the largest single allocation).
const RSS_LIMIT_MB: u64 = 2048;
/// Seconds past its time after which a fuzzer that has not stopped itself is killed.
const GRACE_S: u64 = 300;

/// One target's run.
struct Outcome {
    target: String,
    executions: Option<u64>,
    per_second: Option<u64>,
    corpus: usize,
    /// `None` when it ran clean, else what went wrong.
    failure: Option<String>,
    log: PathBuf,
}

/// `cargo xtask fuzz [SECONDS]`.
pub fn command(sh: &Shell, extra: &[String]) -> Result<()> {
    let seconds = match extra.first() {
        None => 30,
        Some(s) => s.parse().map_err(|_| anyhow::anyhow!("cargo xtask fuzz [SECONDS]: {s:?} is not a number of seconds"))?,
    };
    fuzz(sh, seconds)
}

/// Builds every target and runs each for `seconds`; fails if any does not build or
/// fails.
pub fn fuzz(sh: &Shell, seconds: u64) -> Result<()> {
    ensure_cargo_fuzz(sh)?;
    let root = sh.current_dir();
    let fuzz_dir = root.join("oracle/fuzz");
    let _dir = sh.push_dir(&fuzz_dir);
    let _bootstrap = sh.push_env("RUSTC_BOOTSTRAP", "1");
    let targets: Vec<String> =
        cmd!(sh, "cargo fuzz list").read()?.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
    if targets.is_empty() {
        bail!("cargo fuzz list: no fuzz targets in {}", fuzz_dir.display());
    }
    cmd!(sh, "cargo fuzz build").run().context("building the fuzz targets")?;
    let host = cmd!(sh, "rustc -vV").read()?.lines().find_map(|l| l.strip_prefix("host: ").map(str::to_string)).context("rustc -vV: no host line")?;
    let bin_dir = fuzz_dir.join("target").join(host).join("release");
    let scratch = root.join("target/fuzz");
    let _lock = lock(&scratch)?;
    // One target per core at once: each libFuzzer process is single-threaded, so every
    // target still gets a core for its whole time.
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(targets.len());
    println!("fuzz: {} targets, {seconds} s each, {workers} at a time", targets.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, Result<Outcome>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(t) = targets.get(i) else { break };
                        mine.push((i, run_target(&bin_dir.join(t), t, &fuzz_dir.join("seeds").join(t), &scratch, seconds)));
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let outcomes = results.into_iter().map(|(_, o)| o).collect::<Result<Vec<_>>>()?;
    println!("\n{:<12} {:>12} {:>9} {:>7}  result", "target", "executions", "exec/s", "corpus");
    let show = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
    for o in &outcomes {
        let result = o.failure.as_deref().unwrap_or("ok");
        println!("{:<12} {:>12} {:>9} {:>7}  {result}", o.target, show(o.executions), show(o.per_second), o.corpus);
    }
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    for o in &failed {
        println!("\n--- {} ({}): end of {}", o.target, o.failure.as_deref().unwrap_or_default(), o.log.display());
        let log = std::fs::read_to_string(&o.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        for l in &lines[lines.len().saturating_sub(40)..] {
            println!("{l}");
        }
    }
    if !failed.is_empty() {
        bail!("fuzzing failed: {} (inputs under {})", failed.iter().map(|o| o.target.as_str()).collect::<Vec<_>>().join(", "), scratch.join("artifacts").display());
    }
    Ok(())
}

/// Holds `target/fuzz/lock` for the whole run: two runs in one checkout (a `cargo xtask
/// test` beside a `cargo xtask fuzz`) would share corpora and logs and each measure the
/// other's load, so the second waits.
fn lock(scratch: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    std::fs::create_dir_all(scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let path = scratch.join("lock");
    let open = || std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("opening {}", path.display()));
    match Flock::lock(open()?, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err(_) => {
            println!("waiting for another fuzz run in this checkout ({} is held)", path.display());
            Flock::lock(open()?, FlockArg::LockExclusive).map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", path.display()))
        }
    }
}

/// Installs cargo-fuzz (under the default cargo home) when `cargo fuzz` is missing.
fn ensure_cargo_fuzz(sh: &Shell) -> Result<()> {
    if cmd!(sh, "cargo fuzz --version").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        return Ok(());
    }
    cmd!(sh, "cargo install cargo-fuzz --locked").run().context("installing cargo-fuzz")
}

/// Runs one target for `seconds` on a scratch copy of its seeds (the committed seeds are
/// never written), logging to `target/fuzz/logs/TARGET.log`.
fn run_target(bin: &Path, target: &str, seeds: &Path, scratch: &Path, seconds: u64) -> Result<Outcome> {
    let corpus = scratch.join("corpus").join(target);
    let artifacts = scratch.join("artifacts").join(target);
    let logs = scratch.join("logs");
    for d in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    if let Ok(entries) = std::fs::read_dir(seeds) {
        for e in entries.flatten().filter(|e| e.path().is_file()) {
            std::fs::copy(e.path(), corpus.join(e.file_name())).with_context(|| format!("copying seed {}", e.path().display()))?;
        }
    }
    let log = logs.join(format!("{target}.log"));
    let log_file = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut child = Command::new(bin)
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-timeout={INPUT_TIMEOUT_S}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .arg(&corpus)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone()?)
        .stderr(log_file)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    // libFuzzer stops itself; this only guards against a fuzzer that does not.
    let deadline = Instant::now() + Duration::from_secs(seconds + GRACE_S);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let stat = |name: &str| text.lines().rev().find_map(|l| l.strip_prefix(name)?.trim().strip_prefix(':')?.trim().parse::<u64>().ok());
    let failure = match status {
        None => Some(format!("still running {GRACE_S} s after its time was up")),
        Some(s) if s.success() => None,
        Some(s) => Some(classify(&text).unwrap_or_else(|| format!("exited with {s}"))),
    };
    let corpus_size = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    Ok(Outcome {
        target: target.to_string(),
        executions: stat("stat::number_of_executed_units"),
        per_second: stat("stat::average_exec_per_sec"),
        corpus: corpus_size,
        failure,
        log,
    })
}

/// What libFuzzer says went wrong.
fn classify(log: &str) -> Option<String> {
    [
        ("ERROR: libFuzzer: timeout", "hang (an input took over the timeout)"),
        ("ERROR: libFuzzer: out-of-memory", "out of memory"),
        ("ERROR: libFuzzer: deadly signal", "crash"),
        ("ERROR: AddressSanitizer", "crash (AddressSanitizer)"),
        ("ERROR: libFuzzer: fuzz target exited", "the target exited"),
    ]
    .into_iter()
    .find(|(needle, _)| log.contains(needle))
    .map(|(_, what)| what.to_string())
}
