//! The EL2 monitor's event log read from its RAM: typed records, a line per record for
//! people, and the realm's shared (RIPAS EMPTY) RAM as the RSI calls left it.

use lmo_monitor::eventlog::{Kind, LogView, Record};
use rust_impl::address::PhysAddr;
use lmo_monitor::smccc::{self, RSI_ACCEPT, RSI_CHANGE_DESTROYED, RSI_IPA_STATE_SET, RSI_SUCCESS};
use rust_impl::rsi::{HostAnswer, Ripas, StateSetAnswer};

/// The records of one monitor run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MonitorEvents {
    pub records: Vec<Record>,
    /// Records lost because the log was full.
    pub dropped: u32,
}

impl MonitorEvents {
    pub fn from_view(view: &LogView) -> MonitorEvents {
        MonitorEvents { records: view.records().collect(), dropped: view.dropped() }
    }

    /// The records claimed before position `mark` (the log length at a checkpoint).
    pub fn before(&self, mark: u32) -> MonitorEvents {
        MonitorEvents { records: self.records.iter().filter(|r| r.seq < mark).copied().collect(), dropped: self.dropped }
    }

    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Record> {
        self.records.iter().filter(move |r| r.kind() == Some(kind))
    }

    /// RSI_IPA_STATE_SET calls that succeeded: `[base, new_base)` set to RIPAS `ripas`
    /// (accepted, or the prefix a refusing host converted), with whether
    /// RSI_CHANGE_DESTROYED was passed (the flag of `set_memory_{en,de}crypted()`;
    /// `arm64_rsi_setup_memory()` passes none).
    pub fn ipa_state_changes(&self) -> Vec<RipasChange> {
        self.of_kind(Kind::Rsi)
            .filter(|r| r.rsi_fid_status() == (RSI_IPA_STATE_SET, RSI_SUCCESS as u32))
            .map(|r| RipasChange { start: PhysAddr(r.args[1]), end: PhysAddr(r.args[5]), empty: r.args[3] == 0, change_destroyed: r.args[4] & RSI_CHANGE_DESTROYED != 0 })
            .filter(|c| c.start < c.end)
            .collect()
    }

    /// Every RSI_IPA_STATE_SET request to set a range to RAM or EMPTY and how the host
    /// answered it, in order: what the model's realm host answers with
    /// ([`rust_impl::rsi::HostRsi::replaying`]).
    pub fn host_answers(&self) -> Vec<HostAnswer> {
        self.of_kind(Kind::Rsi)
            .filter(|r| r.rsi_fid_status().0 == RSI_IPA_STATE_SET && r.args[3] <= 1)
            .map(|r| HostAnswer {
                base: PhysAddr(r.args[1]),
                top: PhysAddr(r.args[2]),
                ripas: if r.args[3] == 0 { Ripas::Empty } else { Ripas::Ram },
                answer: StateSetAnswer { status: r.rsi_fid_status().1 as u64, top: PhysAddr(r.args[5]), accepted: r.args[6] == RSI_ACCEPT },
            })
            .collect()
    }

    /// The PA ranges whose RIPAS is EMPTY after every change in the log, from a realm
    /// whose RAM all started as RAM (how the monitor creates it).
    pub fn empty_ranges(&self) -> Vec<(PhysAddr, PhysAddr)> {
        empty_after(self.ipa_state_changes().iter().map(|c| (c.start, c.end, c.empty))).ranges
    }
}

/// One accepted RSI_IPA_STATE_SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct RipasChange {
    pub start: PhysAddr,
    pub end: PhysAddr,
    /// RIPAS EMPTY (shared) rather than RAM.
    pub empty: bool,
    pub change_destroyed: bool,
}

/// The RIPAS EMPTY ranges left by `(start, end, to_empty)` changes, in order, from a
/// realm whose RAM all started as RAM.
pub fn empty_after(changes: impl IntoIterator<Item = (PhysAddr, PhysAddr, bool)>) -> RangeSet {
    let mut set = RangeSet::default();
    for (start, end, empty) in changes {
        if empty {
            set.insert(start, end);
        } else {
            set.remove(start, end);
        }
    }
    set
}

/// Sorted, disjoint, non-adjacent half-open ranges of (intermediate) physical addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    pub ranges: Vec<(PhysAddr, PhysAddr)>,
}

impl RangeSet {
    pub fn insert(&mut self, start: PhysAddr, end: PhysAddr) {
        let (mut s, mut e) = (start, end);
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            if b < s || a > e {
                out.push((a, b));
            } else {
                s = s.min(a);
                e = e.max(b);
            }
        }
        out.push((s, e));
        out.sort_unstable();
        self.ranges = out;
    }

    pub fn remove(&mut self, start: PhysAddr, end: PhysAddr) {
        let mut out = Vec::with_capacity(self.ranges.len() + 1);
        for &(a, b) in &self.ranges {
            if b <= start || a >= end {
                out.push((a, b));
                continue;
            }
            if a < start {
                out.push((a, start));
            }
            if b > end {
                out.push((end, b));
            }
        }
        self.ranges = out;
    }

    pub fn from_ranges(ranges: impl IntoIterator<Item = (PhysAddr, PhysAddr)>) -> RangeSet {
        let mut s = RangeSet::default();
        for (a, b) in ranges {
            if a < b {
                s.insert(a, b);
            }
        }
        s
    }

    /// Ranges in `self` but not in `other`.
    pub fn minus(&self, other: &RangeSet) -> RangeSet {
        let mut s = self.clone();
        for &(a, b) in &other.ranges {
            s.remove(a, b);
        }
        s
    }

    /// Ranges in both.
    pub fn intersect(&self, other: &RangeSet) -> RangeSet {
        self.minus(&self.minus(other))
    }
}

/// One record, as a line for people.
pub fn describe(r: &Record) -> String {
    let a = r.args;
    let body = match r.kind() {
        Some(Kind::Boot) => format!("monitor started: Linux at {:#x}, DTB at {:#x}, {} CPU(s), realm {}", a[0], a[1], a[2], if a[3] != 0 { format!("on ({}-bit IPA)", a[4]) } else { "off".into() }),
        Some(Kind::CpuEnter) => format!("enters Linux at {:#x} (x0 {:#x}), MPIDR {:#x}, shows MIDR {:#010x} BBM {}", a[1], a[2], a[0], a[3], a[4]),
        Some(Kind::Psci) => format!("{}({:#x}, {:#x}, {:#x}) = {}", smccc::name(a[0] as u32), a[1], a[2], a[3], a[4] as i64),
        Some(Kind::Rsi) => {
            let (fid, status) = r.rsi_fid_status();
            let name = smccc::name(fid);
            match fid {
                smccc::RSI_IPA_STATE_SET => format!(
                    "{name} [{:#x}, {:#x}) -> {} flags {:#x}: status {status}, new base {:#x}, {}",
                    a[1],
                    a[2],
                    ripas_name(a[3]),
                    a[4],
                    a[5],
                    if a[6] == RSI_ACCEPT { "accepted" } else { "rejected" }
                ),
                smccc::RSI_IPA_STATE_GET => format!("{name} [{:#x}, {:#x}): status {status}, {} up to {:#x}", a[1], a[2], ripas_name(a[6]), a[5]),
                _ => format!("{name}({:#x}, {:#x}): status {status}", a[1], a[2]),
            }
        }
        Some(Kind::Stage2Fault) => format!(
            "stage-2 fault at IPA {:#x} ({} at VA {:#x}, PC {:#x}, ESR_EL2 {:#x}): external abort injected",
            a[0],
            if a[4] != 0 { "instruction fetch" } else { "data access" },
            a[1],
            a[2],
            a[3]
        ),
        Some(Kind::IdMmfr2) => format!("ID_AA64MMFR2_EL1 read at PC {:#x}: {:#x} shown (CPU has {:#x})", a[2], a[1], a[0]),
        Some(Kind::Unsupported) => format!("unimplemented {} {:#x}({:#x}, {:#x}, {:#x}): NOT_SUPPORTED", if a[4] != 0 { "HVC" } else { "SMC" }, a[0], a[1], a[2], a[3]),
        None => format!("unknown record kind {} {a:x?}", r.kind),
    };
    format!("#{:<5} CPU {} {body}", r.seq, r.cpu)
}

fn ripas_name(v: u64) -> &'static str {
    match v {
        0 => "EMPTY",
        1 => "RAM",
        2 => "DESTROYED",
        3 => "DEV",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsi_set(seq: u32, start: u64, end: u64, ripas: u64, flags: u64) -> Record {
        Record { seq, cpu: 0, kind: Kind::Rsi as u16, args: [RSI_IPA_STATE_SET as u64, start, end, ripas, flags, end, RSI_ACCEPT] }
    }

    #[test]
    fn empty_ranges_follow_the_calls() {
        let ev = MonitorEvents {
            records: vec![
                rsi_set(0, 0x8000_0000, 0x1_0000_0000, 1, 0),
                rsi_set(1, 0x8084_0000, 0x8085_0000, 0, 1),
                rsi_set(2, 0x8085_0000, 0x8086_0000, 0, 1),
                rsi_set(3, 0xfda0_0000, 0xfdc0_0000, 0, 1),
                rsi_set(4, 0x8084_0000, 0x8084_1000, 1, 1),
            ],
            dropped: 0,
        };
        let pa = |v: &[(u64, u64)]| v.iter().map(|&(a, b)| (PhysAddr(a), PhysAddr(b))).collect::<Vec<_>>();
        assert_eq!(ev.empty_ranges(), pa(&[(0x8084_1000, 0x8086_0000), (0xfda0_0000, 0xfdc0_0000)]));
        assert_eq!(ev.before(2).empty_ranges(), pa(&[(0x8084_0000, 0x8085_0000)]));
        assert_eq!(ev.ipa_state_changes().iter().filter(|c| c.change_destroyed).count(), 4);
    }

    #[test]
    fn range_set_merges_and_cuts() {
        let mut s = RangeSet::default();
        let p = PhysAddr;
        s.insert(p(10), p(20));
        s.insert(p(30), p(40));
        s.insert(p(20), p(30));
        assert_eq!(s.ranges, vec![(p(10), p(40))]);
        s.remove(p(15), p(25));
        assert_eq!(s.ranges, vec![(p(10), p(15)), (p(25), p(40))]);
    }
}
