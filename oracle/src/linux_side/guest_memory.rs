//! Guest physical memory behind one consumer-side trait: the mmap of a stopped guest's
//! shared RAM file (zero copy), an ELF core from QMP `dump-guest-memory`, and a `Vec`
//! for tests. The walker is generic over it.

use std::fs::File;
use std::num::NonZeroUsize;
use std::os::fd::AsFd;
use std::path::Path;
use std::ptr::NonNull;

use rust_impl::address::PhysAddr;

/// A read outside guest RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("guest PA {:#x}+{len:#x} is outside RAM [{:#x}, {:#x})", pa.0, ram_start.0, ram_end.0)]
pub struct OutsideRam {
    pub pa: PhysAddr,
    pub len: usize,
    pub ram_start: PhysAddr,
    pub ram_end: PhysAddr,
}

/// Read access to guest physical memory.
pub trait GuestMemory {
    /// The bytes at `[pa, pa + len)`, borrowed where the source allows it.
    fn bytes(&self, pa: PhysAddr, len: usize) -> Result<&[u8], OutsideRam>;

    /// The little-endian u64 at `pa`.
    fn read_u64(&self, pa: PhysAddr) -> Result<u64, OutsideRam> {
        let b = self.bytes(pa, 8)?;
        Ok(u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
}

/// The offset of `[pa, pa + len)` in a source holding `size` bytes from `start`.
fn range_check(pa: PhysAddr, len: usize, start: PhysAddr, size: u64) -> Result<usize, OutsideRam> {
    let err = OutsideRam { pa, len, ram_start: start, ram_end: PhysAddr(start.0.saturating_add(size)) };
    let off = pa.0.checked_sub(start.0).ok_or(err)?;
    let end = off.checked_add(len as u64).ok_or(err)?;
    if end > size {
        return Err(err);
    }
    Ok(off as usize)
}

/// Guest RAM held in a vector (tests, fixtures).
pub struct VecMemory {
    pub base: PhysAddr,
    pub bytes: Vec<u8>,
}

impl GuestMemory for VecMemory {
    fn bytes(&self, pa: PhysAddr, len: usize) -> Result<&[u8], OutsideRam> {
        let off = range_check(pa, len, self.base, self.bytes.len() as u64)?;
        Ok(&self.bytes[off..off + len])
    }
}

/// A file mapped read-only (the RAM file of a paused guest, or an ELF core).
struct MappedFile {
    len: usize,
    ptr: NonNull<std::ffi::c_void>,
}

impl MappedFile {
    fn open(path: &Path) -> std::io::Result<MappedFile> {
        let f = File::open(path)?;
        let len = f.metadata()?.len() as usize;
        let nz = NonZeroUsize::new(len).ok_or_else(|| std::io::Error::other(format!("{} is empty", path.display())))?;
        // SAFETY: a fresh read-only shared mapping of a file we opened; nothing in this
        // process aliases it mutably. QEMU may write the RAM file while the guest runs;
        // readers only look while it is stopped, and read plain bytes (no references to
        // typed data that a concurrent write could invalidate).
        let ptr = unsafe {
            nix::sys::mman::mmap(None, nz, nix::sys::mman::ProtFlags::PROT_READ, nix::sys::mman::MapFlags::MAP_SHARED, f.as_fd(), 0)
        }
        .map_err(std::io::Error::from)?;
        Ok(MappedFile { len, ptr })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len` bytes long and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr() as *const u8, self.len) }
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region `open` mapped; no borrow outlives self.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}

/// The shared RAM file of a stopped guest, mapped read-only (zero copy).
pub struct MappedRam {
    base: PhysAddr,
    file: MappedFile,
}

impl MappedRam {
    /// Maps `file`, whose offset 0 is guest PA `base`.
    pub fn open(file: &Path, base: PhysAddr) -> std::io::Result<MappedRam> {
        Ok(MappedRam { base, file: MappedFile::open(file)? })
    }
}

impl GuestMemory for MappedRam {
    fn bytes(&self, pa: PhysAddr, len: usize) -> Result<&[u8], OutsideRam> {
        let off = range_check(pa, len, self.base, self.file.len as u64)?;
        Ok(&self.file.bytes()[off..off + len])
    }
}

/// An ELF core as QMP `dump-guest-memory` writes it: each PT_LOAD segment holds guest
/// RAM from its physical address.
pub struct ElfCore {
    file: MappedFile,
    /// (guest PA, file offset, size), sorted by PA.
    segments: Vec<(u64, u64, u64)>,
}

impl ElfCore {
    /// Maps the core at `path`; errors name the file.
    pub fn open(path: &Path) -> std::io::Result<ElfCore> {
        let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {what}", path.display()));
        let file = MappedFile::open(path).map_err(|e| bad(format!("cannot map: {e}")))?;
        let elf = goblin::elf::Elf::parse_header(file.bytes()).map_err(|e| bad(format!("not an ELF file: {e}")))?;
        let ctx = goblin::container::Ctx::new(goblin::container::Container::Big, goblin::container::Endian::Little);
        let phdrs = goblin::elf::ProgramHeader::parse(file.bytes(), elf.e_phoff as usize, elf.e_phnum as usize, ctx).map_err(|e| bad(format!("bad program headers: {e}")))?;
        let mut segments: Vec<(u64, u64, u64)> = phdrs
            .iter()
            .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD)
            .map(|p| (p.p_paddr, p.p_offset, p.p_filesz))
            .collect();
        segments.sort();
        for &(pa, off, size) in &segments {
            if off.checked_add(size).is_none_or(|end| end > file.len as u64) {
                return Err(bad(format!("segment at PA {pa:#x} runs past the end of the file")));
            }
        }
        if segments.is_empty() {
            return Err(bad("no PT_LOAD segment".into()));
        }
        Ok(ElfCore { file, segments })
    }
}

impl GuestMemory for ElfCore {
    fn bytes(&self, pa: PhysAddr, len: usize) -> Result<&[u8], OutsideRam> {
        let at = self.segments.partition_point(|s| s.0 <= pa.0).saturating_sub(1);
        let (start, off, size) = self.segments[at];
        let rel = range_check(pa, len, PhysAddr(start), size).map_err(|e| OutsideRam {
            ram_start: PhysAddr(self.segments[0].0),
            ram_end: PhysAddr(self.segments.last().map(|s| s.0 + s.2).unwrap_or(0)),
            ..e
        })?;
        let from = off as usize + rel;
        Ok(&self.file.bytes()[from..from + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_reads_and_bounds() {
        let mut bytes = vec![0u8; 32];
        bytes[8..16].copy_from_slice(&0x1122_3344_5566_7788u64.to_le_bytes());
        let m = VecMemory { base: PhysAddr(0x4000_0000), bytes };
        assert_eq!(m.read_u64(PhysAddr(0x4000_0008)), Ok(0x1122_3344_5566_7788));
        let e = m.read_u64(PhysAddr(0x4000_0020)).unwrap_err();
        assert_eq!(e.to_string(), "guest PA 0x40000020+0x8 is outside RAM [0x40000000, 0x40000020)");
        assert!(m.read_u64(PhysAddr(0x3fff_fff8)).is_err());
        assert!(m.read_u64(PhysAddr(u64::MAX - 3)).is_err());
    }
}
