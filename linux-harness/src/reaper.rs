//! Makes sure no QEMU outlives the command that started it: every QEMU process group and
//! private run directory is registered here while it lives; a Ctrl-C or SIGTERM handler
//! kills and removes whatever is registered. Normal paths clean up through `Drop`, and
//! QEMU also gets SIGKILL from the kernel if its parent thread dies (PR_SET_PDEATHSIG).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, Once};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

enum Live {
    ProcessGroup(Pid),
    /// A build (make and its compilers): asked to stop first, so make deletes the
    /// targets it was writing and the next build starts from whole files.
    BuildGroup(Pid),
    RunDir(PathBuf),
}

static LIVE: Mutex<Vec<(u64, Live)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(1);

fn register(live: Live) -> u64 {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).push((id, live));
    id
}

pub(crate) fn register_process_group(pgid: Pid) -> u64 {
    register(Live::ProcessGroup(pgid))
}

pub(crate) fn register_build_group(pgid: Pid) -> u64 {
    register(Live::BuildGroup(pgid))
}

pub(crate) fn register_run_dir(dir: PathBuf) -> u64 {
    register(Live::RunDir(dir))
}

pub(crate) fn unregister(id: u64) {
    LIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|(i, _)| *i != id);
}

/// Kills every registered process group (builds are sent SIGTERM and given a few
/// seconds to clean up first), then removes every registered run directory.
pub fn reap_all() {
    let live = std::mem::take(&mut *LIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for (_, l) in &live {
        if let Live::BuildGroup(pgid) = l {
            let _ = killpg(*pgid, Signal::SIGTERM);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            // make exits once its recipes have died and it has deleted their targets.
            while std::time::Instant::now() < deadline
                && matches!(nix::sys::wait::waitpid(*pgid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)), Ok(nix::sys::wait::WaitStatus::StillAlive))
            {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
    for (_, l) in &live {
        if let Live::ProcessGroup(pgid) | Live::BuildGroup(pgid) = l {
            let _ = killpg(*pgid, Signal::SIGKILL);
            // The group leader is our child: reap it so no zombie is left either.
            let _ = nix::sys::wait::waitpid(*pgid, None);
        }
    }
    for (_, l) in live {
        if let Live::RunDir(dir) = l {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Set once Ctrl-C or SIGTERM has arrived; the handler is then reaping and will exit.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// If an interrupt is being handled, waits for the handler to end the process (with
/// 130), so work the interrupt cut short (a build whose make was stopped, a boot whose
/// QEMU was killed) is not reported as a failure of its own, or with another status.
pub fn wait_if_interrupted() {
    while INTERRUPTED.load(Ordering::SeqCst) {
        std::thread::park_timeout(std::time::Duration::from_secs(1));
    }
}

/// Installs (once) a Ctrl-C / SIGTERM handler that reaps everything and exits with 130.
pub fn install_interrupt_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            INTERRUPTED.store(true, Ordering::SeqCst);
            reap_all();
            eprintln!("interrupted: QEMU stopped and run directories removed");
            std::process::exit(130);
        });
    });
}
