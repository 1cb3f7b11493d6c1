//! The call trace: every call of the kernel's linear-map mutation entry points during
//! boot ([`TracedFn`]), with arguments, return value, caller, CPU and the boot phase at
//! the time. An observation only: the model's answers live beside it, in the replay.

use crate::linux_side::boot_state::ObservedBootState;
use crate::timeline::TracedFn;

/// One traced call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedCall {
    pub function: TracedFn,
    /// Each recorded argument; `None` where this build's DWARF does not say where an
    /// inlined instance keeps it at its entry.
    pub args: Vec<Option<u64>>,
    /// Return value as the C `int` it is; `None` if the boot ended before it returned,
    /// or the call was inlined (an inlined instance has no return value to read).
    pub ret: Option<i32>,
    /// `function+offset` of the return address (of the inlined code, for an inlined
    /// instance).
    pub caller: String,
    /// The function this call's code was inlined into, if it was.
    pub inlined_into: Option<String>,
    /// The gdbstub thread (vCPU) that made the call.
    pub cpu: String,
    /// The kernel's own boot-state variables at the call.
    pub state: ObservedBootState,
    /// The boot state the timeline's events give the call (what the model decides
    /// with; [`crate::capture::boot_events`]).
    pub timeline: ObservedBootState,
    /// `_totalram_pages` at the call: pages the page allocator manages (allocator
    /// state; sizes the atomic DMA pools, kernel/dma/pool.c:223-227).
    pub totalram_pages: u64,
}

impl TracedCall {
    /// The arguments as text, `?` for one this build does not locate.
    pub fn args_text(&self) -> Vec<String> {
        self.args.iter().map(|a| a.map_or_else(|| "?".to_string(), |v| format!("{v:#x}"))).collect()
    }
    /// The first two arguments, if both are known.
    pub fn first_two(&self) -> Option<(u64, u64)> {
        Some((self.args.first().copied().flatten()?, self.args.get(1).copied().flatten()?))
    }
    /// What is returned, in words: the value, or why there is none.
    pub fn ret_text(&self, name: impl Fn(i32) -> String) -> String {
        match (self.ret, &self.inlined_into) {
            (Some(r), _) => name(r),
            (None, Some(into)) => format!("(inlined into {into}: no return value)"),
            (None, None) => "(no return)".into(),
        }
    }
}
