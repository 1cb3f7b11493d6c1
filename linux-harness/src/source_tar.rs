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
use crate::source::{track, KernelSource, SOURCE_ID_FILE};
use crate::{kernel_tree, paths, Error, Result};

/// The unpacked source of `spec`, unpacking it first if this tarball was never used.
pub fn locate_or_unpack(spec: &str) -> Result<KernelSource> {
    let path = PathBuf::from(spec.strip_prefix("tar:").unwrap_or(spec));
    let path = std::path::absolute(&path).unwrap_or(path);
    let mut file = fs::File::open(&path).map_err(|_| Error::MissingInput { kind: "kernel tarball", name: spec.to_string(), path: path.clone() })?;
    let mut h = Sha256::new();
    std::io::copy(&mut file, &mut h).context(|| format!("reading {}", path.display()))?;
    let digest = hex::encode(h.finalize());
    let package = format!("tar-{}", &digest[..16]);
    let tree = paths::sources_dir().join(&package);
    // The source is the tarball's content, wherever it lies and whatever its name.
    let id = format!("tar:{digest}");
    if tree.join(".git").join(SOURCE_ID_FILE).exists() {
        return Ok(KernelSource { package, tree, id });
    }
    let sources = paths::sources_dir();
    fs::create_dir_all(&sources).context(|| format!("creating {}", sources.display()))?;
    let work = tempfile::Builder::new().prefix(".unpack-").tempdir_in(&sources).context(|| format!("creating a work directory in {}", sources.display()))?;
    let unpacked = work.path().join("tree");
    fs::create_dir(&unpacked).context(|| format!("creating {}", unpacked.display()))?;
    let bar = crate::progress::spinner(&format!("unpacking {}", path.display()));
    bar.set_message("tar -x");
    // Never as the archive says about owners, and never outside the folder.
    let untar = run(Command::new("tar").arg("-x").arg("--no-same-owner").arg("--no-same-permissions").arg("-f").arg(&path).arg("-C").arg(&unpacked));
    if let Err(e) = untar {
        bar.finish_and_clear();
        return Err(Error::NotAKernel { given: spec.to_string(), why: format!("tar cannot unpack it ({e})") });
    }
    let root = single_folder(&unpacked)?.unwrap_or(unpacked);
    kernel_tree::check_dir(&root, spec).inspect_err(|_| bar.finish_and_clear())?;
    bar.set_message("git init (so patch series can be undone)");
    track(&root, &id)?;
    if fs::rename(&root, &tree).is_err() && !tree.join(".git").join(SOURCE_ID_FILE).exists() {
        return Err(Error::MissingInput { kind: "kernel tarball", name: id, path: tree });
    }
    bar.finish_and_clear();
    Ok(KernelSource { package, tree, id })
}

/// The folder `dir` holds when that folder is all it holds.
fn single_folder(dir: &std::path::Path) -> Result<Option<PathBuf>> {
    let entries: Vec<PathBuf> = fs::read_dir(dir).context(|| format!("listing {}", dir.display()))?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    Ok(match entries.as_slice() {
        [only] if fs::symlink_metadata(only).is_ok_and(|m| m.is_dir()) => Some(only.clone()),
        _ => None,
    })
}
