//! Guest physical memory behind one consumer-side trait: the mmap of a paused guest's
//! shared RAM file (zero copy) and a `Vec` for tests. The walker is generic over it.

use std::fs::File;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::path::Path;
use std::ptr::NonNull;

/// A read outside guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("guest PA {pa:#x}+{len:#x} is outside RAM [{ram_start:#x}, {ram_end:#x})")]
pub struct OutsideRam {
    pub pa: u64,
    pub len: usize,
    pub ram_start: u64,
    pub ram_end: u64,
}

/// Read access to guest physical memory.
pub trait GuestMemory {
    /// The bytes at `[pa, pa + len)`, borrowed where the source allows it.
    fn bytes(&self, pa: u64, len: usize) -> Result<&[u8], OutsideRam>;

    /// The little-endian u64 at `pa`.
    fn read_u64(&self, pa: u64) -> Result<u64, OutsideRam> {
        let b = self.bytes(pa, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

fn range_check(pa: u64, len: usize, start: u64, size: u64) -> Result<usize, OutsideRam> {
    let err = OutsideRam { pa, len, ram_start: start, ram_end: start + size };
    let off = pa.checked_sub(start).ok_or(err)?;
    let end = off.checked_add(len as u64).ok_or(err)?;
    if end > size {
        return Err(err);
    }
    Ok(off as usize)
}

/// Guest RAM held in a vector (tests, fixtures).
pub struct VecMemory {
    pub base: u64,
    pub bytes: Vec<u8>,
}

impl GuestMemory for VecMemory {
    fn bytes(&self, pa: u64, len: usize) -> Result<&[u8], OutsideRam> {
        let off = range_check(pa, len, self.base, self.bytes.len() as u64)?;
        Ok(&self.bytes[off..off + len])
    }
}

/// The shared RAM file of a paused guest, mapped read-only.
pub struct MappedRam {
    base: u64,
    len: usize,
    ptr: NonNull<std::ffi::c_void>,
}

impl MappedRam {
    /// Maps `file`, whose offset 0 is guest PA `base`.
    pub fn open(file: &Path, base: u64) -> std::io::Result<MappedRam> {
        let f = File::open(file)?;
        let len = f.metadata()?.len() as usize;
        let nz = NonZeroUsize::new(len).ok_or_else(|| std::io::Error::other(format!("{} is empty", file.display())))?;
        // SAFETY: a fresh read-only shared mapping of a file we opened; nothing else in
        // this process aliases it mutably. QEMU may write the file while the guest runs;
        // readers only look while it is paused, and read plain bytes (no references to
        // typed data that a concurrent write could invalidate).
        let ptr = unsafe {
            nix::sys::mman::mmap(None, nz, nix::sys::mman::ProtFlags::PROT_READ, nix::sys::mman::MapFlags::MAP_SHARED, f.as_fd(), 0)
        }
        .map_err(std::io::Error::from)?;
        Ok(MappedRam { base, len, ptr })
    }
}

impl GuestMemory for MappedRam {
    fn bytes(&self, pa: u64, len: usize) -> Result<&[u8], OutsideRam> {
        let off = range_check(pa, len, self.base, self.len as u64)?;
        // SAFETY: `off + len <= self.len` was checked, the mapping lives as long as self.
        Ok(unsafe { std::slice::from_raw_parts((self.ptr.as_ptr() as *const u8).add(off), len) })
    }
}

impl Drop for MappedRam {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `open` mapped; no borrow outlives self.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reads_and_bounds() {
        let mut bytes = vec![0u8; 32];
        bytes[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        let m = VecMemory { base: 0x4000_0000, bytes };
        assert_eq!(m.read_u64(0x4000_0008), Ok(0x1122_3344_5566_7788));
        let e = m.read_u64(0x4000_0020).unwrap_err();
        assert_eq!(e.to_string(), "guest PA 0x40000020+0x8 is outside RAM [0x40000000, 0x40000020)");
        assert!(m.read_u64(0x3fff_fff8).is_err());
        assert!(m.read_u64(u64::MAX - 3).is_err());
    }
}
