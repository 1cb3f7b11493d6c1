//! Tests of `map_mem` under 6.12's rules: the banks around the NOMAP text alias and
//! KFENCE pool, then the text alias with blocks and `PAGE_KERNEL`, then the pool; and
//! what `mark_rodata_ro` and `set_memory_valid` do there (docs/versions-6.12.md, A5-A8,
//! A16).

use super::*;
use crate::descriptor::*;
use crate::granule::{Granule, Level};
use crate::pgtable::HostEnv;
use crate::pgtable_prot::PAGE_KERNEL_RO;
use crate::split::BootState;
use crate::testutil::*;
use crate::version::Rules;
use crate::walk::linear_map;

/// The text alias before it is made read-only: `PAGE_KERNEL`, MT_NORMAL (not tagged).
const TEXT: u64 = PAGE_KERNEL & LEAF_ATTR_MASK;
const RO: u64 = PAGE_KERNEL_RO & LEAF_ATTR_MASK;

fn boot_6_12(inputs: &MapMemInputs) -> (Mmu<HostEnv>, BootState) {
    let mut mmu = new_mmu(Granule::G4K);
    mmu.rules = Rules::V6_12;
    let requires = map_mem(&mut mmu, inputs).expect("map_mem");
    assert!(!requires, "6.12 has no linear_map_requires_bbml3");
    let leaves = leaves(&mmu);
    check_translation(&mmu, &leaves);
    check_cont_groups(&mmu, &leaves);
    (mmu, BootState::at_map_mem(false, inputs.policy()))
}

// rodata=on on a 6.12 tinyconfig build: rodata_full is false, so blocks and CONT in the
// banks (a BBML3 boot CPU changes nothing: 6.12 has no such feature). The text alias
// gets a PMD block and plain PTEs; there is no leaf boundary at __init_end or
// __bss_stop; mark_rodata_ro leaves the linear map alone.
#[test]
fn blocks_when_rodata_is_not_full() {
    let inputs = MapMemInputs { boot_cpu_bbml3: true, ..inputs(LAYOUT_2M_TEXT, bank_2g()) };
    let (mut mmu, boot) = boot_6_12(&inputs);
    let banks_then = |mmu: &Mmu<HostEnv>, text: u64| {
        alloc::vec![
            line(mmu, 0, 2 * M, Level::Pmd, false, RW),
            line(mmu, 2 * M, 4 * M, Level::Pmd, false, text),
            line(mmu, 4 * M, 0x4f_0000, Level::Pte, false, text),
            line(mmu, 0x4f_0000, 6 * M, Level::Pte, true, RW),
            line(mmu, 6 * M, 32 * M, Level::Pmd, false, RW),
            line(mmu, 32 * M, G, Level::Pmd, true, RW),
            line(mmu, G, 2 * G, Level::Pud, false, RW),
        ]
    };
    assert_map_eq(&linear_map(&mmu, 0), &banks_then(&mmu, TEXT));
    mmu.mark_linear_text_alias_ro(inputs.text.0, inputs.text.1).unwrap();
    assert_map_eq(&linear_map(&mmu, 0), &banks_then(&mmu, RO));
    mmu.mark_rodata_ro(&boot, inputs.data.0, inputs.data.1).unwrap();
    assert_map_eq(&linear_map(&mmu, 0), &banks_then(&mmu, RO));
    assert_eq!(mmu.env.warnings().count(), 0);
}

// rodata=full (or debug_pagealloc, or a late KFENCE pool): the banks are plain PTEs, but
// the text alias still gets its PMD block (only NO_CONT_MAPPINGS).
#[test]
fn text_alias_keeps_a_block_under_rodata_full() {
    let inputs = MapMemInputs { rodata_full: true, ..inputs(LAYOUT_2M_TEXT, bank_2g()) };
    let (mmu, _) = boot_6_12(&inputs);
    assert_map_eq(
        &linear_map(&mmu, 0),
        &[
            line(&mmu, 0, 2 * M, Level::Pte, false, RW),
            line(&mmu, 2 * M, 4 * M, Level::Pmd, false, TEXT),
            line(&mmu, 4 * M, 0x4f_0000, Level::Pte, false, TEXT),
            line(&mmu, 0x4f_0000, 2 * G, Level::Pte, false, RW),
        ],
    );
}

// The early KFENCE pool is NOMAP during the bank loop and mapped last, as plain PTEs.
#[test]
fn kfence_pool_mapped_last_as_ptes() {
    let pool = (PhysAddr(0x8000_0000), 2 * M);
    let inputs = MapMemInputs { kfence_pool: Some(pool), ..inputs(LAYOUT_2M_TEXT, bank_2g()) };
    let (mmu, _) = boot_6_12(&inputs);
    let lines = linear_map(&mmu, 0).lines;
    let base = mmu.page_offset().0;
    // The line holding offset `off`: (level, CONT, start, end) as offsets.
    let at = |off: u64| lines.iter().find(|l| l.start.0 <= base + off && base + off < l.end.0).map(|l| (l.level, l.cont, l.start.0 - base, l.end.0 - base));
    assert_eq!(at(G - M), Some((Level::Pmd, true, 32 * M, G)));
    assert_eq!(at(G), Some((Level::Pte, false, G, G + 2 * M)));
    assert_eq!(at(G + 2 * M), Some((Level::Pmd, false, G + 2 * M, G + 32 * M)));
    assert_eq!(at(G + 32 * M), Some((Level::Pmd, true, G + 32 * M, 2 * G)));
}

// 6.12's set_memory_valid() clears PTE_VALID alone: no PTE_PRESENT_INVALID bit.
#[test]
fn set_memory_valid_toggles_the_valid_bit_only() {
    let inputs = MapMemInputs { rodata_full: true, ..inputs(LAYOUT_2M_TEXT, bank_2g()) };
    let (mut mmu, boot) = boot_6_12(&inputs);
    let va = mmu.lm(PhysAddr(MEMSTART + 8 * M));
    let before = mmu.read(mmu.lookup(va).expect("mapped").entry);
    mmu.set_memory_valid(&boot, va, 1, false).unwrap();
    let lookup = mmu.lookup(va).expect("the entry is still there");
    assert_eq!(mmu.read(lookup.entry), before & !PTE_VALID);
    mmu.set_memory_valid(&boot, va, 1, true).unwrap();
    assert_eq!(mmu.read(mmu.lookup(va).expect("mapped").entry), before);
}
