//! `cargo xtask`: set-up that needs nobody, the test suite and the nightly run.

mod fuzz;
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
        Some("determinism") => determinism(&sh, &args[1..]),
        Some("fuzz") => fuzz::command(&sh, &args[1..]),
        _ => bail!("usage: cargo xtask <setup|test|nightly|bench|determinism|fuzz> [args]\n  setup    install QEMU, the cross toolchain and the kernel source (idempotent)\n  test     set up, then run the whole test suite, QEMU tests included, then each fuzz target for 20 s\n  nightly  set up, then diff Linux against the model for every corpus scenario\n  bench    set up, then run the benchmarks (walker vs plain read vs dump-guest-memory)\n  determinism [K]  set up, then run every corpus scenario K times (default 20) and check every run is the same\n  fuzz [SECONDS]  build every fuzz target (oracle/fuzz) and run each for SECONDS (default 30)"),
    }
}

/// A shell rooted at the project.
fn project_shell() -> Result<Shell> {
    let sh = Shell::new()?;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    sh.change_dir(root.canonicalize().unwrap_or(root));
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
    fuzz::fuzz(sh, 20)?;
    Ok(())
}

fn bench(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    cmd!(sh, "cargo run --quiet --release -p oracle -- bench walk corpora/bench/walk-8g-pte.json {extra...}").run()?;
    cmd!(sh, "cargo run --quiet --release -p oracle -- bench trace corpora/scenarios/bbml3-blocks.json {extra...}").run()?;
    cmd!(sh, "cargo run --quiet --release -p oracle -- bench host corpora/scenarios/realm-pte.json {extra...}").run()?;
    Ok(())
}

/// Every corpus scenario K times (default 20): the same verdict and, where the scenario
/// is deterministic, the same dumps each time.
fn determinism(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    let runs = extra.first().cloned().unwrap_or_else(|| "20".into());
    cmd!(sh, "cargo run --quiet --release -p oracle -- determinism --runs {runs} corpora/scenarios").run()?;
    Ok(())
}

/// Every corpus scenario on every kernel of the matrix (corpora/matrix): boot it, read
/// the Linux side from guest RAM (cross-checked against the kernel's own ptdump), replay
/// it through the model, diff, and write the results directory target/nightly/
/// (report.txt, report.json, kcidb.json, junit.xml, ktap.txt, index.html; another
/// kernel's in target/nightly/kernel-NAME/); then the VA geometries of
/// corpora/geometries on their own kernels (target/nightly/geometries/). `--baseline DIR` then says what changed
/// since that run; other arguments go to `oracle run`.
fn nightly(sh: &Shell, extra: &[String]) -> Result<()> {
    setup::setup(sh)?;
    cmd!(sh, "cargo build --quiet --release -p oracle").run()?;
    let out_dir = sh.current_dir().join("target/nightly");
    let (baseline, extra) = match extra.iter().position(|a| a == "--baseline") {
        Some(i) => {
            let dir = extra.get(i + 1).cloned().ok_or_else(|| anyhow::anyhow!("--baseline needs a results directory"))?;
            let mut rest = extra.to_vec();
            rest.drain(i..i + 2);
            // The baseline may be last night's target/nightly: keep a copy before it is rewritten.
            let keep = sh.current_dir().join("target/nightly-baseline");
            if std::path::Path::new(&dir).canonicalize().ok() == out_dir.canonicalize().ok() {
                let _ = std::fs::remove_dir_all(&keep);
                std::fs::rename(&out_dir, &keep)?;
                (Some(keep), rest)
            } else {
                (Some(std::path::PathBuf::from(dir)), rest)
            }
        }
        None => (None, extra.to_vec()),
    };
    // The kernel matrix (corpora/matrix): the scenarios' own sources into target/nightly/,
    // each other kernel into target/nightly/kernel-NAME/. A user's own --kernel runs
    // that kernel alone.
    use linux_harness::matrix::{self, MatrixKernel};
    let own_kernel = extra.iter().any(|a| a == "--kernel" || a.starts_with("--kernel="));
    let kernels = if own_kernel { vec![MatrixKernel::Scenarios] } else { matrix::load(&sh.current_dir().join("corpora/matrix"))? };
    // Results of a kernel the matrix no longer lists would read as tonight's (a run of
    // the user's own kernel leaves the matrix's folders alone).
    if !own_kernel {
        let folders: Vec<String> = kernels.iter().filter_map(MatrixKernel::folder).collect();
        for e in std::fs::read_dir(&out_dir).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("kernel-") && !folders.contains(&name) {
                std::fs::remove_dir_all(e.path())?;
            }
        }
    }
    // The run's own exit status: 0 as expected, 1 not, 2 infrastructure or incomplete
    // (the worst of the kernels).
    let matrix_args: Vec<String> = if own_kernel { vec![] } else { vec!["--matrix".into(), "corpora/matrix".into()] };
    let status = std::process::Command::new("./target/release/oracle")
        .current_dir(sh.current_dir())
        .args(["run", "corpora/scenarios", "--out"])
        .arg(&out_dir)
        .args(&matrix_args)
        .args(&extra)
        .status()?
        .code()
        .unwrap_or(2);
    // The VA geometries (corpora/geometries, docs/va-geometries.md) on each scenario's
    // own kernel (or the user's --kernel), not on the matrix: each geometry is a kernel
    // build of its own. Results in target/nightly/geometries/.
    let geo_dir = out_dir.join("geometries");
    let geo_status = std::process::Command::new("./target/release/oracle")
        .current_dir(sh.current_dir())
        .args(["run", "corpora/geometries", "--out"])
        .arg(&geo_dir)
        .args(&extra)
        .status()?
        .code()
        .unwrap_or(2);
    // The worst of the two: 2 over 1 over 0.
    let status = if status == 2 || geo_status == 2 { 2 } else { status.max(geo_status) };
    let mut regressed = false;
    if let Some(b) = baseline.as_ref().map(|b| b.join("geometries")).filter(|b| b.join("report.json").is_file()) {
        regressed |= !cmd!(sh, "./target/release/oracle compare-runs {b} {geo_dir}").ignore_status().output().map(|o| {
            print!("geometries, changes since {}:\n{}", b.display(), String::from_utf8_lossy(&o.stdout));
            eprint!("{}", String::from_utf8_lossy(&o.stderr));
            o.status.success()
        })?;
    }
    for kernel in &kernels {
        let dir = kernel.folder().map_or(out_dir.clone(), |f| out_dir.join(f));
        // The scenarios' own column is always compared (a baseline that is not a results
        // directory is an error); another kernel's only if the baseline ran it too.
        let base = match (&baseline, kernel.folder()) {
            (Some(b), None) => Some(b.clone()),
            (Some(b), Some(f)) if b.join(&f).join("report.json").is_file() => Some(b.join(f)),
            (Some(b), Some(f)) => {
                println!("no {f} results in {}: nothing to compare this kernel with", b.display());
                None
            }
            (None, _) => None,
        };
        if let Some(b) = base {
            regressed |= !cmd!(sh, "./target/release/oracle compare-runs {b} {dir}").ignore_status().output().map(|o| {
                print!("changes since {}:\n{}", b.display(), String::from_utf8_lossy(&o.stdout));
                eprint!("{}", String::from_utf8_lossy(&o.stderr));
                o.status.success()
            })?;
        }
    }
    // The reported bugs: each must still show what its entry says. The verdicts come
    // from the JSON results, not from the report text.
    let repro_json = out_dir.join("reported.json");
    let repro = cmd!(sh, "./target/release/oracle repro corpora/reported --json {repro_json}").ignore_status().output()?;
    std::fs::write(out_dir.join("reported.txt"), &repro.stdout)?;
    eprint!("{}", String::from_utf8_lossy(&repro.stderr));
    match std::fs::read_to_string(&repro_json).ok().and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok()) {
        Some(d) if d["entries"].is_array() => {
            for e in d["entries"].as_array().into_iter().flatten() {
                println!("reported {}: {}", e["entry"].as_str().unwrap_or("?"), e["verdict"].as_str().unwrap_or("?"));
            }
        }
        _ => println!("reported bugs: no results ({} was not written)", repro_json.display()),
    }
    match (status, repro.status.code()) {
        (0, Some(0)) if !regressed => Ok(()),
        (0, Some(0)) => bail!("a regression since the baseline (above)"),
        (0 | 1, Some(0 | 1)) => bail!("some scenarios or reported bugs did not come out as expected"),
        _ => bail!("infrastructure failure (see the reports)"),
    }
}
