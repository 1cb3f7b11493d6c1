//! Physical memory as the monitor's logic sees it: the monitor runs with its MMU off, so
//! a physical address is a pointer; on the host a `Vec` stands in.

/// Reads and writes of guest physical memory at naturally aligned addresses.
pub trait PhysMem {
    fn read_u64(&self, pa: u64) -> u64;
    fn write_u64(&mut self, pa: u64, value: u64);
    fn read_u8(&self, pa: u64) -> u8;
    fn write_u8(&mut self, pa: u64, value: u8);
    /// Adds `value` to the `u32` at `pa` atomically (across CPUs) and returns the old value.
    fn fetch_add_u32(&mut self, pa: u64, value: u32) -> u32;
    /// Stores a `u32` with release ordering: every earlier write is visible first.
    fn store_release_u32(&mut self, pa: u64, value: u32);
    fn read_u32(&self, pa: u64) -> u32;

    fn write_bytes(&mut self, pa: u64, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            self.write_u8(pa + i as u64, *b);
        }
    }

    fn zero(&mut self, pa: u64, len: u64) {
        let mut a = pa;
        while a < pa + len {
            if a % 8 == 0 && a + 8 <= pa + len {
                self.write_u64(a, 0);
                a += 8;
            } else {
                self.write_u8(a, 0);
                a += 1;
            }
        }
    }
}

/// Host stand-in: sparse memory, zero where never written.
#[cfg(test)]
#[derive(Default)]
pub struct VecMem {
    pages: std::collections::HashMap<u64, std::boxed::Box<[u8; 4096]>>,
}

#[cfg(test)]
impl VecMem {
    pub fn new() -> VecMem {
        VecMem::default()
    }

    /// A copy of `len` bytes from `pa`.
    pub fn bytes(&self, pa: u64, len: usize) -> std::vec::Vec<u8> {
        (0..len as u64).map(|i| self.read_u8(pa + i)).collect()
    }
}

#[cfg(test)]
impl PhysMem for VecMem {
    fn read_u8(&self, pa: u64) -> u8 {
        self.pages.get(&(pa >> 12)).map_or(0, |p| p[(pa & 0xfff) as usize])
    }
    fn write_u8(&mut self, pa: u64, value: u8) {
        self.pages.entry(pa >> 12).or_insert_with(|| std::boxed::Box::new([0; 4096]))[(pa & 0xfff) as usize] = value;
    }
    fn read_u64(&self, pa: u64) -> u64 {
        assert_eq!(pa % 8, 0, "unaligned read at {pa:#x}");
        u64::from_le_bytes(core::array::from_fn(|i| self.read_u8(pa + i as u64)))
    }
    fn write_u64(&mut self, pa: u64, value: u64) {
        assert_eq!(pa % 8, 0, "unaligned write at {pa:#x}");
        for (i, b) in value.to_le_bytes().iter().enumerate() {
            self.write_u8(pa + i as u64, *b);
        }
    }
    fn read_u32(&self, pa: u64) -> u32 {
        u32::from_le_bytes(core::array::from_fn(|i| self.read_u8(pa + i as u64)))
    }
    fn store_release_u32(&mut self, pa: u64, value: u32) {
        for (i, b) in value.to_le_bytes().iter().enumerate() {
            self.write_u8(pa + i as u64, *b);
        }
    }
    fn fetch_add_u32(&mut self, pa: u64, value: u32) -> u32 {
        let old = self.read_u32(pa);
        self.store_release_u32(pa, old.wrapping_add(value));
        old
    }
}
