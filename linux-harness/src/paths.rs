//! Where the harness keeps its cache: kernel sources, build trees, built kernels, initramfs.
//!
//! The root is `$LMO_CACHE_DIR`, else `$XDG_CACHE_HOME/linear-map-oracle`, else
//! `~/.cache/linear-map-oracle`. Every entry below it is keyed by a content hash, so a
//! shared cache is safe across checkouts.

use std::path::PathBuf;

/// The cache root (not created here).
pub fn cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("LMO_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("linear-map-oracle")
}

/// Unpacked kernel sources, one git-tracked tree per source name.
pub fn sources_dir() -> PathBuf {
    cache_root().join("src")
}

/// Kbuild output trees (`O=`), one per configuration family.
pub fn build_trees_dir() -> PathBuf {
    cache_root().join("build")
}

/// Finished kernels (Image, vmlinux, System.map, .config), one per variant hash.
pub fn kernels_dir() -> PathBuf {
    cache_root().join("kernels")
}

/// Finished initramfs images, one per input hash.
pub fn initramfs_dir() -> PathBuf {
    cache_root().join("initramfs")
}

/// Lock file serialising source-tree and build work across processes.
pub fn build_lock() -> PathBuf {
    cache_root().join("build.lock")
}

/// Directory under which private run directories (RAM file, sockets, logs) are made:
/// `$LMO_RUN_PARENT` if set, else `/dev/shm` when it exists, since the guest RAM file
/// lives there.
pub fn run_parent() -> PathBuf {
    if let Some(dir) = std::env::var_os("LMO_RUN_PARENT") {
        return PathBuf::from(dir);
    }
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        shm
    } else {
        std::env::temp_dir()
    }
}
