//! The boot timeline, typed: the named checkpoints (one table gives each its name, the
//! kernel point where the guest stops and where the model's replay stands) and the kernel
//! functions the call tracer records. Names are compared only when parsing and printing.
//! docs/boot-timeline.md explains each point.

use rust_impl::version::Rules;

use crate::named::{by_name, Named};

/// A named boot checkpoint, in timeline order (`Ord` is boot order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Checkpoint {
    AfterMapMem,
    AfterRsiInit,
    MemInit,
    BeforeSmp,
    CapsFinalized,
    AfterRepaint,
    AfterRodataRo,
    EndOfBoot,
}

/// Where a checkpoint stops the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// At the entry of a function.
    Entry(&'static str),
    /// When a function returns (a one-shot breakpoint at the return address).
    Return(&'static str),
    /// Where the kernel's own ptdump walk for `/init` ends (`note_page_flush`).
    PtdumpWalk,
}

/// The model's replay, step by step (docs/boot-timeline.md): a checkpoint is compared
/// with the model after the last step that happens before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// map_mem() built the linear map (arch/arm64/mm/mmu.c:1180); arm64_rsi_init() found
    /// the realm, if any.
    MapMem,
    /// mem_init() set page_alloc_available (arch/arm64/mm/init.c:383).
    MemInit,
    /// kfence_init() protected the pool's guard pages (init/main.c:1109).
    KfenceInit,
    /// Secondaries online and the capabilities final (arch/arm64/kernel/cpufeature.c:4040).
    CapsFinalized,
    /// linear_map_maybe_split_to_ptes() (arch/arm64/mm/mmu.c:1003).
    Repaint,
    /// mark_linear_text_alias_ro(), the initcalls and mark_rodata_ro().
    RodataRo,
}

/// One row of the timeline.
struct Row {
    name: &'static str,
    anchor: Anchor,
    stage: Stage,
}

/// The timeline: every checkpoint, in boot order (row i is `Checkpoint::ALL[i]`).
const TIMELINE: [Row; 8] = [
    Row { name: "after-map-mem", anchor: Anchor::Return("paging_init"), stage: Stage::MapMem },
    Row { name: "after-rsi-init", anchor: Anchor::Return("arm64_rsi_init"), stage: Stage::MapMem },
    Row { name: "mem-init", anchor: Anchor::Return("mem_init"), stage: Stage::MemInit },
    Row { name: "before-smp", anchor: Anchor::Entry("smp_init"), stage: Stage::KfenceInit },
    Row { name: "caps-finalized", anchor: Anchor::Entry("linear_map_maybe_split_to_ptes"), stage: Stage::CapsFinalized },
    Row { name: "after-repaint", anchor: Anchor::Return("linear_map_maybe_split_to_ptes"), stage: Stage::Repaint },
    Row { name: "after-rodata-ro", anchor: Anchor::Return("mark_rodata_ro"), stage: Stage::RodataRo },
    Row { name: "end-of-boot", anchor: Anchor::PtdumpWalk, stage: Stage::RodataRo },
];

impl Checkpoint {
    /// Every checkpoint, in boot order.
    pub const ALL: [Checkpoint; 8] = [
        Checkpoint::AfterMapMem,
        Checkpoint::AfterRsiInit,
        Checkpoint::MemInit,
        Checkpoint::BeforeSmp,
        Checkpoint::CapsFinalized,
        Checkpoint::AfterRepaint,
        Checkpoint::AfterRodataRo,
        Checkpoint::EndOfBoot,
    ];

    fn row(self) -> &'static Row {
        &TIMELINE[self as usize]
    }
    pub fn name(self) -> &'static str {
        Named::name(self)
    }
    /// Where the checkpoint stops the guest on 7.2 and 7.3.
    pub fn anchor(self) -> Anchor {
        self.row().anchor
    }
    /// Where the checkpoint stops the guest on a kernel with `rules`. 6.12 has no
    /// `arm64_rsi_init()` or `linear_map_maybe_split_to_ptes()`; the same points of its
    /// boot are the return of `psci_dt_init()` (where 7.3 calls `arm64_rsi_init()`,
    /// arch/arm64/kernel/setup.c:351-355 in 7.3), the return of `setup_system_features()`
    /// (which 7.3 ends with the repaint, cpufeature.c:4044) and the entry of
    /// `mark_linear_text_alias_ro()` (6.12 arch/arm64/kernel/smp.c:450-452; only
    /// `setup_user_features()` runs between): docs/versions-6.12.md, table B.
    pub fn anchor_on(self, rules: Rules) -> Anchor {
        match (rules, self) {
            (Rules::V6_12, Checkpoint::AfterRsiInit) => Anchor::Return("psci_dt_init"),
            (Rules::V6_12, Checkpoint::CapsFinalized) => Anchor::Return("setup_system_features"),
            (Rules::V6_12, Checkpoint::AfterRepaint) => Anchor::Entry("mark_linear_text_alias_ro"),
            _ => self.anchor(),
        }
    }
    pub fn stage(self) -> Stage {
        self.row().stage
    }
}

impl Named for Checkpoint {
    const WHAT: &'static str = "checkpoint";
    fn all() -> &'static [Checkpoint] {
        &Checkpoint::ALL
    }
    fn name(self) -> &'static str {
        self.row().name
    }
}

by_name!(Checkpoint);

/// A kernel function the call tracer records (docs/boot-timeline.md lists who calls each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TracedFn {
    SplitKernelLeafMapping,
    ChangeMemoryCommon,
    SetMemoryValid,
    SetMemoryRo,
    SetMemoryRw,
    SetMemoryNx,
    SetMemoryX,
    SetMemoryDecrypted,
    SetMemoryEncrypted,
    SetMemoryEncDec,
    SetDirectMapInvalidNoflush,
    SetDirectMapDefaultNoflush,
    SetDirectMapValidNoflush,
    /// The stop_machine repaint callback, on every online CPU.
    LinearMapSplitToPtes,
}

/// Each traced function's symbol and how many of its arguments are recorded.
const TRACED: [(TracedFn, &str, usize); 14] = [
    (TracedFn::SplitKernelLeafMapping, "split_kernel_leaf_mapping", 2),
    (TracedFn::ChangeMemoryCommon, "__change_memory_common", 4),
    (TracedFn::SetMemoryValid, "set_memory_valid", 3),
    (TracedFn::SetMemoryRo, "set_memory_ro", 2),
    (TracedFn::SetMemoryRw, "set_memory_rw", 2),
    (TracedFn::SetMemoryNx, "set_memory_nx", 2),
    (TracedFn::SetMemoryX, "set_memory_x", 2),
    (TracedFn::SetMemoryDecrypted, "set_memory_decrypted", 2),
    (TracedFn::SetMemoryEncrypted, "set_memory_encrypted", 2),
    (TracedFn::SetMemoryEncDec, "__set_memory_enc_dec", 3),
    (TracedFn::SetDirectMapInvalidNoflush, "set_direct_map_invalid_noflush", 1),
    (TracedFn::SetDirectMapDefaultNoflush, "set_direct_map_default_noflush", 1),
    (TracedFn::SetDirectMapValidNoflush, "set_direct_map_valid_noflush", 3),
    (TracedFn::LinearMapSplitToPtes, "linear_map_split_to_ptes", 1),
];

impl TracedFn {
    /// The kernel symbol.
    pub fn symbol(self) -> &'static str {
        Named::name(self)
    }
    /// How many arguments (x0, x1, ...) are recorded.
    pub fn nargs(self) -> usize {
        TRACED[self as usize].2
    }
    /// A realm's sharing and unsharing calls, which the replay applies to the map.
    pub fn is_enc_dec(self) -> bool {
        matches!(self, TracedFn::SetMemoryDecrypted | TracedFn::SetMemoryEncrypted)
    }
}

/// Every traced function, in enum order.
const TRACED_FNS: [TracedFn; 14] = [
    TracedFn::SplitKernelLeafMapping,
    TracedFn::ChangeMemoryCommon,
    TracedFn::SetMemoryValid,
    TracedFn::SetMemoryRo,
    TracedFn::SetMemoryRw,
    TracedFn::SetMemoryNx,
    TracedFn::SetMemoryX,
    TracedFn::SetMemoryDecrypted,
    TracedFn::SetMemoryEncrypted,
    TracedFn::SetMemoryEncDec,
    TracedFn::SetDirectMapInvalidNoflush,
    TracedFn::SetDirectMapDefaultNoflush,
    TracedFn::SetDirectMapValidNoflush,
    TracedFn::LinearMapSplitToPtes,
];

impl Named for TracedFn {
    const WHAT: &'static str = "traced function";
    fn all() -> &'static [TracedFn] {
        &TRACED_FNS
    }
    fn name(self) -> &'static str {
        TRACED[self as usize].1
    }
}

by_name!(TracedFn);

/// The functions the call tracer and the checkpoints stop in, by name.
pub fn traced_and_anchor_functions() -> Vec<&'static str> {
    let anchors = Checkpoint::ALL.iter().flat_map(|c| Rules::ALL.map(|r| c.anchor_on(r))).filter_map(|a| match a {
        Anchor::Entry(f) | Anchor::Return(f) => Some(f),
        Anchor::PtdumpWalk => None,
    });
    let mut names: Vec<&'static str> = TRACED.iter().map(|t| t.1).chain(anchors).collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_in_enum_order() {
        for (i, r) in TIMELINE.iter().enumerate() {
            assert_eq!(Checkpoint::ALL[i] as usize, i);
            assert_eq!(Checkpoint::parse(r.name), Some(Checkpoint::ALL[i]));
        }
        for (i, t) in TRACED.iter().enumerate() {
            assert_eq!(t.0 as usize, i);
            assert_eq!(TracedFn::parse(t.1), Some(t.0));
            assert_eq!(TRACED_FNS[i], t.0);
        }
        // Boot order and replay order agree.
        assert!(Checkpoint::ALL.windows(2).all(|w| w[0].stage() <= w[1].stage()));
        assert_eq!(Checkpoint::parse("end-of-boat"), None);
    }
}
