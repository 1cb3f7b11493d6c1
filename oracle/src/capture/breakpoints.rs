//! One registry of breakpoints that knows, for each address, every purpose that set it:
//! removing one purpose never takes out a breakpoint another still needs, and the set of
//! addresses the debugger should hold is always the registry's.

use std::collections::BTreeMap;

use crate::capture::boot_events::BootEvent;
use crate::capture::stop_point::StopPoint;
use crate::linux_side::code_sites::{CodeSite, Exit};
use crate::timeline::TracedFn;

/// Why a breakpoint is set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A traced call returns here with the stack pointer `sp` it was called with;
    /// `index` is its place in the trace. The stack pointer names the task (its kernel
    /// stack), which may return on another vCPU than it called from: a call that sleeps
    /// (a mutex in the split path) can migrate.
    TraceReturn { sp: u64, index: usize },
    /// A boot event that changes the split gate's state.
    BootEvent(BootEvent),
    /// A traced function's entry, at one of its sites in this build.
    Traced(TracedFn, CodeSite),
    /// The kernel's ptdump walk starts: from here only the walking vCPU runs.
    PtdumpWalkStart,
    /// The walk proper starts, its locks taken (`walk_page_range_debug`): from here to
    /// the walk's end the walking vCPU runs with interrupts masked.
    PtdumpWalkReads,
    /// The kernel's ptdump walk ends (`note_page_flush`): the end-of-boot checkpoint.
    PtdumpWalkEnd,
    /// `cpu_do_idle`: a vCPU that reaches it, while the walk waits for the others to go
    /// idle, is held there.
    IdleHold,
    /// Read the Linux side here (a function entry or a source line), once.
    Stop(StopPoint),
    /// The entry of a function whose return is the stop point: arm a breakpoint at the
    /// return address (a call) or the ends of the inlined instance's code.
    StopAtReturn(StopPoint, Exit),
    /// The return address armed for a stop point.
    Returned(StopPoint),
}

impl Purpose {
    /// The order purposes met at one address are handled in: a call returning before the
    /// next one starts, the ptdump walk's bounds before checkpoints.
    fn rank(&self) -> u8 {
        match self {
            Purpose::TraceReturn { .. } => 0,
            Purpose::BootEvent(_) => 1,
            Purpose::Traced(..) => 1,
            Purpose::PtdumpWalkStart | Purpose::PtdumpWalkReads => 2,
            Purpose::PtdumpWalkEnd => 3,
            Purpose::IdleHold => 3,
            Purpose::Stop(_) | Purpose::StopAtReturn(..) => 4,
            Purpose::Returned(_) => 5,
        }
    }
}

/// Address → purposes.
#[derive(Clone, Debug, Default)]
pub struct Breakpoints {
    at: BTreeMap<u64, Vec<Purpose>>,
}

impl Breakpoints {
    pub fn add(&mut self, va: u64, purpose: Purpose) {
        self.at.entry(va).or_default().push(purpose);
    }

    /// The purposes at `va`, in the order they are handled.
    pub fn purposes(&self, va: u64) -> Vec<Purpose> {
        let mut p = self.at.get(&va).cloned().unwrap_or_default();
        p.sort_by_key(Purpose::rank);
        p
    }

    /// Removes the first purpose at `va` that `matches`; true if one was removed.
    pub fn remove_one(&mut self, va: u64, matches: impl Fn(&Purpose) -> bool) -> bool {
        let Some(list) = self.at.get_mut(&va) else { return false };
        let Some(pos) = list.iter().position(matches) else { return false };
        list.remove(pos);
        if list.is_empty() {
            self.at.remove(&va);
        }
        true
    }

    /// Removes every purpose, at any address, that `matches`.
    pub fn remove_all(&mut self, matches: impl Fn(&Purpose) -> bool) {
        for list in self.at.values_mut() {
            list.retain(|p| !matches(p));
        }
        self.at.retain(|_, l| !l.is_empty());
    }

    /// Every address that has a purpose.
    pub fn addresses(&self) -> Vec<u64> {
        self.at.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeline::Checkpoint;

    #[test]
    fn an_address_stays_while_any_purpose_needs_it() {
        let mut b = Breakpoints::default();
        let cp = StopPoint::Checkpoint(Checkpoint::MemInit);
        let site = CodeSite { entry: 0x10, unit: String::new(), exit: Exit::Call, params: vec![] };
        b.add(0x10, Purpose::Traced(TracedFn::SetMemoryValid, site.clone()));
        b.add(0x10, Purpose::Returned(cp.clone()));
        b.add(0x20, Purpose::Stop(cp.clone()));
        b.add(0x30, Purpose::Stop(cp.clone()));
        assert_eq!(b.purposes(0x10)[0], Purpose::Traced(TracedFn::SetMemoryValid, site));
        b.remove_all(|p| matches!(p, Purpose::Stop(s) | Purpose::Returned(s) if *s == cp));
        assert_eq!(b.addresses(), vec![0x10]);
        assert!(b.remove_one(0x10, |p| matches!(p, Purpose::Traced(..))));
        assert!(b.addresses().is_empty());
        assert!(!b.remove_one(0x10, |_| true));
    }
}
