//! Progress of a long run: a bar on a terminal (scenario i/N, what is running), plain
//! lines on stderr in CI (`CI` set) or when stderr is not a terminal.

use std::io::IsTerminal as _;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use oracle::results::{MatrixEntry, ScenarioResult};

pub struct Progress {
    bar: Option<ProgressBar>,
    total: usize,
    /// Scenarios running now.
    running: Mutex<Vec<String>>,
    finished: Mutex<usize>,
}

impl Progress {
    pub fn new(total: usize, jobs: usize) -> Progress {
        let interactive = std::io::stderr().is_terminal() && std::env::var_os("CI").is_none();
        let bar = interactive.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(ProgressStyle::with_template("[{elapsed_precise}] scenario {pos}/{len} ({prefix}) {wide_msg}").expect("static template"));
            bar.set_prefix(format!("-j{jobs}"));
            bar.enable_steady_tick(std::time::Duration::from_millis(250));
            bar
        });
        if bar.is_none() {
            eprintln!("running {total} scenario(s), {jobs} at a time");
        }
        Progress { bar, total, running: Mutex::new(Vec::new()), finished: Mutex::new(0) }
    }

    /// A scenario starts (preparing its kernel, then booting).
    pub fn started(&self, e: &MatrixEntry) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.push(e.scenario.clone());
        match &self.bar {
            Some(bar) => bar.set_message(format!("building/booting: {}", running.join(", "))),
            None => eprintln!("[{}/{}] {}: building (if not cached) and booting", *self.finished.lock().unwrap_or_else(|p| p.into_inner()) + running.len(), self.total, e.scenario),
        }
    }

    /// A scenario finished.
    pub fn finished(&self, r: &ScenarioResult) {
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.retain(|n| *n != r.scenario);
        let mut finished = self.finished.lock().unwrap_or_else(|p| p.into_inner());
        *finished += 1;
        match &self.bar {
            Some(bar) => {
                bar.set_position(*finished as u64);
                bar.set_message(format!("building/booting: {}", running.join(", ")));
            }
            None => eprintln!("[{}/{}] {}: {} in {:.0} s", *finished, self.total, r.scenario, r.verdict, r.seconds),
        }
    }

    /// Prints `text` on stdout without tearing the bar.
    pub fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| print!("{text}")),
            None => print!("{text}"),
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
