//! Memory, the UART and locks on the hardware. The monitor runs with its MMU off, so a
//! physical address is a pointer; every access is naturally aligned (the library keeps
//! to that, and the target forbids unaligned accesses).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use lmo_monitor::layout::UART_PA;
use lmo_monitor::mem::PhysMem;

/// Guest physical memory, identity-addressed.
pub struct RawMem;

impl PhysMem for RawMem {
    fn read_u64(&self, pa: u64) -> u64 {
        // SAFETY: the caller names RAM the monitor owns or the realm's RAM, 8-aligned.
        unsafe { core::ptr::read_volatile(pa as *const u64) }
    }
    fn write_u64(&mut self, pa: u64, value: u64) {
        // SAFETY: as for read_u64.
        unsafe { core::ptr::write_volatile(pa as *mut u64, value) }
    }
    fn read_u8(&self, pa: u64) -> u8 {
        // SAFETY: as for read_u64.
        unsafe { core::ptr::read_volatile(pa as *const u8) }
    }
    fn write_u8(&mut self, pa: u64, value: u8) {
        // SAFETY: as for read_u64.
        unsafe { core::ptr::write_volatile(pa as *mut u8, value) }
    }
    fn read_u32(&self, pa: u64) -> u32 {
        // SAFETY: as for read_u64, 4-aligned.
        unsafe { core::ptr::read_volatile(pa as *const u32) }
    }
    fn fetch_add_u32(&mut self, pa: u64, value: u32) -> u32 {
        // SAFETY: a 4-aligned u32 in the monitor's own memory, only ever used atomically.
        unsafe { AtomicU32::from_ptr(pa as *mut u32) }.fetch_add(value, Ordering::AcqRel)
    }
    fn store_release_u32(&mut self, pa: u64, value: u32) {
        // SAFETY: as for fetch_add_u32.
        unsafe { AtomicU32::from_ptr(pa as *mut u32) }.store(value, Ordering::Release)
    }
}

/// A spinning lock around monitor state shared by the CPUs.
pub struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: access to `value` is serialised by `locked`.
unsafe impl<T: Send> Sync for SpinLock<T> {}

pub struct Guard<'a, T> {
    lock: &'a SpinLock<T>,
}

impl<T> SpinLock<T> {
    pub const fn new(value: T) -> SpinLock<T> {
        SpinLock { locked: AtomicBool::new(false), value: UnsafeCell::new(value) }
    }

    pub fn lock(&self) -> Guard<'_, T> {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        Guard { lock: self }
    }
}

impl<T> core::ops::Deref for Guard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> core::ops::DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.lock.locked.store(false, Ordering::Release);
    }
}

static UART: SpinLock<()> = SpinLock::new(());

/// Writes `s` to the PL011 (banner and panic messages only: Linux owns the console).
pub fn uart_write(s: &[u8]) {
    let _g = UART.lock();
    for &b in s {
        if b == b'\n' {
            put(b'\r');
        }
        put(b);
    }
}

fn put(b: u8) {
    const FR_TXFF: u32 = 1 << 5;
    // SAFETY: PL011 registers: FR at +0x18 (read), DR at +0 (write).
    unsafe {
        while core::ptr::read_volatile((UART_PA + 0x18) as *const u32) & FR_TXFF != 0 {}
        core::ptr::write_volatile(UART_PA as *mut u32, b as u32);
    }
}

/// A fixed buffer that `core::fmt` can write into (messages for the log and the UART).
pub struct MsgBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> MsgBuf<N> {
    pub const fn new() -> Self {
        MsgBuf { buf: [0; N], len: 0 }
    }
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> core::fmt::Write for MsgBuf<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(N - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}
