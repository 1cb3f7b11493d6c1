//! The call trace: every call of the kernel's linear-map mutation entry points during
//! boot ([`TracedFn`]), with arguments, return value, caller, CPU and the boot phase at
//! the time. An observation only: the model's answers live beside it, in the replay.

use crate::linux_side::boot_state::ObservedBootState;
use crate::timeline::TracedFn;

/// One traced call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedCall {
    pub function: TracedFn,
    pub args: Vec<u64>,
    /// Return value as the C `int` it is; `None` if the boot ended before it returned.
    pub ret: Option<i32>,
    /// `function+offset` of the return address.
    pub caller: String,
    /// The gdbstub thread (vCPU) that made the call.
    pub cpu: String,
    pub state: ObservedBootState,
}
