//! How the model accounts for each traced call: replayed call by call, applied by a
//! step of the timeline, or made inside another call it replays. A traced call the model
//! accounts for in none of these ways would be ignored silently; the comparison makes it
//! an infrastructure failure naming the function and its caller instead.

use crate::capture::trace::TracedCall;
use crate::timeline::TracedFn;

/// How the model accounts for `call`, or `None` when it does not.
pub fn accounted(call: &TracedCall) -> Option<&'static str> {
    let caller = call.caller.split('+').next().unwrap_or("");
    let from = |prefixes: &[&str]| prefixes.iter().any(|p| caller.starts_with(p));
    match call.function {
        TracedFn::SplitKernelLeafMapping => Some("answered by the model's split gate and split"),
        TracedFn::SetMemoryDecrypted | TracedFn::SetMemoryEncrypted => Some("applied by the model's set_memory_enc_dec"),
        TracedFn::SetMemoryEncDec if from(&["realm_set_memory_"]) => Some("inside set_memory_{en,de}crypted"),
        // The attribute change of a call accounted for below (its own check covers it).
        TracedFn::ChangeMemoryCommon if from(&["set_memory_valid", "__set_memory_enc_dec", "change_memory_common"]) => Some("inside the call that asked for it"),
        // kfence_protect()/kfence_unprotect() (arch/arm64/include/asm/kfence.h): the
        // object pages are synchronised with the pool's state at every checkpoint.
        TracedFn::SetMemoryValid if from(&["kfence_"]) => Some("the KFENCE pool's state, at every checkpoint"),
        // mark_rodata_ro() makes the linear alias of data/bss present-invalid.
        TracedFn::SetMemoryValid if from(&["mark_rodata_ro"]) => Some("the mark_rodata_ro step"),
        TracedFn::LinearMapSplitToPtes => Some("the repaint step (linear_map_maybe_split_to_ptes)"),
        _ => None,
    }
}

/// One line per function and caller the model does not account for, with how many
/// calls; empty when it accounts for every call.
pub fn unaccounted(trace: &[TracedCall]) -> Vec<String> {
    let mut seen: Vec<(TracedFn, String, usize)> = Vec::new();
    for call in trace.iter().filter(|c| accounted(c).is_none()) {
        let caller = call.caller.split('+').next().unwrap_or("").to_string();
        match seen.iter_mut().find(|(f, c, _)| *f == call.function && *c == caller) {
            Some(s) => s.2 += 1,
            None => seen.push((call.function, caller, 1)),
        }
    }
    seen.into_iter().map(|(f, caller, n)| format!("{n} call(s) of {f} from {caller}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux_side::boot_state::ObservedBootState;

    fn call(function: TracedFn, caller: &str) -> TracedCall {
        let state = ObservedBootState { page_alloc_available: true, online_cpus: 1, caps_finalized: false };
        TracedCall { function, args: vec![], ret: None, caller: caller.into(), inlined_into: None, cpu: "p1.1".into(), state, timeline: state, totalram_pages: 0 }
    }

    #[test]
    fn calls_the_model_does_not_replay_are_named() {
        let trace = [
            call(TracedFn::SetMemoryValid, "kfence_protect+0x40"),
            call(TracedFn::ChangeMemoryCommon, "set_memory_valid+0x2c"),
            call(TracedFn::SetMemoryRo, "bpf_prog_lock_ro+0x1c"),
            call(TracedFn::SetMemoryRo, "bpf_prog_lock_ro+0x1c"),
            call(TracedFn::SetMemoryValid, "some_driver+0x8"),
            call(TracedFn::ChangeMemoryCommon, "some_driver+0x10"),
        ];
        assert_eq!(
            unaccounted(&trace),
            vec![
                "2 call(s) of set_memory_ro from bpf_prog_lock_ro".to_string(),
                "1 call(s) of set_memory_valid from some_driver".to_string(),
                "1 call(s) of __change_memory_common from some_driver".to_string()
            ]
        );
        assert!(unaccounted(&trace[..2]).is_empty());
    }
}
