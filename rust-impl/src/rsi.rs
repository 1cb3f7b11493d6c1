//! The Realm Services Interface call the linear-map code makes when it shares or
//! unshares memory (`rsi_set_memory_range()` of arch/arm64/include/asm/rsi.h, 7.3),
//! behind the [`Rsi`] trait, and a host implementation that records what it changed,
//! answers as a recorded host did (partial progress, refusals), and can be told to fail.

#[cfg(any(test, feature = "alloc"))]
use alloc::vec::Vec;

use crate::address::PhysAddr;
use crate::errno::{Errno, Result};

/// `enum ripas`: the realm IPA state a range is set to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Ripas {
    /// `RSI_RIPAS_EMPTY` (0): shared with the host (`set_memory_decrypted`).
    Empty = 0,
    /// `RSI_RIPAS_RAM` (1): protected (`set_memory_encrypted`).
    Ram = 1,
}

/// What one `RSI_IPA_STATE_SET` came back with: the SMC's status (x0), the top of the
/// range the host changed (x1) and whether it accepted the request (x2 == RSI_ACCEPT).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateSetAnswer {
    pub status: u64,
    pub top: PhysAddr,
    pub accepted: bool,
}

/// The realm firmware as the linear-map code sees it.
pub trait Rsi {
    /// One `RSI_IPA_STATE_SET` of `[start, end)` to `ripas` with `RSI_CHANGE_DESTROYED`
    /// (the flags of both `rsi_set_memory_range_shared()` and
    /// `rsi_set_memory_range_protected()`): `rsi_set_addr_range_state()` of
    /// arch/arm64/include/asm/rsi_cmds.h without the conversion of a refusal to -EPERM.
    fn rsi_set_addr_range_state(&mut self, start: PhysAddr, end: PhysAddr, ripas: Ripas) -> StateSetAnswer;

    /// Mirrors `rsi_set_memory_range()` (arch/arm64/include/asm/rsi.h:26, 7.3):
    /// `RSI_IPA_STATE_SET` until the whole of `[start, end)` is in `ripas`, from where the
    /// host's progress left off. A refusal (rsi_cmds.h: -EPERM), a non-zero status or a
    /// returned top outside `[start, end]` is `-EINVAL`.
    fn rsi_set_memory_range(&mut self, start: PhysAddr, end: PhysAddr, ripas: Ripas) -> Result<()> {
        set_memory_range(self, start, end, ripas)
    }
}

/// The loop of `rsi_set_memory_range()` (rsi.h:32-37) over any [`Rsi`].
fn set_memory_range<R: Rsi + ?Sized>(rsi: &mut R, mut start: PhysAddr, end: PhysAddr, ripas: Ripas) -> Result<()> {
    while start != end {
        let a = rsi.rsi_set_addr_range_state(start, end, ripas);
        if !a.accepted || a.status != 0 || a.top < start || a.top > end {
            return Err(Errno::EINVAL);
        }
        start = a.top;
    }
    Ok(())
}

/// A range whose RIPAS a host changed (all of one `rsi_set_memory_range()` when the host
/// accepts it whole; the part it did, call by call, otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RsiCall {
    pub start: PhysAddr,
    pub end: PhysAddr,
    pub ripas: Ripas,
}

/// One `RSI_IPA_STATE_SET` as a host answered it: the request and the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostAnswer {
    pub base: PhysAddr,
    pub top: PhysAddr,
    pub ripas: Ripas,
    pub answer: StateSetAnswer,
}

/// A host [`Rsi`]. It answers each request as the host of a recorded boot answered the
/// same request (the first unused recorded answer to the same base, top and RIPAS:
/// partial progress, refusals), and any other request by accepting it whole. It records
/// every range whose RIPAS it changed, in order. Range call number `fail_on` (0-based,
/// counting `rsi_set_memory_range()` calls), if set, is answered with a failed status.
#[cfg(any(test, feature = "alloc"))]
#[derive(Clone, Debug, Default)]
pub struct HostRsi {
    pub calls: Vec<RsiCall>,
    pub fail_on: Option<usize>,
    /// Recorded answers; `None` once used.
    pub recorded: Vec<Option<HostAnswer>>,
    ranges: usize,
}

#[cfg(any(test, feature = "alloc"))]
impl HostRsi {
    /// Every call succeeds.
    pub fn new() -> HostRsi {
        HostRsi::default()
    }

    /// Range call number `n` (0-based) fails with `-EINVAL`.
    pub fn failing_call(n: usize) -> HostRsi {
        HostRsi { fail_on: Some(n), ..HostRsi::default() }
    }

    /// Answers as a host answered `recorded` (in the order it did).
    pub fn replaying(recorded: Vec<HostAnswer>) -> HostRsi {
        HostRsi { recorded: recorded.into_iter().map(Some).collect(), ..HostRsi::default() }
    }
}

#[cfg(any(test, feature = "alloc"))]
impl Rsi for HostRsi {
    fn rsi_set_addr_range_state(&mut self, start: PhysAddr, end: PhysAddr, ripas: Ripas) -> StateSetAnswer {
        let answer = match self.recorded.iter_mut().find(|r| r.is_some_and(|r| r.base == start && r.top == end && r.ripas == ripas)) {
            Some(slot) => slot.take().map(|r| r.answer),
            None => None,
        };
        let answer = answer.unwrap_or(StateSetAnswer { status: 0, top: end, accepted: true });
        // The part the host did, whatever it answered (a refusal may follow progress).
        if answer.status == 0 && answer.top > start && answer.top <= end {
            self.calls.push(RsiCall { start, end: answer.top, ripas });
        }
        answer
    }

    fn rsi_set_memory_range(&mut self, start: PhysAddr, end: PhysAddr, ripas: Ripas) -> Result<()> {
        let n = self.ranges;
        self.ranges += 1;
        if self.fail_on == Some(n) {
            self.calls.push(RsiCall { start, end, ripas });
            return Err(Errno::EINVAL);
        }
        set_memory_range(self, start, end, ripas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn answer(base: u64, top: u64, new_top: u64, accepted: bool) -> HostAnswer {
        HostAnswer { base: PhysAddr(base), top: PhysAddr(top), ripas: Ripas::Empty, answer: StateSetAnswer { status: 0, top: PhysAddr(new_top), accepted } }
    }

    #[test]
    fn partial_progress_is_retried_from_where_the_host_stopped() {
        let mut h = HostRsi::replaying(vec![answer(0x1000, 0x9000, 0x3000, true), answer(0x3000, 0x9000, 0x9000, true)]);
        assert_eq!(h.rsi_set_memory_range(PhysAddr(0x1000), PhysAddr(0x9000), Ripas::Empty), Ok(()));
        assert_eq!(h.calls.iter().map(|c| (c.start.0, c.end.0)).collect::<Vec<_>>(), [(0x1000, 0x3000), (0x3000, 0x9000)]);
    }

    #[test]
    fn a_refusal_after_progress_fails_and_keeps_the_progress() {
        let mut h = HostRsi::replaying(vec![answer(0x1000, 0x9000, 0x2000, false)]);
        assert_eq!(h.rsi_set_memory_range(PhysAddr(0x1000), PhysAddr(0x9000), Ripas::Empty), Err(Errno::EINVAL));
        assert_eq!(h.calls, [RsiCall { start: PhysAddr(0x1000), end: PhysAddr(0x2000), ripas: Ripas::Empty }]);
        // An unrecorded request is accepted whole.
        assert_eq!(h.rsi_set_memory_range(PhysAddr(0xa000), PhysAddr(0xb000), Ripas::Ram), Ok(()));
        // A top the host cannot have returned is -EINVAL, as in rsi_set_memory_range().
        let mut h = HostRsi::replaying(vec![answer(0x1000, 0x9000, 0xa000, true)]);
        assert_eq!(h.rsi_set_memory_range(PhysAddr(0x1000), PhysAddr(0x9000), Ripas::Empty), Err(Errno::EINVAL));
    }
}
