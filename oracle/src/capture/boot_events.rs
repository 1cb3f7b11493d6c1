//! The split gate's boot state from the timeline: the boot events that open its windows,
//! seen as events (breakpoints at the kernel functions where each happens), and the state
//! each traced call was made in according to them. The kernel's own variables are read
//! at every call too ([`crate::linux_side::boot_state`]); where the two disagree the
//! kernel has moved a window edge (docs/boot-timeline.md, "Boot state").

use crate::linux_side::boot_state::ObservedBootState;

/// A boot event that changes what the split gate sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BootEvent {
    /// `mem_init()` is entered: its first statement sets `page_alloc_available`
    /// (arch/arm64/mm/init.c:385).
    PageAllocAvailable,
    /// `set_cpu_online(cpu, true)` (kernel/cpu.c:3117): the boot CPU in `boot_cpu_init()`,
    /// each secondary in `secondary_start_kernel()` (arch/arm64/kernel/smp.c:258) once
    /// it has booted, which is when `__num_online_cpus` counts it.
    CpuOnline,
    /// `linear_map_maybe_split_to_ptes()` is entered (arch/arm64/kernel/cpufeature.c:4044),
    /// right after `setup_system_capabilities()` finalised the system capabilities.
    CapsFinal,
}

impl BootEvent {
    pub const ALL: [BootEvent; 3] = [BootEvent::PageAllocAvailable, BootEvent::CpuOnline, BootEvent::CapsFinal];

    /// The kernel function whose entry is the event.
    pub fn function(self) -> &'static str {
        match self {
            BootEvent::PageAllocAvailable => "mem_init",
            BootEvent::CpuOnline => "set_cpu_online",
            BootEvent::CapsFinal => "linear_map_maybe_split_to_ptes",
        }
    }

    /// The kernel function whose entry is the event on a kernel with `rules`: 6.12 has
    /// no `linear_map_maybe_split_to_ptes()`; its capabilities are final from the return
    /// of `setup_system_features()`, and the first function entered after it is
    /// `mark_linear_text_alias_ro()` (arch/arm64/kernel/smp.c:450-452 in 6.12).
    pub fn function_on(self, rules: rust_impl::version::Rules) -> &'static str {
        match (rules, self) {
            (rust_impl::version::Rules::V6_12, BootEvent::CapsFinal) => "mark_linear_text_alias_ro",
            _ => self.function(),
        }
    }

    /// The kernel variable the event sets, as the boot state names it.
    pub fn variable(self) -> &'static str {
        match self {
            BootEvent::PageAllocAvailable => "page_alloc_available",
            BootEvent::CpuOnline => "online_cpus",
            BootEvent::CapsFinal => "caps_finalized",
        }
    }
}

/// One event as it happened: `mark` traced calls had been made before it; `cpu` is the
/// CPU a `CpuOnline` event brings online.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventAt {
    pub event: BootEvent,
    pub mark: usize,
    pub cpu: Option<u64>,
}

/// The boot state the timeline gives call `index`: each event that happened before it
/// has taken effect. A component whose event the build does not let us see
/// (`unobserved`) is the kernel's own value, `observed`.
pub fn timeline_state(events: &[EventAt], unobserved: &[BootEvent], index: usize, observed: ObservedBootState) -> ObservedBootState {
    let before = |e: BootEvent| events.iter().filter(move |x| x.event == e && x.mark <= index);
    let mut cpus: Vec<u64> = before(BootEvent::CpuOnline).filter_map(|x| x.cpu).collect();
    cpus.sort_unstable();
    cpus.dedup();
    let mut state = ObservedBootState {
        page_alloc_available: before(BootEvent::PageAllocAvailable).next().is_some(),
        online_cpus: cpus.len() as u32,
        caps_finalized: before(BootEvent::CapsFinal).next().is_some(),
    };
    for e in unobserved {
        match e {
            BootEvent::PageAllocAvailable => state.page_alloc_available = observed.page_alloc_available,
            BootEvent::CpuOnline => state.online_cpus = observed.online_cpus,
            BootEvent::CapsFinal => state.caps_finalized = observed.caps_finalized,
        }
    }
    state
}

/// Where the kernel's variables at a call disagree with the timeline: one
/// `variable: kernel X, timeline Y` per component.
pub fn disagreement(kernel: &ObservedBootState, timeline: &ObservedBootState) -> Vec<String> {
    let mut out = Vec::new();
    if kernel.page_alloc_available != timeline.page_alloc_available {
        out.push(format!("page_alloc_available: kernel {}, timeline {}", kernel.page_alloc_available as u8, timeline.page_alloc_available as u8));
    }
    if kernel.online_cpus != timeline.online_cpus {
        out.push(format!("online_cpus: kernel {}, timeline {}", kernel.online_cpus, timeline.online_cpus));
    }
    if kernel.caps_finalized != timeline.caps_finalized {
        out.push(format!("caps_finalized: kernel {}, timeline {}", kernel.caps_finalized as u8, timeline.caps_finalized as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: ObservedBootState = ObservedBootState { page_alloc_available: false, online_cpus: 0, caps_finalized: false };

    #[test]
    fn an_event_counts_for_the_calls_after_it() {
        let at = |event, mark, cpu| EventAt { event, mark, cpu };
        let events = [
            at(BootEvent::CpuOnline, 0, Some(0)),
            at(BootEvent::PageAllocAvailable, 2, None),
            at(BootEvent::CpuOnline, 5, Some(1)),
            // The same CPU again (set_cpu_online on an online CPU changes nothing).
            at(BootEvent::CpuOnline, 6, Some(1)),
            at(BootEvent::CapsFinal, 7, None),
        ];
        let s = |i| timeline_state(&events, &[], i, NONE);
        assert_eq!(s(1), ObservedBootState { page_alloc_available: false, online_cpus: 1, caps_finalized: false });
        assert_eq!(s(2), ObservedBootState { page_alloc_available: true, online_cpus: 1, caps_finalized: false });
        assert_eq!(s(6), ObservedBootState { page_alloc_available: true, online_cpus: 2, caps_finalized: false });
        assert_eq!(s(7), ObservedBootState { page_alloc_available: true, online_cpus: 2, caps_finalized: true });
        // An event the build hides: the kernel's own value stands in.
        let kernel = ObservedBootState { page_alloc_available: true, online_cpus: 1, caps_finalized: false };
        assert_eq!(timeline_state(&events, &[BootEvent::PageAllocAvailable], 1, kernel).page_alloc_available, true);
        assert_eq!(disagreement(&kernel, &s(1)), vec!["page_alloc_available: kernel 1, timeline 0".to_string()]);
        assert!(disagreement(&s(3), &s(3)).is_empty());
    }
}
