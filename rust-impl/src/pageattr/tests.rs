//! Tests of the attribute changes on 4K/48-bit maps built by `map_mem`: the walk rules
//! (partial blocks, CONT groups not checked), the flush rule, the `set_memory_*` and
//! `set_direct_map_*` entry points, `mark_rodata_ro`, the realm share/unshare path with
//! each failure state, and a pseudo-random sequence of splits and changes checked
//! against a per-page model.

use alloc::vec;
use alloc::vec::Vec;

use super::*;
use crate::granule::{Granule, Level};
use crate::linear_map::MapLine;
use crate::map_mem::MapMemInputs;
use crate::pgtable::{Event, HostEnv};
use crate::pgtable_prot::PTE_PRESENT_VALID_KERNEL;
use crate::rsi::{HostRsi, RsiCall};
use crate::testutil::*;
use crate::walk::linear_map;

const PO: u64 = 0xffff_0000_0000_0000;
const K: u64 = 1 << 10;
const PAGE: u64 = 4 * K;
/// `prot_ns_shared` for a 48-bit IPA: bit 47.
const NS: u64 = 1 << 47;

fn va(off: u64) -> VirtAddr {
    VirtAddr(PO + off)
}

fn pa(off: u64) -> PhysAddr {
    PhysAddr(MEMSTART + off)
}

/// docs/map-mem.md#row-e and #row-f: blocks and CONT, `linear_map_requires_bbml3`.
fn row_e() -> (Mmu<HostEnv>, BootState) {
    boot_at_map_mem(&bbml3_inputs(LAYOUT_SMALL))
}

/// docs/map-mem.md#row-d: the same blocks, but `rodata=off`, so the linear map does not
/// require BBML3 and is never split.
fn row_d() -> (Mmu<HostEnv>, BootState) {
    boot_at_map_mem(&MapMemInputs { boot_cpu_bbml3: true, ..inputs(LAYOUT_SMALL, bank_2g()) })
}

fn open(mut boot: BootState) -> BootState {
    boot.mem_init();
    boot
}

/// The same line made present-invalid: validity changes, the compared attributes do
/// not (`leaf_attrs` leaves `PTE_PRESENT_INVALID` out).
fn invalid(l: MapLine) -> MapLine {
    MapLine { valid: false, ..l }
}

fn shared(l: MapLine) -> MapLine {
    MapLine { shared: true, ..l }
}


fn untouched(mmu: &Mmu<HostEnv>) -> Vec<MapLine> {
    expect(mmu, &[line(mmu, 6 * M, 32 * M, Level::Pmd, false, RW), line(mmu, 32 * M, G, Level::Pmd, true, RW), line(mmu, G, 2 * G, Level::Pud, false, RW)])
}

fn flushes(mmu: &Mmu<HostEnv>) -> Vec<(VirtAddr, VirtAddr)> {
    mmu.env
        .events()
        .iter()
        .filter_map(|e| match *e {
            Event::FlushTlbKernelRange { start, end } => Some((start, end)),
            _ => None,
        })
        .collect()
}

fn writes(mmu: &Mmu<HostEnv>) -> usize {
    mmu.env.events().iter().filter(|e| matches!(e, Event::Write { .. })).count()
}

fn warn_kinds(mmu: &Mmu<HostEnv>) -> Vec<WarnKind> {
    mmu.env.warnings().map(|w| w.kind).collect()
}

// --- update_range_prot and the walk rules (docs/split.md#update_range_prot). ------

#[test]
fn partial_pmd_block_is_einval_with_earlier_entries_modified() {
    let (mut mmu, mut b) = row_d();
    b.mem_init();
    b.finalize_caps(true);
    // [8M, 12M + 4K): two whole PMD blocks, then 4K of the third.
    assert_eq!(mmu.set_memory_valid(&b, va(8 * M), 1025, false), Err(Errno::EINVAL));
    let w: Vec<Warning> = mmu.env.warnings().collect();
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].kind, w[0].va, w[0].level, w[0].new), (WarnKind::PageattrPartialBlock, va(12 * M), Level::Pmd, PAGE));
    assert!(WarnKind::PageattrPartialBlock.is_once());
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 8 * M, Level::Pmd, false, RW),
            invalid(line(&mmu, 8 * M, 12 * M, Level::Pmd, false, RW)),
            line(&mmu, 12 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    // The flush runs even though the update failed.
    assert_eq!(flushes(&mmu), [(va(8 * M), va(12 * M + PAGE))]);
    assert_eq!(mmu.env.allocated(), 5, "no split");
}

#[test]
fn partial_pud_block_is_einval_with_nothing_modified() {
    let (mut mmu, b) = row_d();
    assert_eq!(mmu.set_memory_valid(&open(b), va(G + 2 * M), 512, false), Err(Errno::EINVAL));
    let w: Vec<Warning> = mmu.env.warnings().collect();
    assert_eq!((w[0].kind, w[0].va, w[0].level, w[0].new), (WarnKind::PageattrPartialBlock, va(G + 2 * M), Level::Pud, 2 * M));
    assert_map_eq(&linear_map(&mmu, 0), &untouched(&mmu));
    assert_eq!(writes(&mmu), 0);
}

#[test]
fn whole_blocks_change_in_place_and_cont_groups_are_not_checked() {
    let (mut mmu, b) = row_d();
    let b = open(b);
    // A whole PUD block and one PMD of a CONT PMD group (docs/map-mem.md#row-d never
    // splits).
    mmu.set_memory_valid(&b, va(G), (G / PAGE) as u32, false).unwrap();
    mmu.set_memory_valid(&b, va(64 * M), 512, false).unwrap();
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, 64 * M, Level::Pmd, true, RW),
            invalid(line(&mmu, 64 * M, 66 * M, Level::Pmd, true, RW)),
            line(&mmu, 66 * M, G, Level::Pmd, true, RW),
            invalid(line(&mmu, G, 2 * G, Level::Pud, false, RW)),
        ],
    );
    assert_map_eq(&linear_map(&mmu, 0), &want);
    assert_eq!(writes(&mmu), 2);
    // And back: valid again, no flush for this one.
    mmu.env.take_events();
    mmu.set_memory_valid(&b, va(G), (G / PAGE) as u32, true).unwrap();
    assert_eq!(linear_map(&mmu, 0).lines.last().copied(), Some(line(&mmu, G, 2 * G, Level::Pud, false, RW)));
    assert!(flushes(&mmu).is_empty());
}

#[test]
fn split_failure_modifies_nothing_but_still_flushes() {
    let (mut mmu, t0) = row_e();
    assert_eq!(mmu.set_memory_valid(&t0, va(G + PAGE), 1, false), Err(Errno::EBUSY));
    assert_eq!(warn_kinds(&mmu), [WarnKind::SplitBeforePageAlloc, WarnKind::UpdateRangeProtSplitFailed]);
    let w: Vec<Warning> = mmu.env.warnings().collect();
    assert_eq!(w[1].old, (-16i64) as u64);
    assert_eq!(writes(&mmu), 0);
    assert_eq!(flushes(&mmu), [(va(G + PAGE), va(G + 2 * PAGE))]);
    // update_range_prot alone does not flush.
    mmu.env.take_events();
    let b = BootState { online_cpus: 2, ..open(t0) };
    assert_eq!(mmu.update_range_prot(&b, va(G), PAGE, PTE_RDONLY, PTE_WRITE), Err(Errno::EBUSY));
    assert_eq!(warn_kinds(&mmu), [WarnKind::SplitWithSecondariesOnline, WarnKind::UpdateRangeProtSplitFailed]);
    assert!(mmu.env.events().iter().all(|e| matches!(e, Event::Warn(_))));
}

#[test]
fn zero_pages_is_einval_from_the_walker() {
    let (mut mmu, b) = row_e();
    assert_eq!(mmu.set_memory_valid(&open(b), va(G), 0, false), Err(Errno::EINVAL));
    assert_eq!(writes(&mmu), 0);
}

// --- The flush rule and the entry points (docs/split.md#entry-points). -----------

#[test]
fn only_making_valid_skips_the_flush() {
    let (mut mmu, b) = row_e();
    let b = open(b);
    let (s, e) = (va(8 * M), va(8 * M + 64 * K));
    mmu.set_memory_valid(&b, s, 16, false).unwrap();
    assert_eq!(flushes(&mmu), [(s, e)]);
    assert_eq!(mmu.env.events().last(), Some(&Event::FlushTlbKernelRange { start: s, end: e }), "flush after the walk");
    mmu.env.take_events();
    mmu.set_memory_valid(&b, s, 16, true).unwrap();
    assert!(flushes(&mmu).is_empty());
    assert_eq!(writes(&mmu), 16);
    // Any other mask pair flushes, even a superset of "make valid".
    mmu.env.take_events();
    mmu.__change_memory_common(&b, s, 64 * K, PTE_PRESENT_VALID_KERNEL | PTE_WRITE, PTE_PRESENT_INVALID).unwrap();
    assert_eq!(flushes(&mmu), [(s, e)]);
    mmu.env.take_events();
    mmu.__change_memory_common(&b, s, 64 * K, PTE_PRESENT_VALID_KERNEL, PTE_PRESENT_INVALID | PTE_RDONLY).unwrap();
    assert_eq!(flushes(&mmu), [(s, e)]);
}

#[test]
fn set_direct_map_entry_points() {
    let (mut mmu, b) = row_e();
    let b = open(b);
    let page = pa(G + 6 * M + 5 * PAGE);
    mmu.set_direct_map_invalid_noflush(&b, page).unwrap();
    assert!(flushes(&mmu).is_empty());
    let l = mmu.lookup(va(G + 6 * M + 5 * PAGE)).unwrap();
    assert_eq!((l.level, pte_valid(l.desc), pte_cont(l.desc)), (Level::Pte, false, false));
    assert_eq!(l.desc & PTE_PRESENT_INVALID, PTE_PRESENT_INVALID);

    // Back to default: valid, writable, not read-only; no flush.
    mmu.update_range_prot(&b, va(G + 6 * M + 5 * PAGE), PAGE, PTE_RDONLY, PTE_WRITE).unwrap();
    mmu.env.take_events();
    mmu.set_direct_map_default_noflush(&b, page).unwrap();
    assert!(flushes(&mmu).is_empty());
    let l = mmu.lookup(va(G + 6 * M + 5 * PAGE)).unwrap();
    assert_eq!(l.desc & LEAF_ATTR_MASK, RW);
    assert!(pte_valid(l.desc));

    // set_direct_map_valid_noflush() is set_memory_valid(): invalidating flushes.
    mmu.env.take_events();
    mmu.set_direct_map_valid_noflush(&b, page, 2, false).unwrap();
    assert_eq!(flushes(&mmu), [(va(G + 6 * M + 5 * PAGE), va(G + 6 * M + 7 * PAGE))]);
    mmu.env.take_events();
    mmu.set_direct_map_valid_noflush(&b, page, 2, true).unwrap();
    assert!(flushes(&mmu).is_empty());
    check_all(&mmu, NS);
}

#[test]
fn set_direct_map_needs_can_set_direct_map_now() {
    // docs/map-mem.md#row-d: no rodata_full, no late KFENCE: every set_direct_map_* is a
    // no-op...
    let (mut mmu, b) = row_d();
    let mut b = open(b);
    assert!(!b.policy.can_set_direct_map());
    mmu.set_direct_map_invalid_noflush(&b, pa(G)).unwrap();
    mmu.set_direct_map_default_noflush(&b, pa(G)).unwrap();
    mmu.set_direct_map_valid_noflush(&b, pa(G), 1, false).unwrap();
    assert!(mmu.env.events().is_empty());
    // ...until a realm is found, which makes them live on a block map that was never
    // meant to be split (docs/realm.md#late-detection): a single page of a PUD block
    // fails.
    b.rsi_init(NS);
    assert!(b.policy.can_set_direct_map());
    assert_eq!(mmu.set_direct_map_invalid_noflush(&b, pa(G)), Err(Errno::EINVAL));
    assert_eq!(warn_kinds(&mmu), [WarnKind::PageattrPartialBlock]);
}

#[test]
fn set_memory_ro_needs_a_vm_alloc_area() {
    let (mut mmu, b) = row_e();
    let b = open(b);
    // A linear-map address is in no vm area.
    assert_eq!(mmu.set_memory_ro(&b, va(G), 1, None), Err(Errno::EINVAL));
    assert!(mmu.env.events().is_empty());

    let vmalloc = VirtAddr(0xffff_8000_8000_0000);
    let pages = [pa(G + 6 * M + 3 * PAGE), pa(96 * M)];
    let area = VmArea { addr: vmalloc, size: 3 * PAGE, vm_alloc: true, pages: &pages };
    // Past the area, or not VM_ALLOC: -EINVAL.
    assert_eq!(mmu.set_memory_ro(&b, vmalloc, 4, Some(&area)), Err(Errno::EINVAL));
    assert_eq!(mmu.set_memory_ro(&b, vmalloc, 2, Some(&VmArea { vm_alloc: false, ..area })), Err(Errno::EINVAL));
    assert!(mmu.env.events().is_empty());

    // rodata_full: the linear alias of each backing page changes, one page at a time,
    // then the vmalloc range (not in the model's tables) is flushed.
    mmu.set_memory_ro(&b, vmalloc, 2, Some(&area)).unwrap();
    let ro = (RW & !PTE_WRITE) | PTE_RDONLY;
    for p in pages {
        let l = mmu.lookup(mmu.lm(p)).unwrap();
        assert_eq!((l.level, l.desc & LEAF_ATTR_MASK), (Level::Pte, ro), "alias of {p}");
    }
    let l = mmu.lookup(mmu.lm(PhysAddr(pages[0].0 + PAGE))).unwrap();
    assert_eq!(l.desc & LEAF_ATTR_MASK, RW, "the next page is untouched");
    assert_eq!(
        flushes(&mmu),
        [(mmu.lm(pages[0]), mmu.lm(PhysAddr(pages[0].0 + PAGE))), (mmu.lm(pages[1]), mmu.lm(PhysAddr(pages[1].0 + PAGE))), (vmalloc, VirtAddr(vmalloc.0 + 2 * PAGE))]
    );
    check_all(&mmu, 0);

    mmu.set_memory_rw(&b, vmalloc, 2, Some(&area)).unwrap();
    for p in pages {
        assert_eq!(mmu.lookup(mmu.lm(p)).unwrap().desc & LEAF_ATTR_MASK, RW);
    }

    // nx/x never touch the linear alias; without rodata_full neither does ro.
    mmu.env.take_events();
    let bti = BootState { bti_kernel: true, ..b };
    mmu.set_memory_x(&bti, vmalloc, 2, Some(&area)).unwrap();
    mmu.set_memory_nx(&bti, vmalloc, 2, Some(&area)).unwrap();
    let no_rodata_full = BootState { policy: crate::map_mem::DirectMapPolicy { rodata_full: false, ..b.policy }, ..b };
    mmu.set_memory_ro(&no_rodata_full, vmalloc, 2, Some(&area)).unwrap();
    assert_eq!(writes(&mmu), 0);
    assert_eq!(flushes(&mmu).len(), 3);

    // An unaligned address is rounded down with a WARN_ON_ONCE.
    mmu.env.take_events();
    mmu.set_memory_rw(&b, VirtAddr(vmalloc.0 + 8), 1, Some(&area)).unwrap();
    assert_eq!(warn_kinds(&mmu), [WarnKind::ChangeMemoryUnaligned]);
    assert_eq!(flushes(&mmu), [(mmu.lm(pages[0]), mmu.lm(PhysAddr(pages[0].0 + PAGE))), (vmalloc, VirtAddr(vmalloc.0 + PAGE))]);
}

// --- mark_rodata_ro (arch/arm64/mm/mmu.c:1254; docs/split.md#mark_rodata_ro). ---

#[test]
fn mark_rodata_ro_invalidates_the_data_alias() {
    let (mut mmu, mut b) = row_e();
    b.mem_init();
    b.set_cpu_online();
    b.finalize_caps(true);
    let (init_end, bss_stop) = (PhysAddr(LAYOUT_SMALL.init_end), PhysAddr(LAYOUT_SMALL.bss_stop));
    mmu.mark_rodata_ro(&b, init_end, bss_stop).unwrap();
    let mut want = vec![
        line(&mmu, 0, 2 * M, Level::Pmd, false, RW),
        line(&mmu, 2 * M, 0x34_0000, Level::Pte, true, RW),
        invalid(line(&mmu, 0x34_0000, 0x45_0000, Level::Pte, true, RW)),
        invalid(line(&mmu, 0x45_0000, 0x45_3000, Level::Pte, false, RW)),
        line(&mmu, 0x45_3000, 0x46_0000, Level::Pte, false, RW),
        line(&mmu, 0x46_0000, 6 * M, Level::Pte, true, RW),
    ];
    want.extend_from_slice(&untouched(&mmu)[4..]);
    assert_map_eq(&linear_map(&mmu, 0), &want);
    assert_eq!(flushes(&mmu), [(mmu.lm(init_end), mmu.lm(bss_stop))]);
    // The hibernation notifier's way back.
    mmu.mark_linear_data_alias_valid(&b, init_end, bss_stop, true).unwrap();
    assert_map_eq(&linear_map(&mmu, 0), &untouched(&mmu));
}

// --- The realm path (docs/realm.md#sharing-and-unsharing). -----------------------

/// A realm on docs/map-mem.md#row-e after `mem_init`, one CPU.
fn realm() -> (Mmu<HostEnv>, BootState) {
    let (mmu, mut b) = row_e();
    b.rsi_init(NS);
    b.mem_init();
    (mmu, b)
}

const ITS: u64 = G + 6 * M + 128 * K;

#[test]
fn decrypt_then_encrypt_a_64k_its_table() {
    let (mut mmu, b) = realm();
    let mut rsi = HostRsi::new();
    mmu.set_memory_decrypted(&b, &mut rsi, va(ITS), 16).unwrap();
    // One CONT_PTE group with the NS bit, valid again.
    let around = |mmu: &Mmu<HostEnv>, mid: MapLine| {
        expect(
            mmu,
            &[
                line(mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
                line(mmu, 32 * M, G, Level::Pmd, true, RW),
                line(mmu, G, G + 6 * M, Level::Pmd, false, RW),
                line(mmu, G + 6 * M, ITS, Level::Pte, true, RW),
                mid,
                line(mmu, ITS + 64 * K, G + 8 * M, Level::Pte, true, RW),
                line(mmu, G + 8 * M, G + 32 * M, Level::Pmd, false, RW),
                line(mmu, G + 32 * M, 2 * G, Level::Pmd, true, RW),
            ],
        )
    };
    assert_map_eq(&linear_map(&mmu, NS), &around(&mmu, shared(line(&mmu, ITS, ITS + 64 * K, Level::Pte, true, RW))));
    assert_eq!(rsi.calls, [RsiCall { start: pa(ITS), end: pa(ITS + 64 * K), ripas: Ripas::Empty }]);
    // Break, flush, make: the only flush is of the range, between the two walks.
    let events = mmu.env.events();
    let f: Vec<usize> = events.iter().enumerate().filter(|(_, e)| matches!(e, Event::FlushTlbKernelRange { .. })).map(|(i, _)| i).collect();
    assert_eq!(flushes(&mmu), [(va(ITS), va(ITS + 64 * K))]);
    assert_eq!(events[f[0] + 1..].iter().filter(|e| matches!(e, Event::Write { .. })).count(), 16, "make after the flush");
    assert!(mmu.env.warnings().next().is_none());
    check_all(&mmu, NS);

    mmu.set_memory_encrypted(&b, &mut rsi, va(ITS), 16).unwrap();
    // Unshared again; the split structure stays.
    let mut want = around(&mmu, line(&mmu, ITS, ITS + 64 * K, Level::Pte, true, RW));
    want.splice(7..10, [line(&mmu, G + 6 * M, G + 8 * M, Level::Pte, true, RW)]);
    assert_map_eq(&linear_map(&mmu, NS), &want);
    assert_eq!(rsi.calls[1], RsiCall { start: pa(ITS), end: pa(ITS + 64 * K), ripas: Ripas::Ram });
}

#[test]
fn sharing_survives_later_splits() {
    let (mut mmu, b) = realm();
    let mut rsi = HostRsi::new();
    // A whole CONT PMD group: the PUD is split to CONT PMDs and nothing below.
    mmu.set_memory_decrypted(&b, &mut rsi, va(G + 64 * M), (32 * M / PAGE) as u32).unwrap();
    mmu.split_kernel_leaf_mapping(&b, va(G + 64 * M + PAGE), va(G + 64 * M + 2 * PAGE)).unwrap();
    let map = linear_map(&mmu, NS);
    let at = |off: u64| *map.lines.iter().find(|l| l.start == va(off)).unwrap_or_else(|| panic!("no line at {off:#x}\n{map}"));
    assert_eq!(at(G + 64 * M), shared(line(&mmu, G + 64 * M, G + 64 * M + 64 * K, Level::Pte, false, RW)));
    assert_eq!(at(G + 64 * M + 64 * K), shared(line(&mmu, G + 64 * M + 64 * K, G + 66 * M, Level::Pte, true, RW)));
    assert_eq!(at(G + 66 * M), shared(line(&mmu, G + 66 * M, G + 96 * M, Level::Pmd, false, RW)));
    check_all(&mmu, NS);
}

#[test]
fn enc_dec_outside_a_realm_or_the_linear_map() {
    let (mut mmu, b) = row_e();
    let mut rsi = HostRsi::new();
    let b = open(b);
    assert_eq!(mmu.set_memory_decrypted(&b, &mut rsi, va(ITS), 16), Ok(()));
    assert_eq!(mmu.__set_memory_enc_dec(&b, &mut rsi, va(ITS), 16, true), Ok(()));
    assert!(mmu.env.events().is_empty() && rsi.calls.is_empty());

    let (mut mmu, b) = realm();
    let vmalloc = mmu.page_end();
    assert_eq!(mmu.__set_memory_enc_dec(&b, &mut rsi, vmalloc, 1, false), Err(Errno::EINVAL));
    assert!(mmu.env.events().is_empty());
    assert_eq!(mmu.set_memory_decrypted(&b, &mut rsi, vmalloc, 1), Err(Errno::EINVAL));
    let w: Vec<Warning> = mmu.env.warnings().collect();
    assert_eq!((w[0].kind, w[0].old, w[0].new), (WarnKind::DecryptFailed, 1, (-22i64) as u64));
    // Unaligned: a WARN and 0, nothing else.
    mmu.env.take_events();
    assert_eq!(mmu.set_memory_encrypted(&b, &mut rsi, va(ITS + 8), 1), Ok(()));
    assert_eq!(warn_kinds(&mmu), [WarnKind::MemEncryptUnaligned]);
    assert_eq!(mmu.env.events().len(), 1);
    assert!(rsi.calls.is_empty());
}

#[test]
fn decrypt_failure_states() {
    // 1. The split fails (before mem_init): nothing changes, the flush still runs.
    let (mut mmu, mut t0) = row_e();
    t0.rsi_init(NS);
    let mut rsi = HostRsi::new();
    assert_eq!(mmu.set_memory_decrypted(&t0, &mut rsi, va(ITS), 16), Err(Errno::EBUSY));
    assert_eq!(warn_kinds(&mmu), [WarnKind::SplitBeforePageAlloc, WarnKind::UpdateRangeProtSplitFailed, WarnKind::DecryptFailed]);
    assert_map_eq(&linear_map(&mmu, NS), &untouched(&mmu));
    assert_eq!(flushes(&mmu), [(va(ITS), va(ITS + 64 * K))]);
    assert!(rsi.calls.is_empty());

    // 2. The walk meets a partial block (docs/map-mem.md#row-d never splits): the
    //    entries before it are left invalid with the NS bit.
    let (mut mmu, b) = row_d();
    let mut b = open(b);
    b.rsi_init(NS);
    assert_eq!(mmu.set_memory_decrypted(&b, &mut rsi, va(8 * M), 513), Err(Errno::EINVAL));
    assert_eq!(warn_kinds(&mmu), [WarnKind::PageattrPartialBlock, WarnKind::DecryptFailed]);
    let want = expect(
        &mmu,
        &[
            line(&mmu, 6 * M, 8 * M, Level::Pmd, false, RW),
            shared(invalid(line(&mmu, 8 * M, 10 * M, Level::Pmd, false, RW))),
            line(&mmu, 10 * M, 32 * M, Level::Pmd, false, RW),
            line(&mmu, 32 * M, G, Level::Pmd, true, RW),
            line(&mmu, G, 2 * G, Level::Pud, false, RW),
        ],
    );
    assert_map_eq(&linear_map(&mmu, NS), &want);
    assert!(rsi.calls.is_empty());

    // 3. RSI refuses: the whole range is left invalid with the NS bit.
    let (mut mmu, b) = realm();
    let mut rsi = HostRsi::failing_call(0);
    assert_eq!(mmu.set_memory_decrypted(&b, &mut rsi, va(ITS), 16), Err(Errno::EINVAL));
    assert_eq!(warn_kinds(&mmu), [WarnKind::DecryptFailed]);
    assert_eq!(rsi.calls.len(), 1);
    let map = linear_map(&mmu, NS);
    assert!(map.lines.contains(&shared(invalid(line(&mmu, ITS, ITS + 64 * K, Level::Pte, true, RW)))), "{map}");
    assert_eq!(flushes(&mmu), [(va(ITS), va(ITS + 64 * K))]);
    check_all(&mmu, NS);

    // An encrypt that fails at RSI leaves the range invalid with the NS bit cleared.
    let (mut mmu, b) = realm();
    mmu.set_memory_decrypted(&b, &mut HostRsi::new(), va(ITS), 16).unwrap();
    assert_eq!(mmu.set_memory_encrypted(&b, &mut HostRsi::failing_call(0), va(ITS), 16), Err(Errno::EINVAL));
    assert!(linear_map(&mmu, NS).lines.contains(&invalid(line(&mmu, ITS, ITS + 64 * K, Level::Pte, true, RW))));
    assert_eq!(mmu.env.warnings().last().map(|w| w.kind), Some(WarnKind::EncryptFailed));
}

// --- Invariants and the pseudo-random sequence. ----------------------------------

/// The bits a page's state is compared on: attributes, valid, and the NS bit.
const TRACK: u64 = LEAF_ATTR_MASK | PTE_VALID | NS;

/// Translation, legal leaves, aligned and uniform CONT groups, and full coverage of
/// the 2 GiB bank, with `shared_mask` out of the output address.
fn check_all(mmu: &Mmu<HostEnv>, shared_mask: u64) -> Vec<(crate::linear_map::Leaf, u64)> {
    let leaves = leaves_shared(mmu, shared_mask);
    check_translation(mmu, &leaves);
    check_cont_groups(mmu, &leaves);
    let mut next = mmu.page_offset().0;
    for (leaf, desc) in &leaves {
        check_leaf_legal(mmu, leaf, *desc);
        assert_eq!(leaf.va.0, next, "hole before {leaf:?}");
        next = leaf.va.0 + leaf.size;
    }
    assert_eq!(next, mmu.page_offset().0 + 2 * G);
    leaves
}

/// The 64-bit LCG of Knuth's MMIX.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A page range: single pages, small and large runs, and whole aligned blocks.
fn pick_range(rng: &mut Lcg, total: u64) -> (u64, u64) {
    let (first, n) = match rng.below(5) {
        0 => (rng.below(total), 1),
        1 => (rng.below(total), 1 + rng.below(64)),
        2 => (rng.below(total), 1 + rng.below(4096)),
        3 => {
            let block = [16, 512, 8192][rng.below(3) as usize];
            (rng.below(total / block) * block, block * (1 + rng.below(3)))
        }
        _ => (rng.below(total / 262_144) * 262_144, 262_144),
    };
    (first, n.min(total - first))
}

fn apply(model: &mut [u64], first: u64, n: u64, set: u64, clear: u64) {
    for s in &mut model[first as usize..(first + n) as usize] {
        *s = ((*s & !clear) | set) & TRACK;
    }
}

fn run_sequence(seed: u64, boot: BootState, ops: usize) {
    let inputs = bbml3_inputs(LAYOUT_SMALL);
    let env = HostEnv::new(Granule::G4K, PhysAddr(TABLES), 256 << 20).without_write_log();
    let mut mmu = Mmu::new(env, Granule::G4K, 48, PhysAddr(MEMSTART)).unwrap();
    assert!(crate::map_mem::map_mem(&mut mmu, &inputs).unwrap());
    let total = 2 * G / PAGE;
    let mut model = vec![0u64; total as usize];
    for (leaf, desc) in check_all(&mmu, NS) {
        let first = (leaf.va.0 - PO) / PAGE;
        model[first as usize..(first + leaf.size / PAGE) as usize].fill(desc & TRACK);
    }
    let mut rsi = HostRsi::new();
    let mut rng = Lcg(seed);
    for step in 0..ops {
        let (first, n) = pick_range(&mut rng, total);
        let addr = va(first * PAGE);
        let np = n as u32;
        let op = rng.below(9);
        let what = alloc::format!("seed {seed:#x} step {step}: op {op} on pages {first:#x}+{n:#x}");
        let ret = match op {
            0 => mmu.split_kernel_leaf_mapping(&boot, addr, VirtAddr(addr.0 + n * PAGE)),
            1 => {
                apply(&mut model, first, n, PTE_PRESENT_INVALID, PTE_PRESENT_VALID_KERNEL);
                mmu.set_memory_valid(&boot, addr, np, false)
            }
            2 => {
                apply(&mut model, first, n, PTE_PRESENT_VALID_KERNEL, PTE_PRESENT_INVALID);
                mmu.set_memory_valid(&boot, addr, np, true)
            }
            3 => {
                apply(&mut model, first, n, PTE_RDONLY, PTE_WRITE);
                mmu.update_range_prot(&boot, addr, n * PAGE, PTE_RDONLY, PTE_WRITE)
            }
            4 => {
                apply(&mut model, first, n, PTE_WRITE, PTE_RDONLY);
                mmu.update_range_prot(&boot, addr, n * PAGE, PTE_WRITE, PTE_RDONLY)
            }
            5 => {
                apply(&mut model, first, 1, PTE_PRESENT_INVALID, PTE_PRESENT_VALID_KERNEL);
                mmu.set_direct_map_invalid_noflush(&boot, pa(first * PAGE))
            }
            6 => {
                apply(&mut model, first, 1, PTE_PRESENT_VALID_KERNEL | PTE_WRITE, PTE_PRESENT_INVALID | PTE_RDONLY);
                mmu.set_direct_map_default_noflush(&boot, pa(first * PAGE))
            }
            7 | 8 => {
                let encrypt = op == 7;
                let (set, clear) = if encrypt { (0, NS) } else { (NS, 0) };
                apply(&mut model, first, n, set | PTE_PRESENT_INVALID, clear | PTE_PRESENT_VALID_KERNEL);
                apply(&mut model, first, n, PTE_PRESENT_VALID_KERNEL, PTE_PRESENT_INVALID);
                if encrypt {
                    mmu.set_memory_encrypted(&boot, &mut rsi, addr, np)
                } else {
                    mmu.set_memory_decrypted(&boot, &mut rsi, addr, np)
                }
            }
            _ => unreachable!(),
        };
        assert_eq!(ret, Ok(()), "{what}");
        if step % 16 == 15 || step + 1 == ops {
            for (leaf, desc) in check_all(&mmu, NS) {
                let first = ((leaf.va.0 - PO) / PAGE) as usize;
                let pages = &model[first..first + (leaf.size / PAGE) as usize];
                if let Some(i) = pages.iter().position(|&s| s != desc & TRACK) {
                    panic!("{what}: page {:#x} of {leaf:?} is {:#018x}, want {:#018x}", first + i, desc & TRACK, pages[i]);
                }
            }
        }
    }
    assert_eq!(mmu.env.warnings().count(), 0);
}

#[test]
fn random_splits_and_changes_keep_the_map_consistent() {
    // Finalized on a system with BBML3 (docs/map-mem.md#row-e): splits always allowed.
    let (_, mut b) = row_e();
    b.rsi_init(NS);
    b.mem_init();
    b.online_cpus = 4;
    b.finalize_caps(true);
    run_sequence(0x5eed_0001, b, 160);
    // The boot window after mem_init with one CPU: the same, before finalization.
    let (_, mut b) = row_e();
    b.rsi_init(NS);
    b.mem_init();
    run_sequence(0x0dd_ba11, b, 160);
}
