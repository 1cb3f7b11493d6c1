//! Benchmarks, each a ratio against a baseline measured in the same run. Here `walk`
//! (walk + normalise against a plain sequential read of the same table pages and against
//! QMP `dump-guest-memory`, on one paused guest) and `trace`; `scale`, `jobs`, `page` and `review`
//! in their own files.

pub mod jobs;
pub mod page;
pub mod review;
pub mod scale;

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::error::{Context, Error, Result};
use linux_harness::{BootOutcome, EndAction};

use rust_impl::address::PhysAddr;

use crate::boot::boot_scenario;
use crate::capture::capture_checkpoints;
use crate::linux_side::guest_memory::{GuestMemory, MappedRam};
use crate::linux_side::kernel::GuestKernel;
use crate::linux_side::read_linux_side;
use crate::linux_side::walker::{walk_with, Normaliser, Visit, WalkVisitor};
use crate::prepare::Prepared;
use crate::timeline::Checkpoint;

/// Collects the table pages a walk reads.
struct Tables(Vec<PhysAddr>);

impl WalkVisitor for Tables {
    fn table(&mut self, pa: PhysAddr) {
        self.0.push(pa);
    }
    fn visit(&mut self, _: Visit) {}
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs the walk benchmark and returns the report text.
pub fn bench_walk(p: &Prepared, runs: usize) -> Result<String> {
    let boot = boot_scenario(p, EndAction::Wait, false)?;
    if boot.outcome != BootOutcome::Booted {
        return Err(Error::Usage(format!("the guest did not boot: {}", boot.outcome.summary())));
    }
    let guest = boot.guest.as_ref().context("no live guest")?;
    eprintln!("booted in {:.1}s; pausing and reading", boot.host_seconds);
    guest.pause()?;
    let mem = MappedRam::open(guest.ram_file(), PhysAddr(guest.ram_base())).map_err(|e| Error::io("mapping guest RAM", e))?;
    let gk = GuestKernel::attach(&mem, PhysAddr(guest.ram_base()), guest.ram_size(), p.kernel_info()?)?;
    let side = read_linux_side(&gk, None)?;
    let cfg = side.config;
    let (start, end) = (cfg.page_offset(), cfg.page_end());
    let mut tables = Tables(Vec::new());
    walk_with(&mem, cfg, start, end, &mut tables)?;
    let page = cfg.granule.page_size() as usize;

    let mut walk_times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let mut n = Normaliser::default();
        walk_with(&mem, cfg, start, end, &mut n)?;
        walk_times.push(t.elapsed());
        last = Some(black_box(n));
    }
    let n = last.context("no runs")?;
    let mut read_times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let mut sum = 0u64;
        for &pa in &tables.0 {
            for chunk in mem.bytes(pa, page)?.chunks_exact(8) {
                sum = sum.wrapping_add(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
            }
        }
        black_box(sum);
        read_times.push(t.elapsed());
    }
    let core = tempfile::Builder::new().prefix("lmo-bench-core-").tempfile_in("/var/tmp").map_err(|e| Error::io("creating a core file", e))?;
    let t = Instant::now();
    guest.dump_core(core.path())?;
    let dump_time = t.elapsed();
    drop(core);

    let (walk, read) = (median(walk_times), median(read_times));
    let mut s = String::new();
    let _ = writeln!(s, "guest: {} MiB, {} CPUs, -cpu {}, {}", p.scenario.machine.memory_mib, p.scenario.machine.cpus, p.scenario.machine.cpu_arg(), p.scenario.cmdline);
    let _ = writeln!(s, "linear map: {} leaves in {} table pages ({} MiB of tables) -> {} normalised lines", n.leaves, tables.0.len(), (tables.0.len() * page) >> 20, n.map.lines.len());
    let _ = writeln!(s, "walk + normalise (median of {runs}): {:.2} ms", walk.as_secs_f64() * 1e3);
    let _ = writeln!(s, "plain sequential read of the same table pages (median of {runs}): {:.2} ms", read.as_secs_f64() * 1e3);
    let _ = writeln!(s, "QMP dump-guest-memory to disk (once): {:.2} s", dump_time.as_secs_f64());
    let _ = writeln!(s, "ratio walk / plain read: {:.2}x (target: at most 2x)", walk.as_secs_f64() / read.as_secs_f64());
    let _ = writeln!(s, "ratio walk / dump-guest-memory: {:.2e}x (the walk is {:.0}x faster)", walk.as_secs_f64() / dump_time.as_secs_f64(), dump_time.as_secs_f64() / walk.as_secs_f64());
    Ok(s)
}

/// `oracle bench trace SCENARIO`: the cost of checkpoints and tracing, as the ratio of
/// the median wall time of a boot to /init with every checkpoint and the call trace to
/// that of the same boot without them, measured alternately in one run.
pub fn bench_trace(p: &Prepared, runs: usize) -> Result<String> {
    let all = Checkpoint::ALL;
    let (mut plain, mut traced) = (Vec::new(), Vec::new());
    let mut calls = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let boot = boot_scenario(p, EndAction::Wait, false)?;
        if boot.outcome != BootOutcome::Booted {
            return Err(Error::Usage(format!("the guest did not boot: {}", boot.outcome.summary())));
        }
        plain.push(t.elapsed());
        drop(boot);
        let t = Instant::now();
        let capture = capture_checkpoints(p, &all, true)?;
        traced.push(t.elapsed());
        calls = capture.trace.len();
    }
    let (plain, traced) = (median(plain), median(traced));
    let mut s = String::new();
    let _ = writeln!(s, "guest: {} ({} MiB, {} CPUs, -cpu {}, {})", p.scenario.name, p.scenario.machine.memory_mib, p.scenario.machine.cpus, p.scenario.machine.cpu_arg(), p.scenario.cmdline);
    let _ = writeln!(s, "boot to /init without checkpoints (median of {runs}): {:.3} s", plain.as_secs_f64());
    let _ = writeln!(s, "boot to /init with {} checkpoints and the call trace ({calls} calls) (median of {runs}): {:.3} s", all.len(), traced.as_secs_f64());
    let _ = writeln!(s, "ratio traced / plain: {:.2}x (target: at most 1.5x)", traced.as_secs_f64() / plain.as_secs_f64());
    Ok(s)
}

/// `oracle bench host`: boots of a realm scenario under the strict host (partial
/// progress on every RIPAS change, poison scrubbing) against the same boots under the
/// default host that accepts every request whole, in the same run; prints the median
/// times to /init, their ratio and the RSI_IPA_STATE_SET calls each made.
pub fn bench_host(p: &Prepared, runs: usize) -> Result<String> {
    use linux_harness::machine::{HostSpec, ScrubSpec};
    let Some(realm) = &p.scenario.machine.realm else {
        return Err(Error::Usage(format!("{}: bench host needs a realm scenario", p.file.display())));
    };
    let strict_host = HostSpec { seed: 7, partial_progress: true, scrub: ScrubSpec::Poison, ..HostSpec::default() };
    let machine = |host: Option<HostSpec>| {
        let mut m = p.scenario.machine.clone();
        m.realm = Some(linux_harness::machine::RealmSpec { host, ..realm.clone() });
        m
    };
    let (plain_machine, strict_machine) = (machine(None), machine(Some(strict_host)));
    let boot_one = |m: &linux_harness::machine::MachineSpec| -> Result<(Duration, usize)> {
        let req = linux_harness::BootRequest { machine: m, ..p.boot_request(EndAction::Wait) };
        let t = Instant::now();
        let boot = linux_harness::boot(&req).with_context(|| format!("{}: booting", p.file.display()))?;
        let elapsed = t.elapsed();
        if boot.outcome != BootOutcome::Booted {
            return Err(Error::Usage(format!("the guest did not boot: {}", boot.outcome.summary())));
        }
        let log = boot.guest.as_ref().and_then(|g| g.monitor_log()).context("no monitor log")?.context("reading the monitor log")?;
        let events = crate::linux_side::monitor_log::MonitorEvents::from_view(&log.view().map_err(|e| Error::Usage(format!("the monitor log: {e}")))?);
        let calls = events.of_kind(lmo_monitor::eventlog::Kind::Rsi).filter(|r| r.rsi_fid_status().0 == lmo_monitor::smccc::RSI_IPA_STATE_SET).count();
        Ok((elapsed, calls))
    };
    let (mut plain, mut strict) = (Vec::new(), Vec::new());
    let (mut plain_calls, mut strict_calls) = (0, 0);
    for _ in 0..runs {
        let (t, n) = boot_one(&plain_machine)?;
        plain.push(t);
        plain_calls = n;
        let (t, n) = boot_one(&strict_machine)?;
        strict.push(t);
        strict_calls = n;
    }
    let (plain, strict) = (median(plain), median(strict));
    let mut s = String::new();
    let _ = writeln!(s, "guest: {} ({} MiB, {} CPUs, realm with a {}-bit IPA, {})", p.scenario.name, p.scenario.machine.memory_mib, p.scenario.machine.cpus, realm.ipa_bits, p.scenario.cmdline);
    let _ = writeln!(s, "boot to /init, host accepts every request whole (median of {runs}): {:.3} s, {plain_calls} RSI_IPA_STATE_SET calls", plain.as_secs_f64());
    let _ = writeln!(s, "boot to /init, host with partial progress and poison scrubbing (median of {runs}): {:.3} s, {strict_calls} RSI_IPA_STATE_SET calls", strict.as_secs_f64());
    let _ = writeln!(s, "ratio strict host / plain host: {:.2}x", strict.as_secs_f64() / plain.as_secs_f64());
    Ok(s)
}
