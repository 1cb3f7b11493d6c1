//! A kernel source from a tarball, `tar:PATH` (as kernel.org or `make tarxz-pkg` ship
//! them, any compression GNU tar recognises): unpacked into the cache once per tarball
//! content and tracked there like Debian's source. A tarball whose entries all sit under
//! one top-level folder (`linux-7.3/...`) is unpacked from inside it.

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::cmd::run;
use crate::error::IoContext;
use crate::source::{cached_or_made, KernelSource};
use crate::{kernel_tree, Error, Result};

/// The unpacked source of `spec`, unpacking it first if this tarball was never used.
pub fn locate_or_unpack(spec: &str) -> Result<KernelSource> {
    let path = PathBuf::from(spec.strip_prefix("tar:").unwrap_or(spec));
    let path = std::path::absolute(&path).unwrap_or(path);
    let mut file = fs::File::open(&path).map_err(|_| Error::MissingInput { kind: "kernel tarball", name: spec.to_string(), path: path.clone() })?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).context(|| format!("reading {}", path.display()))?;
    let digest = hex::encode(h.finalize());
    let package = format!("tar-{}", &digest[..16]);
    // The source is the tarball's content, wherever it lies and whatever its name.
    let id = format!("tar:{digest}");
    cached_or_made(package, id, &format!("unpacking {}", path.display()), |staged, bar| {
        bar.set_message("tar -x");
        // Never as the archive says about owners, and never outside the folder.
        run(Command::new("tar").arg("-x").arg("--no-same-owner").arg("--no-same-permissions").arg("-f").arg(&path).arg("-C").arg(staged))
            .map_err(|e| Error::NotAKernel { given: spec.to_string(), why: format!("tar cannot unpack it ({e})") })?;
        let root = single_folder(staged)?.unwrap_or_else(|| staged.to_path_buf());
        kernel_tree::check_dir(&root, spec)?;
        Ok(root)
    })
}

/// The folder `dir` holds when that folder is all it holds.
fn single_folder(dir: &std::path::Path) -> Result<Option<PathBuf>> {
    let entries: Vec<PathBuf> = fs::read_dir(dir).context(|| format!("listing {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    Ok(match entries.as_slice() {
        [only] if fs::symlink_metadata(only).is_ok_and(|m| m.is_dir()) => Some(only.clone()),
        _ => None,
    })
}
