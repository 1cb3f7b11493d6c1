//! The initramfs: a static `/init` built from `init.c` with the kernel's own nolibc and
//! the cross compiler, packed as a newc cpio with `/dev/console`. Cached by a hash of
//! the program text, the compiler and the kernel source it takes nolibc from.

use std::fs;
use std::io::Cursor;
use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::cmd::run;
use crate::error::IoContext;
use crate::source::KernelSource;
use crate::toolchain::{cross_gcc_version, CROSS_COMPILE};
use crate::{paths, Result};

/// Source of `/init`; its console markers are parsed by [`crate::console`].
pub const INIT_C: &str = include_str!("init.c");

/// Builds (or finds in the cache) the initramfs for kernels of `source`.
pub fn build_initramfs(source: &KernelSource) -> Result<PathBuf> {
    let compiler = cross_gcc_version()?;
    let mut h = Sha256::new();
    for part in [INIT_C, compiler.as_str(), source.id.as_str()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let key = hex::encode(h.finalize());
    let dir = paths::initramfs_dir().join(&key[..24]);
    let cpio_path = dir.join("initramfs.cpio");
    if cpio_path.is_file() {
        return Ok(cpio_path);
    }
    // One builder at a time (tests build in parallel); the first one's result serves all.
    let _lock = crate::build::lock_builds()?;
    if cpio_path.is_file() {
        return Ok(cpio_path);
    }
    // The tree may hold a patch series or another source's files (crate::shared_tree):
    // nolibc and the headers come from this source's own files.
    crate::series::prepare_tree(source, &crate::shared_tree::base_commit(source, source)?, &[])?;
    fs::create_dir_all(&dir).context(|| format!("creating {}", dir.display()))?;
    let c_file = dir.join("init.c");
    fs::write(&c_file, INIT_C).context(|| format!("writing {}", c_file.display()))?;
    // nolibc includes the arch's uapi headers (asm/types.h ...): install them from this
    // very source, so no libc or linux-libc-dev package for arm64 is needed.
    let headers = dir.join("usr");
    {
        run(Command::new("make")
            .arg("-C")
            .arg(&source.tree)
            .arg(format!("O={}", dir.join("headers-build").display()))
            .arg("ARCH=arm64")
            .arg(format!("INSTALL_HDR_PATH={}", headers.display()))
            .arg("headers_install"))?;
    }
    let init = dir.join("init");
    run(Command::new(format!("{CROSS_COMPILE}gcc"))
        .args(["-static", "-nostdlib", "-Os", "-s", "-Wall", "-Werror", "-fno-asynchronous-unwind-tables"])
        .arg("-I")
        .arg(source.tree.join("tools/include/nolibc"))
        .arg("-I")
        .arg(source.tree.join("tools/include"))
        .arg("-I")
        .arg(headers.join("include"))
        .arg("-o")
        .arg(&init)
        .arg(&c_file)
        .arg("-lgcc"))?;
    let program = fs::read(&init).context(|| format!("reading {}", init.display()))?;
    let archive = pack(&program).context(|| "writing the cpio archive".into())?;
    let tmp = dir.join("initramfs.cpio.tmp");
    fs::write(&tmp, archive).context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &cpio_path).context(|| format!("writing {}", cpio_path.display()))?;
    let _ = fs::remove_dir_all(dir.join("headers-build"));
    Ok(cpio_path)
}

const DIR: u32 = 0o040755;
const CHAR_DEV: u32 = 0o020600;
const EXEC: u32 = 0o100755;

/// One archive member: name, mode, (rdev major, minor), contents.
type Entry<'a> = (&'a str, u32, (u32, u32), &'a [u8]);

/// A newc archive with the directories `/init` needs, `/dev/console` and `/init` itself.
fn pack(init: &[u8]) -> std::io::Result<Vec<u8>> {
    let entries: [Entry; 5] = [
        ("dev", DIR, (0, 0), &[]),
        ("proc", DIR, (0, 0), &[]),
        ("sys", DIR, (0, 0), &[]),
        ("dev/console", CHAR_DEV, (5, 1), &[]),
        ("init", EXEC, (0, 0), init),
    ];
    let mut out = Cursor::new(Vec::new());
    for (ino, (name, mode, (major, minor), body)) in entries.into_iter().enumerate() {
        let mut w = cpio::NewcBuilder::new(name)
            .ino(ino as u32 + 1)
            .mode(mode)
            .nlink(if mode == DIR { 2 } else { 1 })
            .rdev_major(major)
            .rdev_minor(minor)
            .write(out, body.len() as u32);
        std::io::Write::write_all(&mut w, body)?;
        out = w.finish()?;
    }
    Ok(cpio::newc::trailer(out)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_lists_init_and_console() {
        let bytes = pack(b"\x7fELF-ish").unwrap();
        let mut entries = Vec::new();
        let mut rest = &bytes[..];
        loop {
            let reader = cpio::NewcReader::new(rest).unwrap();
            if reader.entry().is_trailer() {
                break;
            }
            let e = reader.entry();
            entries.push((e.name().to_string(), e.mode(), e.rdev_major(), e.file_size()));
            rest = reader.finish().unwrap();
        }
        assert_eq!(entries.len(), 5);
        assert_eq!(entries[0], ("dev".into(), DIR, 0, 0));
        assert!(entries.contains(&("dev/console".into(), CHAR_DEV, 5, 0)));
        assert!(entries.contains(&("init".into(), EXEC, 0, 8)));
    }
}
