//! `oracle repro` on the reported-bug entries of the corpus and `oracle bisect` over the
//! revert of the realm split fix, on the real kernel in real QEMU.

mod common;

use oracle::compare::repro::{exit_code, repro};
use oracle::report::repro::report;
use oracle::timeline::TracedFn;

fn entry(name: &str) -> std::path::PathBuf {
    common::corpus().join("reported").join(format!("{name}.json"))
}

#[test]
fn the_realm_its_bug_reproduces_and_the_fix_matches_the_model() {
    let r = repro(&entry("realm-its-split-before-caps")).unwrap_or_else(|e| panic!("{e:#}"));
    let report = report(&r);
    assert!(r.reproduced(), "{report}");
    assert_eq!(exit_code(std::slice::from_ref(&r)), 0);
    let buggy = &r.runs[0];
    assert_eq!(buggy.run.name, "buggy");
    // The swiotlb pool and the ITS table both fail to be shared.
    let trace = &buggy.outcome.capture.as_ref().unwrap().trace;
    let failed: Vec<&str> = trace.iter().filter(|t| t.function == TracedFn::SetMemoryDecrypted && t.ret == Some(-22)).map(|t| t.caller.as_str()).collect();
    assert!(failed.iter().any(|c| c.starts_with("swiotlb_update_mem_attributes")), "{failed:?}");
    assert!(failed.iter().any(|c| c.starts_with("its_alloc_pages_node")), "{failed:?}");
    for text in ["Reported-by: Jinjiang Tu", "== buggy: linux-source-7.3 + revert-realm-split-fix ==", "ITS: No ITS available", "MODEL RETURNS -EBUSY", "== fixed: linux-source-7.3 ==", "the linear map matches the model at every checkpoint", "realm-its-split-before-caps: reproduced"] {
        assert!(report.contains(text), "{text:?} missing from:\n{report}");
    }
}

#[test]
fn realm_findings_reproduce_as_recorded() {
    for name in ["realm-rodata-noalias-no-bbml3", "realm-rodata-off-no-bbml3", "realm-rodata-noalias-bbml3"] {
        let r = repro(&entry(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert!(r.reproduced(), "{}", report(&r));
        assert!(report(&r).contains("software IO TLB: Failed to decrypt default memory pool, disabling it"));
    }
}

/// A moved window edge is caught by the boot timeline, not only by the kernel's WARN:
/// the swiotlb share is made while the kernel's `page_alloc_available` is still false,
/// which the timeline (mem_init() entered) says it is not; the model, deciding from the
/// timeline, shares the pool the gate refused. On 7.3 every call agrees.
#[test]
fn a_moved_window_edge_is_a_boot_state_divergence() {
    let r = repro(&entry("late-page-alloc-available")).unwrap_or_else(|e| panic!("{e:#}"));
    let report = report(&r);
    assert!(r.reproduced(), "{report}");
    let moved = &r.runs[0].outcome;
    let calls = moved.calls();
    let share = calls.iter().find(|c| c.call.function == TracedFn::SetMemoryDecrypted).unwrap();
    assert!(share.call.caller.starts_with("swiotlb_update_mem_attributes"), "{}", share.call.caller);
    assert!(!share.call.state.page_alloc_available && share.call.timeline.page_alloc_available);
    assert_eq!(share.boot_state_disagreement(), vec!["page_alloc_available: kernel 0, timeline 1".to_string()]);
    assert_eq!((share.call.ret, share.model_ret), (Some(-16), Some(0)));
    // Only the calls before the variable is set disagree.
    assert!(calls.iter().skip_while(|c| !c.boot_state_disagreement().is_empty()).all(|c| c.boot_state_disagreement().is_empty()));
    assert!(report.contains("BOOT STATE NOT THE TIMELINE'S (page_alloc_available: kernel 0, timeline 1)  MODEL RETURNS 0"), "{report}");
    assert!(r.runs[1].outcome.calls().iter().all(|c| c.boot_state_disagreement().is_empty()));
}

/// A realm kernel that maps a decrypted range back without the shared bit dies at its
/// next access to it: a kernel outcome (not an infrastructure failure) reported with the
/// panic, the last checkpoint, the calls before it and the monitor's stage-2 fault.
#[test]
fn a_kernel_that_forgets_the_shared_bit_is_a_kernel_failure_with_the_monitors_fault() {
    let r = repro(&entry("enc-dec-forgets-shared-bit")).unwrap_or_else(|e| panic!("{e:#}"));
    let report = report(&r);
    assert!(r.reproduced(), "{report}");
    let forgets = &r.runs[0].outcome;
    let oracle::compare::Verdict::KernelFailure(why) = &forgets.verdict else { panic!("{report}") };
    assert!(why.contains("Attempted to kill the idle task!") && why.contains("last checkpoint reached: mem-init"), "{why}");
    assert!(why.contains("monitor: 1 stage-2 fault(s)") && why.contains("stage-2 fault at IPA 0x80860000"), "{why}");
    assert!(!forgets.calls().is_empty() && report.contains("calls traced before it:"), "{report}");
}

/// A realm caller that shares the wrong memory leaves maps and RSI log matching the calls
/// it made; the caller model catches it: half the swiotlb pool, and LPI pending tables
/// the redistributors are told about that were never shared (read from GICR_PENDBASER).
/// On 7.3 the same boots agree with the caller model.
#[test]
fn callers_that_share_the_wrong_memory_are_sharing_divergences() {
    for (name, texts) in [
        ("swiotlb-shares-half", vec!["sharing: the swiotlb default pool (PA", "was not shared whole by swiotlb_update_mem_attributes: only call #0 set_memory_decrypted("]),
        ("its-pending-tables-private", vec!["sharing: GICR_PENDBASER of redistributor 1 (LPI pending) at PA", "the device reads it, but it is RIPAS RAM", "was never shared: the model expects its_alloc_pages_node to share it"]),
    ] {
        let r = repro(&entry(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        let report = report(&r);
        assert!(r.reproduced(), "{report}");
        let wrong = &r.runs[0].outcome;
        // Only the caller model sees it: the maps and the RSI log agree with the calls.
        assert!(wrong.divergences().next().is_none(), "{report}");
        assert!(wrong.checkpoints.iter().all(|c| c.rsi_mismatches.is_empty()), "{report}");
        assert!(wrong.checkpoints.iter().any(|c| !c.sharing.is_empty()));
        assert_eq!(wrong.verdict, oracle::compare::Verdict::UnexpectedDivergence);
        for text in texts {
            assert!(report.contains(text), "{text:?} missing from:\n{report}");
        }
        let released = &r.runs[1].outcome;
        assert!(released.checkpoints.iter().all(|c| c.sharing.is_empty()), "{report}");
        assert!(released.checkpoints.iter().any(|c| c.checkpoint == oracle::timeline::Checkpoint::EndOfBoot));
    }
}

/// 15bfba1ad77f, reverted on 7.3: a realm with BBML3 CPUs and rodata=full shares the
/// 2 MiB swiotlb pool, one PMD block, in two passes; with the old walk the second pass
/// skips the now-invalid block and the pool stays unmapped. 7.3 matches the model.
#[test]
fn an_invalid_block_left_invalid_after_a_share_is_a_presence_divergence() {
    use oracle::diff_class::{DiffClass, Side};
    let r = repro(&entry("invalid-large-leaf")).unwrap_or_else(|e| panic!("{e:#}"));
    let report = report(&r);
    assert!(r.reproduced(), "{report}");
    let buggy = &r.runs[0].outcome;
    let pool = buggy.capture.as_ref().unwrap().side(oracle::timeline::Checkpoint::MemInit).unwrap().swiotlb.unwrap();
    let divs: Vec<_> = buggy.divergences().collect();
    assert!(!divs.is_empty() && divs.iter().all(|d| d.classes == [DiffClass::Presence] && d.side() == Some(Side::ModelOnly)), "{report}");
    // Exactly the pool's block, at each checkpoint from mem-init on.
    for d in &divs {
        assert_eq!(d.end.0 - d.start.0, pool.end.0 - pool.start.0, "{report}");
    }
    assert!(report.contains("Linux has PMD blocks (present-invalid) (shared)"), "{report}");
}

/// 7ace06a01efa, reverted on 7.3: a no-map carve-out that is not page-aligned (written
/// into Linux's device tree from `machine.reserved_memory`) gets the pages holding its
/// ends mapped. Exactly those two pages, on Linux's side only; 7.3 matches.
#[test]
fn no_map_boundary_pages_mapped_without_the_inward_rounding() {
    use oracle::diff_class::{DiffClass, Side};
    let r = repro(&entry("nomap-boundary-pages")).unwrap_or_else(|e| panic!("{e:#}"));
    let report = report(&r);
    assert!(r.reproduced(), "{report}");
    let buggy = &r.runs[0].outcome;
    let side = buggy.capture.as_ref().unwrap().side(oracle::timeline::Checkpoint::AfterMapMem).unwrap();
    let nomap: Vec<(u64, u64)> = side.memblock_memory.iter().filter(|m| m.flags & rust_impl::map_mem::MEMBLOCK_NOMAP != 0).map(|m| (m.base.0, m.base.0 + m.size)).collect();
    assert_eq!(nomap, [(0x9000_0800, 0x9020_0800)], "the carve-out reached memblock at byte precision");
    for cp in &buggy.checkpoints {
        let got: Vec<(u64, u64, Option<Side>)> = cp.divergences.iter().map(|d| (d.start.0 - side.view.page_offset.0 + 0x8000_0000, d.end.0 - d.start.0, d.side())).collect();
        assert_eq!(got, [(0x9000_0000, 0x1000, Some(Side::LinuxOnly)), (0x9020_0000, 0x1000, Some(Side::LinuxOnly))], "at {}: {report}", cp.checkpoint);
        assert!(cp.divergences.iter().all(|d| d.classes == [DiffClass::Presence]));
    }
    assert!(!report.contains("realm memory shared"), "not a realm: {report}");
}

#[test]
fn an_entry_whose_expectation_is_wrong_is_not_reproduced() {
    let corpus = common::TempCorpus::new();
    let text = std::fs::read_to_string(entry("realm-rodata-off-no-bbml3")).unwrap().replace("\"model\": \"match\"", "\"model\": \"diverge\"");
    let file = corpus.root().join("wrong.json");
    std::fs::write(&file, text).unwrap();
    let r = repro(&file).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(!r.reproduced());
    assert_eq!(exit_code(std::slice::from_ref(&r)), 1);
    assert!(r.runs[0].unmet.contains(&"Linux and the model were to diverge, but agree everywhere".to_string()), "{:?}", r.runs[0].unmet);
    assert!(report(&r).ends_with("NOT reproduced\n"), "{}", report(&r));
}

#[test]
fn bisect_over_the_revert_in_steps_names_the_split_gate() {
    let series = common::corpus().join("patches").join("revert-realm-split-fix-steps");
    let b = oracle::compare::bisect::bisect(&common::scenario("realm-bbml3"), &series).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(b.first_change, Some(2), "{}", b.report());
    assert!(b.report().contains("0002-arm64-mm-restore-the-pre-f12b435de2f2-split-gate"), "{}", b.report());
    assert!(b.steps.contains(&(1, "match".to_string())), "{:?}", b.steps);
}
