//! `cargo xtask`: set-up that needs nobody, the test suite and the nightly run.

mod setup;

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sh = project_shell()?;
    match args.first().map(String::as_str) {
        Some("setup") => setup::setup(&sh),
        Some("test") => test(&sh, &args[1..]),
        Some("nightly") => nightly(&sh, &args[1..]),
        Some("bench") => bench(&sh, &args[1..]),
        _ => bail!("usage: cargo xtask <setup|test|nightly> [args]\n  setup    install QEMU, the cross toolchain and the kernel source (idempotent)\n  test     set up, then run the whole test suite, QEMU tests included\n  nightly  set up, then boot every corpus scenario and report\n  bench    set up, then run the benchmarks (walker vs plain read vs dump-guest-memory)"),
    }
}

/// A shell rooted at the project.
fn project_shell() -> Result<Shell> {
    let sh = Shell::new()?;
    sh.change_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".."));
    Ok(sh)
}

fn test(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    cmd!(sh, "cargo build -p rust-impl --target aarch64-unknown-none").run()?;
    // nextest (on every machine of this kind) runs each test in its own process and
    // ends with one summary line; plain `cargo test` is the fallback.
    if cmd!(sh, "cargo nextest --version").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        cmd!(sh, "cargo nextest run --workspace --all-targets --no-fail-fast {extra...}").run()?;
    } else {
        cmd!(sh, "cargo test --workspace --all-targets --no-fail-fast {extra...}").run()?;
    }
    Ok(())
}

fn bench(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    cmd!(sh, "cargo run --quiet --release -p oracle -- bench walk corpora/bench/walk-8g-pte.json {extra...}").run()?;
    Ok(())
}

fn nightly(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    let scenarios: Vec<String> = sh
        .read_dir("corpora/scenarios")?
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| p.display().to_string())
        .collect();
    let mut failed = Vec::new();
    for s in &scenarios {
        if cmd!(sh, "cargo run --quiet --release -p oracle -- boot {s} {extra...}").run().is_err() {
            failed.push(s.clone());
        }
    }
    println!("{} scenario(s), {} not as expected", scenarios.len(), failed.len());
    if !failed.is_empty() {
        bail!("not as expected: {}", failed.join(", "));
    }
    Ok(())
}
