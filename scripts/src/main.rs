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
        _ => bail!("usage: cargo xtask <setup|test|nightly> [args]\n  setup    install QEMU, the cross toolchain and the kernel source (idempotent)\n  test     set up, then run the whole test suite, QEMU tests included\n  nightly  set up, then dump every corpus scenario's linear map and cross-check it\n  bench    set up, then run the benchmarks (walker vs plain read vs dump-guest-memory)"),
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
    // The model is no_std: it must build for a bare-metal arm64 target, with and
    // without an allocator.
    cmd!(sh, "cargo build -p rust-impl --target aarch64-unknown-none").run()?;
    cmd!(sh, "cargo build -p rust-impl --features alloc --target aarch64-unknown-none").run()?;
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

/// Every corpus scenario: boot it, read the Linux side from guest RAM and cross-check
/// it against the kernel's own ptdump; each dump is kept under target/nightly/.
fn nightly(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    let mut scenarios: Vec<std::path::PathBuf> =
        sh.read_dir("corpora/scenarios")?.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    scenarios.sort();
    cmd!(sh, "cargo build --quiet --release -p oracle").run()?;
    let out_dir = sh.current_dir().join("target/nightly");
    sh.create_dir(&out_dir)?;
    let mut lines = Vec::new();
    let mut failed = 0;
    for s in &scenarios {
        let name = s.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dump = out_dir.join(format!("{name}.linux.txt"));
        let result = cmd!(sh, "./target/release/oracle dump {s} {extra...}").ignore_status().output()?;
        std::fs::write(&dump, &result.stdout)?;
        let stderr = String::from_utf8_lossy(&result.stderr);
        let verdict = match result.status.code() {
            Some(0) => "ok",
            Some(1) => "ptdump mismatch",
            _ => "infrastructure failure",
        };
        if verdict != "ok" {
            failed += 1;
            eprint!("{stderr}");
        }
        lines.push(format!("{name:28} {verdict:24} {}", stderr.lines().last().unwrap_or("").trim()));
    }
    let report = format!("{}\n{} scenario(s), {} not as expected\n", lines.join("\n"), scenarios.len(), failed);
    std::fs::write(out_dir.join("report.txt"), &report)?;
    print!("{report}");
    println!("report and dumps: {}", out_dir.display());
    if failed > 0 {
        bail!("{failed} scenario(s) not as expected");
    }
    Ok(())
}
