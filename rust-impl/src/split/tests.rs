//! Tests of the split gate in each boot window, the per-address split (PUD to CONT
//! PMDs, PMD to CONT PTEs, un-CONTing exactly the aligned group), the single-page
//! endpoint choice, `-ENOMEM` without rollback, barrier order, and the stop_machine
//! repaint, on 4K/48-bit maps built by `map_mem`.

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::granule::{Granule, Level};
use crate::linear_map::MapLine;
use crate::pgtable::{Event, HostEnv};
use crate::pgtable_prot::PAGE_KERNEL_RO;
use crate::testutil::*;
use crate::walk::linear_map;

const PO: u64 = 0xffff_0000_0000_0000;
const K: u64 = 1 << 10;
const RO: u64 = PAGE_KERNEL_RO & LEAF_ATTR_MASK;

fn va(off: u64) -> VirtAddr {
    VirtAddr(PO + off)
}

/// docs/map-mem.md#row-e and #row-f on LAYOUT_SMALL: requires BBML3, blocks and CONT.
fn boot() -> (Mmu<HostEnv>, BootState) {
    boot_at_map_mem(&bbml3_inputs(LAYOUT_SMALL))
}

/// The window after `mem_init` with one CPU online: splits allowed.
fn open(mut boot: BootState) -> BootState {
    boot.mem_init();
    boot
}


fn untouched(mmu: &Mmu<HostEnv>) -> Vec<MapLine> {
    expect(
        mmu,
        &[
            line(mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(mmu, 32 * M, G, Level::Pmd, true, RW),
            line(mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    )
}

fn check_invariants(mmu: &Mmu<HostEnv>) {
    let leaves = leaves(mmu);
    check_translation(mmu, &leaves);
    check_cont_groups(mmu, &leaves);
    for (leaf, desc) in &leaves {
        check_leaf_legal(mmu, leaf, *desc);
    }
    let base = mmu.page_offset().0;
    assert_eq!(mapped_ranges(&leaves), [(base, base + 2 * G)]);
}

/// The split's barrier contract: every new table is filled, then `dsb(ishst)`, then
/// linked; no TLB maintenance; the lazy MMU section ends with `dsb(ishst); isb()`.
fn check_split_events(events: &[Event]) {
    assert!(!events.iter().any(|e| matches!(e, Event::FlushTlbKernelRange { .. })), "a split flushed the TLB");
    for (i, e) in events.iter().enumerate() {
        let Event::AllocTable { table } = *e else { continue };
        let link = events
            .iter()
            .position(|e| matches!(*e, Event::Write { table: t, new, .. } if t != table && new & 3 == 3 && new & PTE_ADDR_MASK_48 == table.0))
            .unwrap_or_else(|| panic!("table {table} never linked"));
        assert!(link > i);
        assert_eq!(events[link - 1], Event::DsbIshst, "no dsb(ishst) right before linking {table}");
        // Every entry is written between the allocation and the dsb (later writes are
        // later changes, such as split_contpte() on the new PTEs).
        let fills: BTreeSet<usize> = events[i..link]
            .iter()
            .filter_map(|e| match *e {
                Event::Write { table: t, index, .. } if t == table => Some(index),
                _ => None,
            })
            .collect();
        assert_eq!(fills.len(), 512, "table {table} not completely written before it was linked");
    }
    if events.iter().any(|e| matches!(e, Event::Write { .. })) {
        assert_eq!(&events[events.len() - 2..], &[Event::DsbIshst, Event::Isb], "lazy MMU section must end with the barriers");
    }
}

// --- The gate (docs/split.md#gate), in each boot window. --------------------------

struct GateCase {
    name: &'static str,
    boot: BootState,
    start: u64,
    end: u64,
    want: Result<()>,
    warn: Option<WarnKind>,
    /// Whether tables get allocated (the PUD at 1G is split).
    splits: bool,
}

fn check_gate(case: &GateCase) {
    let (mut mmu, _) = boot();
    let n = mmu.env.allocated();
    let got = mmu.split_kernel_leaf_mapping(&case.boot, va(case.start), va(case.end));
    assert_eq!(got, case.want, "{}", case.name);
    let warns: Vec<WarnKind> = mmu.env.warnings().map(|w| w.kind).collect();
    assert_eq!(warns, case.warn.into_iter().collect::<Vec<_>>(), "{}", case.name);
    assert_eq!(mmu.env.allocated() > n, case.splits, "{}", case.name);
    if !case.splits {
        assert!(!mmu.env.events().iter().any(|e| matches!(e, Event::Write { .. })), "{}: wrote entries", case.name);
    }
    check_split_events(mmu.env.events());
    check_invariants(&mmu);
}

#[test]
fn gate_in_each_boot_window() {
    let (_, t0) = boot();
    let opened = open(t0);
    let two_cpus = BootState { online_cpus: 2, ..opened };
    let mut final_no_bbml3 = two_cpus;
    final_no_bbml3.finalize_caps(false);
    let mut final_bbml3 = BootState { online_cpus: 4, ..opened };
    final_bbml3.finalize_caps(true);
    let not_required = BootState { linear_map_requires_bbml3: false, ..t0 };
    let kfence = BootState { kfence_pool: Some((va(G), 2 * M)), ..t0 };
    let page = 4 * K;
    let (s, e) = (G + page, G + 2 * page);
    let cases = [
        GateCase { name: "T0: no page allocator", boot: t0, start: s, end: e, want: Err(Errno::EBUSY), warn: Some(WarnKind::SplitBeforePageAlloc), splits: false },
        GateCase { name: "T0, unaligned: the window wins", boot: t0, start: s + 1, end: e, want: Err(Errno::EBUSY), warn: Some(WarnKind::SplitBeforePageAlloc), splits: false },
        GateCase {
            name: "T0 with 2 CPUs: page allocator checked first",
            boot: BootState { online_cpus: 2, ..t0 },
            start: s,
            end: e,
            want: Err(Errno::EBUSY),
            warn: Some(WarnKind::SplitBeforePageAlloc),
            splits: false,
        },
        GateCase { name: "open, 1 CPU", boot: opened, start: s, end: e, want: Ok(()), warn: None, splits: true },
        GateCase { name: "open, unaligned start", boot: opened, start: s + 8, end: e, want: Err(Errno::EINVAL), warn: None, splits: false },
        GateCase { name: "open, unaligned end", boot: opened, start: s, end: e - 1, want: Err(Errno::EINVAL), warn: None, splits: false },
        GateCase { name: "2 CPUs before finalization", boot: two_cpus, start: s, end: e, want: Err(Errno::EBUSY), warn: Some(WarnKind::SplitWithSecondariesOnline), splits: false },
        GateCase { name: "finalized without BBML3", boot: final_no_bbml3, start: s, end: e, want: Ok(()), warn: None, splits: false },
        GateCase { name: "finalized without BBML3, unaligned", boot: final_no_bbml3, start: s + 1, end: e, want: Ok(()), warn: None, splits: false },
        GateCase { name: "finalized with BBML3, 4 CPUs", boot: final_bbml3, start: s, end: e, want: Ok(()), warn: None, splits: true },
        GateCase { name: "finalized with BBML3, unaligned", boot: final_bbml3, start: s, end: e + 1, want: Err(Errno::EINVAL), warn: None, splits: false },
        GateCase { name: "linear map does not require BBML3", boot: not_required, start: s, end: e, want: Ok(()), warn: None, splits: false },
        GateCase { name: "start in the KFENCE pool", boot: kfence, start: s, end: e, want: Ok(()), warn: None, splits: false },
        GateCase {
            name: "only end in the KFENCE pool",
            boot: kfence,
            start: G - page,
            end: G + page,
            want: Err(Errno::EBUSY),
            warn: Some(WarnKind::SplitBeforePageAlloc),
            splits: false,
        },
    ];
    for case in &cases {
        check_gate(case);
    }
}

#[test]
fn gate_warning_names_the_range_and_cpu_count() {
    let (mut mmu, t0) = boot();
    let b = BootState { online_cpus: 3, ..open(t0) };
    assert_eq!(mmu.split_kernel_leaf_mapping(&b, va(G), va(G + 8 * K)), Err(Errno::EBUSY));
    let w: Vec<Warning> = mmu.env.warnings().collect();
    assert_eq!(w, [Warning { kind: WarnKind::SplitWithSecondariesOnline, va: va(G), level: Level::Pgd, old: 3, new: 0 }]);
    assert!(!WarnKind::SplitWithSecondariesOnline.is_once());
}

// --- The per-address split (docs/split.md#per-address-split). --------------------

#[test]
fn pud_splits_to_cont_pmds() {
    let (mut mmu, b) = boot();
    let n = mmu.env.allocated();
    // 32M-aligned, inside the PUD block at 1G: nothing below the PUD needs splitting.
    mmu.split_kernel_leaf_mapping(&open(b), va(G + 64 * M), va(G + 96 * M)).unwrap();
    let want = expect(
        &mmu,
        // The PUD became 512 CONT PMDs, which continue the CONT PMDs before it.
        &[line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW), line(&mmu, 32 * M, 2 * G, Level::Pmd, true, RW)],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    assert_eq!(mmu.env.allocated(), n + 1, "one new table: the PMDs");
    check_split_events(mmu.env.events());
    check_invariants(&mmu);
}

#[test]
fn pud_splits_all_the_way_down() {
    let (mut mmu, b) = boot();
    let addr = G + 6 * M + 20 * K;
    mmu.split_kernel_leaf_mapping(&open(b), va(addr), va(G + 64 * M)).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            // The CONT_PMD group holding addr lost PTE_CONT...
            line(&mmu, G, G + 6 * M, Level::Pmd, false, RW),
            // ...its PMD became CONT PTEs, and the 64K group holding addr plain PTEs.
            line(&mmu, G + 6 * M, G + 6 * M + 64 * K, Level::Pte, false, RW),
            line(&mmu, G + 6 * M + 64 * K, G + 8 * M, Level::Pte, true, RW),
            line(&mmu, G + 8 * M, G + 32 * M, Level::Pmd, false, RW),
            line(&mmu, G + 32 * M, 2 * G, Level::Pmd, true, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    check_split_events(mmu.env.events());
    check_invariants(&mmu);
}

#[test]
fn pmd_splits_to_cont_ptes() {
    let (mut mmu, b) = boot();
    let n = mmu.env.allocated();
    // 64K-aligned inside the plain PMD at 8M.
    mmu.split_kernel_leaf_mapping(&open(b), va(8 * M + 192 * K), va(8 * M + 256 * K)).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 8 * M, Level::Pmd, false, RW),
            line(&mmu, 8 * M, 10 * M, Level::Pte, true, RW),
            line(&mmu, 10 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    assert_eq!(mmu.env.allocated(), n + 1);
    check_split_events(mmu.env.events());
}

#[test]
fn split_contpmd_clears_exactly_the_aligned_group() {
    let (mut mmu, b) = boot();
    let n = mmu.env.allocated();
    // 2M-aligned, not 32M-aligned, in the CONT PMD region: only un-CONT, no table.
    mmu.split_kernel_leaf_mapping(&open(b), va(66 * M), va(96 * M)).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, 64 * M, Level::Pmd, true, RW),
            line(&mmu, 64 * M, 96 * M, Level::Pmd, false, RW),
            line(&mmu, 96 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    assert_eq!(mmu.env.allocated(), n);
    let writes = mmu.env.events().iter().filter(|e| matches!(e, Event::Write { .. })).count();
    assert_eq!(writes, 16, "set_pmd() on the 16 PMDs of the group");
    check_split_events(mmu.env.events());
}

#[test]
fn split_contpte_clears_exactly_the_aligned_group() {
    let (mut mmu, b) = boot();
    // Inside the CONT PTEs of the kernel region, 4K past a 64K boundary.
    mmu.split_kernel_leaf_mapping(&open(b), va(0x30_1000), va(0x30_0000 + 64 * K)).unwrap();
    let mut want = vec![
        line(&mmu, 0, 2 * M, Level::Pmd, false, RW),
        line(&mmu, 2 * M, 0x30_0000, Level::Pte, true, RW),
        line(&mmu, 0x30_0000, 0x31_0000, Level::Pte, false, RW),
        line(&mmu, 0x31_0000, 0x45_0000, Level::Pte, true, RW),
        line(&mmu, 0x45_0000, 0x46_0000, Level::Pte, false, RW),
        line(&mmu, 0x46_0000, 6 * M, Level::Pte, true, RW),
    ];
    want.extend_from_slice(&untouched(&mmu)[4..]);
    assert_map_eq(&linear_map(&mmu, 0), &want);
    let writes = mmu.env.events().iter().filter(|e| matches!(e, Event::Write { .. })).count();
    assert_eq!(writes, 16);
}

#[test]
fn present_invalid_block_splits_to_present_invalid_entries() {
    let (mut mmu, b) = boot();
    let b = open(b);
    // Make the PUD block present-invalid in place, then split inside it.
    mmu.set_memory_valid(&b, va(G), (G / (4 * K)) as u32, false).unwrap();
    mmu.split_kernel_leaf_mapping(&b, va(G + 6 * M + 4 * K), va(G + 6 * M + 8 * K)).unwrap();
    let inv = RW | PTE_PRESENT_INVALID;
    let invalid = |l: MapLine| MapLine { valid: false, ..l };
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            invalid(line(&mmu, G, G + 6 * M, Level::Pmd, false, inv)),
            invalid(line(&mmu, G + 6 * M, G + 6 * M + 64 * K, Level::Pte, false, inv)),
            invalid(line(&mmu, G + 6 * M + 64 * K, G + 8 * M, Level::Pte, true, inv)),
            invalid(line(&mmu, G + 8 * M, G + 32 * M, Level::Pmd, false, inv)),
            invalid(line(&mmu, G + 32 * M, 2 * G, Level::Pmd, true, inv)),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    for (leaf, desc) in leaves(&mmu) {
        check_leaf_legal(&mmu, &leaf, desc);
    }
}

#[test]
fn single_page_splits_at_the_less_aligned_end() {
    // start 32M-aligned (ffs 25), end = start + 4K (ffs 12): the split is at end, so the
    // CONT PMD group and the PMD are split and one page can change.
    let (mut mmu, b) = boot();
    let b = open(b);
    mmu.split_kernel_leaf_mapping(&b, va(64 * M), va(64 * M + 4 * K)).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, 64 * M, Level::Pmd, true, RW),
            line(&mmu, 64 * M, 64 * M + 64 * K, Level::Pte, false, RW),
            line(&mmu, 64 * M + 64 * K, 66 * M, Level::Pte, true, RW),
            line(&mmu, 66 * M, 96 * M, Level::Pmd, false, RW),
            line(&mmu, 96 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);

    // end 64K-aligned, start = end - 4K (ffs 12): the split is at start, which un-CONTs
    // the group before end; a split at end would have left it CONT.
    let (mut mmu, b) = boot();
    mmu.split_kernel_leaf_mapping(&open(b), va(8 * M + 128 * K - 4 * K), va(8 * M + 128 * K)).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 8 * M, Level::Pmd, false, RW),
            line(&mmu, 8 * M, 8 * M + 64 * K, Level::Pte, true, RW),
            line(&mmu, 8 * M + 64 * K, 8 * M + 128 * K, Level::Pte, false, RW),
            line(&mmu, 8 * M + 128 * K, 10 * M, Level::Pte, true, RW),
            line(&mmu, 10 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);

    // Two pages are split at both ends: the same start as the first case now returns
    // at once (32M-aligned), and the end splits.
    let (mut mmu, b) = boot();
    mmu.split_kernel_leaf_mapping(&open(b), va(64 * M), va(64 * M + 8 * K)).unwrap();
    assert_eq!(linear_map(&mmu, 0).lines[6], line(&mmu, 64 * M, 64 * M + 64 * K, Level::Pte, false, RW));
}

#[test]
fn enomem_leaves_the_splits_done_so_far() {
    // The PMD table is allocated, the PTE table is not.
    let (mut mmu, b) = boot();
    let n = mmu.env.allocated();
    mmu.env = mmu.env.clone().with_alloc_limit(n + 1);
    assert_eq!(mmu.split_kernel_leaf_mapping(&open(b), va(G + 6 * M + 20 * K), va(G + 64 * M)), Err(Errno::ENOMEM));
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            // split_pud() and split_contpmd() happened; split_pmd() did not.
            line(&mmu, G, G + 32 * M, Level::Pmd, false, RW),
            line(&mmu, G + 32 * M, 2 * G, Level::Pmd, true, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    check_invariants(&mmu);
    // The lazy section is still closed with its barriers.
    assert_eq!(&mmu.env.events()[mmu.env.events().len() - 2..], &[Event::DsbIshst, Event::Isb]);

    // Out of memory at once: nothing changes.
    let (mut mmu, b) = boot();
    let n = mmu.env.allocated();
    mmu.env = mmu.env.clone().with_alloc_limit(n);
    assert_eq!(mmu.split_kernel_leaf_mapping(&open(b), va(G + 4 * K), va(G + 12 * K)), Err(Errno::ENOMEM));
    assert_map_eq(&linear_map(&mmu, 0), &untouched(&mmu));

    // The start split succeeds and stays; the end split fails.
    let (mut mmu, b) = boot();
    let n = mmu.env.allocated();
    mmu.env = mmu.env.clone().with_alloc_limit(n + 1);
    assert_eq!(mmu.split_kernel_leaf_mapping(&open(b), va(8 * M + 64 * K), va(G + 64 * M)), Err(Errno::ENOMEM));
    assert_eq!(linear_map(&mmu, 0).lines[5], line(&mmu, 8 * M, 10 * M, Level::Pte, true, RW));
    assert_eq!(linear_map(&mmu, 0).lines.last().copied(), Some(line(&mmu, G, 2 * G, Level::Pud, false, RW)));
}

// --- The repaint (docs/split.md#repaint). ----------------------------------------

fn stext(layout: Layout) -> PhysAddr {
    // _stext is SEGMENT_ALIGN (64K) after _text.
    PhysAddr(layout.text + 64 * K)
}

#[test]
fn repaint_splits_everything_but_the_text_alias() {
    let inputs = bbml3_inputs(LAYOUT_2M_TEXT);
    let (mut mmu, mut b) = boot_at_map_mem(&inputs);
    b.mem_init();
    b.set_cpu_online();
    b.finalize_caps(false);
    assert!(mmu.linear_map_maybe_split_to_ptes(&b, stext(LAYOUT_2M_TEXT), inputs.text.1).unwrap());
    // The 2M block at _text straddles lm(_stext) and is split whole; the CONT PTEs
    // wholly inside [lm(_stext), lm(__init_begin)) keep PTE_CONT.
    assert_map_eq(
        &linear_map(&mmu, 0),
        &[
            line(&mmu, 0, 0x40_0000, Level::Pte, false, RW),
            line(&mmu, 0x40_0000, 0x4f_0000, Level::Pte, true, RW),
            line(&mmu, 0x4f_0000, 2 * G, Level::Pte, false, RW),
        ],
    );
    check_invariants(&mmu);
    let events = mmu.env.events();
    let flushes: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::FlushTlbKernelRange { .. })).collect();
    assert_eq!(flushes, [&Event::FlushTlbKernelRange { start: mmu.page_offset(), end: mmu.page_end() }]);
    assert_eq!(events.last(), flushes.last().copied(), "the flush comes after every split");
    check_split_events(&events[..events.len() - 1]);

    // Afterwards the gate lets everything through without splitting, and single pages
    // change anywhere outside the text alias.
    let n = mmu.env.allocated();
    mmu.env.take_events();
    mmu.set_memory_valid(&b, va(G + 4 * K), 1, false).unwrap();
    assert_eq!(mmu.env.allocated(), n);
    assert_eq!(mmu.env.warnings().count(), 0);

    // mark_linear_text_alias_ro keeps the granularity.
    mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
    let map = linear_map(&mmu, 0);
    assert_eq!(map.lines[1], line(&mmu, 0x20_0000, 0x40_0000, Level::Pte, false, RO));
    assert_eq!(map.lines[2], line(&mmu, 0x40_0000, 0x4f_0000, Level::Pte, true, RO));
}

#[test]
fn repaint_keeps_blocks_wholly_inside_the_text_alias() {
    let layout = Layout { text: 0x4020_0000, init_begin: 0x4069_0000, init_end: 0x4070_0000, bss_stop: 0x4080_0000 };
    let inputs = bbml3_inputs(layout);
    let (mut mmu, _) = boot_at_map_mem(&inputs);
    let text_block = mmu.lookup(va(0x40_0000)).unwrap();
    assert_eq!((text_block.level, text_block.va), (Level::Pmd, va(0x40_0000)));
    mmu.linear_map_split_to_ptes(stext(layout), inputs.text.1).unwrap();
    assert_map_eq(
        &linear_map(&mmu, 0),
        &[
            line(&mmu, 0, 0x40_0000, Level::Pte, false, RW),
            line(&mmu, 0x40_0000, 0x60_0000, Level::Pmd, false, RW),
            line(&mmu, 0x60_0000, 0x69_0000, Level::Pte, true, RW),
            line(&mmu, 0x69_0000, 2 * G, Level::Pte, false, RW),
        ],
    );
    check_invariants(&mmu);
}

#[test]
fn repaint_runs_only_when_required_and_a_cpu_lacks_bbml3() {
    for (requires, system_bbml3, runs) in [(true, false, true), (true, true, false), (false, false, false), (false, true, false)] {
        let (mut mmu, mut b) = boot();
        b.linear_map_requires_bbml3 = requires;
        b.mem_init();
        b.finalize_caps(system_bbml3);
        assert_eq!(mmu.linear_map_maybe_split_to_ptes(&b, stext(LAYOUT_SMALL), PhysAddr(LAYOUT_SMALL.init_begin)), Ok(runs));
        assert_eq!(mmu.env.events().is_empty(), !runs, "requires {requires}, system BBML3 {system_bbml3}");
    }
}

#[test]
fn repaint_out_of_memory_is_returned_unflushed() {
    let (mut mmu, _) = boot();
    let n = mmu.env.allocated();
    mmu.env = mmu.env.clone().with_alloc_limit(n + 3);
    assert_eq!(mmu.linear_map_split_to_ptes(stext(LAYOUT_SMALL), PhysAddr(LAYOUT_SMALL.init_begin)), Err(Errno::ENOMEM));
    assert!(!mmu.env.events().iter().any(|e| matches!(e, Event::FlushTlbKernelRange { .. })));
}

#[test]
fn range_split_to_ptes_of_a_kfence_sized_range() {
    // The late-KFENCE use (arch_kfence_init_pool): only the touched leaves change.
    let (mut mmu, _) = boot();
    mmu.range_split_to_ptes(va(G + 2 * M), va(G + 4 * M)).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, G + 2 * M, Level::Pmd, false, RW),
            line(&mmu, G + 2 * M, G + 4 * M, Level::Pte, false, RW),
            line(&mmu, G + 4 * M, 2 * G, Level::Pmd, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    assert!(!mmu.env.events().iter().any(|e| matches!(e, Event::FlushTlbKernelRange { .. })));
    assert_eq!(mmu.range_split_to_ptes(va(G), va(G)), Err(Errno::EINVAL));
}

#[test]
fn other_granules_split_and_change_single_pages() {
    // 16K (4 levels) and 64K (3 levels, the PUD folded into swapper_pg_dir).
    for granule in [Granule::G16K, Granule::G64K] {
        let mut mmu = new_mmu(granule);
        let inputs = bbml3_inputs(LAYOUT_SMALL);
        assert!(crate::map_mem::map_mem(&mut mmu, &inputs).unwrap());
        let mut b = BootState::at_map_mem(true, inputs.policy());
        b.mem_init();
        let page = granule.page_size();
        for off in [G + 3 * page, 700 * M + page, 8 * M] {
            mmu.set_memory_valid(&b, va(off), 1, false).unwrap();
            let l = mmu.lookup(va(off)).unwrap();
            assert_eq!((l.level, l.size, l.desc & PTE_VALID), (Level::Pte, page, 0), "{granule:?} at {off:#x}");
            assert!(!pte_cont(l.desc));
            mmu.set_memory_valid(&b, va(off), 1, true).unwrap();
        }
        assert_eq!(mmu.env.warnings().count(), 0);
        check_invariants(&mmu);
        // The repaint on top.
        mmu.linear_map_split_to_ptes(stext(LAYOUT_SMALL), PhysAddr(LAYOUT_SMALL.init_begin)).unwrap();
        check_invariants(&mmu);
        assert!(leaves(&mmu).iter().all(|(l, _)| l.level == Level::Pte && (!l.cont || l.va.0 < PO + LAYOUT_SMALL.init_begin - MEMSTART)));
    }
}
