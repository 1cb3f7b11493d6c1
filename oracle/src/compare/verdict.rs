//! The verdict of one scenario against what it expects, and the exit status of a run.

use crate::compare::Outcome;
use crate::diff_class::{DiffClass, Side};
use crate::timeline::Checkpoint;
use crate::scenario::Expect;

/// How one scenario came out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Linux and the model agree, as expected.
    Match,
    /// They diverge, as the scenario says they do.
    ExpectedDivergence,
    /// They diverge (or the kernel WARNed) where the scenario expects a match.
    UnexpectedDivergence,
    /// The scenario expects a divergence that is no longer there.
    DivergenceDisappeared,
    /// The kernel panicked (or oopsed and hung) where the scenario expects it to boot:
    /// a kernel outcome, with the panic text and what was read before it.
    KernelFailure(String),
    /// The kernel failed as the scenario expects it to (the failure text).
    ExpectedKernelFailure(String),
    /// The scenario expects the kernel to fail, and it booted.
    KernelFailureGone,
    /// Patch, build, QEMU, walker or model failure: no verdict on the kernel.
    Infrastructure(String),
    /// The scenario says it does not run on this kernel version (the reason given).
    NotRun(String),
}

impl Verdict {
    pub fn as_expected(&self) -> bool {
        matches!(self, Verdict::Match | Verdict::ExpectedDivergence | Verdict::ExpectedKernelFailure(_) | Verdict::NotRun(_))
    }
    /// The first line of why there is no verdict on the kernel, or of how it failed.
    pub fn why(&self) -> &str {
        match self {
            Verdict::KernelFailure(why) | Verdict::ExpectedKernelFailure(why) | Verdict::Infrastructure(why) | Verdict::NotRun(why) => why.lines().next().unwrap_or(""),
            _ => "",
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Match => "match",
            Verdict::ExpectedDivergence => "diverges as expected",
            Verdict::UnexpectedDivergence => "UNEXPECTED DIVERGENCE",
            Verdict::DivergenceDisappeared => "EXPECTED DIVERGENCE GONE",
            Verdict::KernelFailure(_) => "KERNEL FAILURE",
            Verdict::Infrastructure(_) => "INFRASTRUCTURE FAILURE",
            Verdict::NotRun(_) => "not run",
            Verdict::ExpectedKernelFailure(_) => "fails as expected",
            Verdict::KernelFailureGone => "EXPECTED KERNEL FAILURE GONE",
        }
    }
}

/// One divergence as the verdict weighs it: where, of which classes, on which side.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    pub checkpoint: Checkpoint,
    pub classes: &'a [DiffClass],
    pub side: Option<Side>,
}

/// The verdict for a scenario's expectation, given each divergence (of the maps, or of
/// the realm's shared memory) and the number of WARN blocks in the kernel log.
pub fn verdict(expect: &Expect, divergences: &[Found<'_>], kernel_warnings: usize) -> Verdict {
    match expect {
        Expect::Match if divergences.is_empty() && kernel_warnings == 0 => Verdict::Match,
        Expect::Match => Verdict::UnexpectedDivergence,
        Expect::KernelFailure { .. } => Verdict::KernelFailureGone,
        Expect::Diverge { .. } if divergences.is_empty() => Verdict::DivergenceDisappeared,
        Expect::Diverge { classes, at, side, .. } => {
            let outside = |d: &Found<'_>| {
                (!classes.is_empty() && d.classes.iter().any(|c| !classes.contains(c)))
                    || (!at.is_empty() && !at.contains(&d.checkpoint))
                    || side.is_some_and(|s| d.side != Some(s))
            };
            if kernel_warnings > 0 || divergences.iter().any(outside) {
                Verdict::UnexpectedDivergence
            } else {
                Verdict::ExpectedDivergence
            }
        }
    }
}

/// The verdict on a kernel that failed before the boot was over (`panic`: what the
/// kernel printed when it failed; `why`: that and what was read before it): as expected
/// when the scenario expects a failure whose every `log` text is in `panic`.
pub fn failure_verdict(expect: &Expect, panic: &str, why: String) -> Verdict {
    match expect {
        Expect::KernelFailure { log, .. } if log.iter().all(|l| panic.contains(l.as_str())) => Verdict::ExpectedKernelFailure(why),
        _ => Verdict::KernelFailure(why),
    }
}

/// Exit status for a set of outcomes: 2 if any infrastructure failure, else 1 if any
/// verdict is not as expected, else 0.
pub fn exit_code(outcomes: &[Outcome]) -> u8 {
    if outcomes.iter().any(|o| matches!(o.verdict, Verdict::Infrastructure(_))) {
        2
    } else if outcomes.iter().any(|o| !o.verdict.as_expected()) {
        1
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff_class::DiffClass::{self, *};
    use rstest::rstest;

    /// `None`: the scenario expects a match; `Some(classes)`: a divergence of those.
    fn expect(classes: Option<Vec<DiffClass>>) -> Expect {
        match classes {
            None => Expect::Match,
            Some(classes) => Expect::Diverge { what: "w".into(), why: "y".into(), classes, at: vec![], side: None },
        }
    }

    #[rstest]
    #[case::clean_match(None, vec![], 0, Verdict::Match)]
    #[case::unexpected(None, vec![vec![Granularity]], 0, Verdict::UnexpectedDivergence)]
    // A WARN where a clean boot is expected is a kernel outcome.
    #[case::warn_is_unexpected(None, vec![], 1, Verdict::UnexpectedDivergence)]
    #[case::expected(Some(vec![Presence]), vec![vec![Presence]], 0, Verdict::ExpectedDivergence)]
    // A divergence of a class the entry does not name is still unexpected.
    #[case::other_class(Some(vec![Presence]), vec![vec![Presence, Attributes]], 0, Verdict::UnexpectedDivergence)]
    #[case::any_class(Some(vec![]), vec![vec![Shared]], 0, Verdict::ExpectedDivergence)]
    #[case::warn_with_divergence(Some(vec![Presence]), vec![vec![Presence]], 1, Verdict::UnexpectedDivergence)]
    // An expected divergence that went away is reported.
    #[case::gone(Some(vec![Presence]), vec![], 0, Verdict::DivergenceDisappeared)]
    fn verdicts(#[case] classes: Option<Vec<DiffClass>>, #[case] divergences: Vec<Vec<DiffClass>>, #[case] warns: usize, #[case] want: Verdict) {
        let divs: Vec<Found<'_>> = divergences.iter().map(|c| Found { checkpoint: Checkpoint::EndOfBoot, classes: c, side: None }).collect();
        let got = verdict(&expect(classes), &divs, warns);
        assert_eq!(got, want);
        assert_eq!(got.as_expected(), matches!(want, Verdict::Match | Verdict::ExpectedDivergence));
    }

    /// A narrow expectation: only at the checkpoints it names, only on the side it names.
    #[test]
    fn narrow_expectations() {
        use Checkpoint::*;
        let e = Expect::Diverge { what: "w".into(), why: "y".into(), classes: vec![Presence], at: vec![MemInit, EndOfBoot], side: Some(Side::ModelOnly) };
        let found = |checkpoint, side| Found { checkpoint, classes: &[Presence], side };
        assert_eq!(verdict(&e, &[found(MemInit, Some(Side::ModelOnly)), found(EndOfBoot, Some(Side::ModelOnly))], 0), Verdict::ExpectedDivergence);
        assert_eq!(verdict(&e, &[found(AfterMapMem, Some(Side::ModelOnly))], 0), Verdict::UnexpectedDivergence, "a checkpoint not named");
        assert_eq!(verdict(&e, &[found(MemInit, Some(Side::LinuxOnly))], 0), Verdict::UnexpectedDivergence, "the other side");
        assert_eq!(verdict(&e, &[found(MemInit, None)], 0), Verdict::UnexpectedDivergence, "neither side alone");
    }

    /// A failure the scenario expects is as expected only when its panic says every
    /// `log` text; a boot where a failure is expected is reported.
    #[test]
    fn expected_kernel_failures_are_narrow() {
        let e = Expect::KernelFailure { what: "w".into(), why: "y".into(), log: vec!["pc : build_slab_freelist".into(), "Attempted to kill init".into()] };
        let panic = "Kernel panic - not syncing: Attempted to kill init!\npc : build_slab_freelist+0x88/0x90".to_string();
        assert_eq!(failure_verdict(&e, &panic, panic.clone()), Verdict::ExpectedKernelFailure(panic.clone()));
        assert!(failure_verdict(&e, &panic, panic.clone()).as_expected());
        let other = "Kernel panic - not syncing: Attempted to kill init!\npc : kfree+0x10/0x40".to_string();
        assert_eq!(failure_verdict(&e, &other, other.clone()), Verdict::KernelFailure(other.clone()));
        // Only what the kernel printed counts, not what the oracle adds after it.
        let added = format!("{other}\nmonitor: pc : build_slab_freelist");
        assert_eq!(failure_verdict(&e, &other, added.clone()), Verdict::KernelFailure(added));
        assert_eq!(failure_verdict(&Expect::Match, &panic, panic.clone()), Verdict::KernelFailure(panic));
        assert_eq!(verdict(&e, &[], 0), Verdict::KernelFailureGone);
        assert!(!Verdict::KernelFailureGone.as_expected());
    }
}
