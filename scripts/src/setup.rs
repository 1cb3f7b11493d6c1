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
];

/// Kernel sources the corpus builds from.
const KERNEL_SOURCES: &[&str] = &["debian:linux-source-7.3"];

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

/// The program that runs a command as root: `env` when we are root, else `sudo`.
fn as_root(sh: &Shell) -> Result<&'static str> {
    let uid = cmd!(sh, "id -u").quiet().read()?;
    Ok(if uid.trim() == "0" { "env" } else { "sudo" })
}

pub fn setup(sh: &Shell) -> Result<()> {
    let mut did = Vec::new();
    let sudo = as_root(sh)?;

    let apt_config_ok = std::fs::read_to_string(SOURCES_FILE).is_ok_and(|s| s == SOURCES)
        && std::fs::read_to_string(PIN_FILE).is_ok_and(|s| s == PIN);
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| installed_version(sh, p).is_none()).collect();
    let need_qemu = !qemu_ok(sh);
    if !apt_config_ok || !missing.is_empty() || need_qemu {
        if !apt_config_ok {
            for (file, text) in [(SOURCES_FILE, SOURCES), (PIN_FILE, PIN)] {
                let tmp = std::env::temp_dir().join("lmo-apt-file");
                std::fs::write(&tmp, text)?;
                cmd!(sh, "{sudo} install -m 0644 {tmp} {file}").run().with_context(|| format!("writing {file}"))?;
            }
            did.push("apt sources (bookworm-backports, trixie-backports pinned to 1)".to_string());
        }
        cmd!(sh, "{sudo} apt-get update -q").env("DEBIAN_FRONTEND", "noninteractive").run()?;
        if need_qemu {
            cmd!(sh, "{sudo} apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-arm")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()?;
            if !qemu_ok(sh) {
                bail!("qemu-system-arm from bookworm-backports is not version 10 or later");
            }
            did.push("qemu-system-arm from bookworm-backports".into());
        }
        if !missing.is_empty() {
            let names = missing.join(" ");
            cmd!(sh, "{sudo} apt-get install -y -q --no-install-recommends {missing...}")
                .env("DEBIAN_FRONTEND", "noninteractive")
                .run()?;
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

    for spec in KERNEL_SOURCES {
        let (source, fetched) = KernelSource::fetch(spec).with_context(|| format!("fetching {spec}"))?;
        if fetched {
            did.push(format!("kernel source {} at {}", source.id, source.tree.display()));
        }
    }

    if did.is_empty() {
        println!("setup: nothing to do, everything is in place");
    } else {
        for d in did {
            println!("setup: installed {d}");
        }
    }
    Ok(())
}
