//! The Realm Services Interface call the linear-map code makes when it shares or
//! unshares memory (`rsi_set_memory_range()` of arch/arm64/include/asm/rsi.h, 7.3),
//! behind the [`Rsi`] trait, and a host implementation that records calls and can be
//! told to fail.

#[cfg(any(test, feature = "alloc"))]
use alloc::vec::Vec;

use crate::address::PhysAddr;
use crate::errno::Result;
#[cfg(any(test, feature = "alloc"))]
use crate::errno::Errno;

/// `enum ripas`: the realm IPA state a range is set to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Ripas {
    /// `RSI_RIPAS_EMPTY` (0): shared with the host (`set_memory_decrypted`).
    Empty = 0,
    /// `RSI_RIPAS_RAM` (1): protected (`set_memory_encrypted`).
    Ram = 1,
}

/// The realm firmware as the linear-map code sees it.
pub trait Rsi {
    /// Mirrors `rsi_set_memory_range()` in arch/arm64/include/asm/rsi.h (7.3) with
    /// `RSI_CHANGE_DESTROYED` (the flags of both `rsi_set_memory_range_shared()` and
    /// `rsi_set_memory_range_protected()`): `RSI_IPA_STATE_SET` calls until the whole
    /// of `[start, end)` is in `ripas`. A rejection, a non-zero status or a returned
    /// top outside `[base, end]` is `-EINVAL`.
    fn rsi_set_memory_range(&mut self, start: PhysAddr, end: PhysAddr, ripas: Ripas) -> Result<()>;
}

/// One [`Rsi::rsi_set_memory_range`] call [`HostRsi`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsiCall {
    pub start: PhysAddr,
    pub end: PhysAddr,
    pub ripas: Ripas,
}

/// A host [`Rsi`]: records every call in order; call number `fail_on` (0-based), if
/// set, is answered `-EINVAL`, as a rejected or failed `RSI_IPA_STATE_SET` would be.
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Debug, Default)]
pub struct HostRsi {
    pub calls: Vec<RsiCall>,
    pub fail_on: Option<usize>,
}

#[cfg(any(test, feature = "alloc"))]
impl HostRsi {
    /// Every call succeeds.
    pub fn new() -> HostRsi {
        HostRsi::default()
    }

    /// Call number `n` (0-based) fails with `-EINVAL`.
    pub fn failing_call(n: usize) -> HostRsi {
        HostRsi { calls: Vec::new(), fail_on: Some(n) }
    }
}

#[cfg(any(test, feature = "alloc"))]
impl Rsi for HostRsi {
    fn rsi_set_memory_range(&mut self, start: PhysAddr, end: PhysAddr, ripas: Ripas) -> Result<()> {
        let n = self.calls.len();
        self.calls.push(RsiCall { start, end, ripas });
        if self.fail_on == Some(n) {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}
