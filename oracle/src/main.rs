//! The `oracle` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use linux_harness::EndAction;
use oracle::{boot_cmd, prepare::prepare};

#[derive(Parser)]
#[command(name = "oracle", version, about = "Differential test oracle for the arm64 Linux linear map")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the scenario's kernel (cached), boot it and print a summary: kernel log
    /// highlights, detected CPU features, WARNs and the in-guest ptdump of the linear map.
    Boot {
        /// Scenario file (JSON, schema 1).
        scenario: PathBuf,
        /// Keep the run directory (RAM file, sockets, console log) and print its path.
        #[arg(long)]
        keep: bool,
    },
    /// Replay the scenario's boot through the Rust model and print the linear map it
    /// expects at the scenario's last checkpoint (the guest is booted once, for the
    /// memory layout and the other observed inputs).
    Model {
        /// Scenario file (JSON, schema 1).
        scenario: PathBuf,
    },
    /// For each scenario (files, or directories of *.json): diff the Linux side against
    /// the model and print a verdict line; exit 0 all as expected, 1 an unexpected
    /// divergence, 2 an infrastructure failure.
    Run {
        #[arg(required = true)]
        scenarios: Vec<PathBuf>,
        /// Also write the full results (divergences, model steps, call traces) as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Reproduce reported bugs: for each entry (files, or directories of *.json under
    /// corpora/reported), build and boot each run's kernel and check what the entry says
    /// it shows; print a report to paste into a mail. Exit 0 reproduced, 1 not, 2 an
    /// infrastructure failure.
    Repro {
        #[arg(required = true)]
        entries: Vec<PathBuf>,
    },
    /// Find the first patch of a series (a directory of format-patch files or an mbox)
    /// after which the scenario's verdict changes; prints it. Exit 0 when one is found,
    /// 1 when the verdict does not change.
    Bisect {
        /// Scenario file; the series is applied on top of its own kernel variant.
        scenario: PathBuf,
        #[arg(long)]
        series: PathBuf,
    },
    /// Benchmarks: `walk` times walking and normalising a paused guest's linear map
    /// against a plain read of the same table pages and against QMP dump-guest-memory;
    /// `trace` times a boot with every checkpoint and the call trace against the same
    /// boot without them.
    Bench {
        /// What to measure (`walk` or `trace`).
        what: String,
        /// Scenario file of the guest to measure (e.g. corpora/bench/walk-8g-pte.json).
        scenario: PathBuf,
        /// Repetitions per measurement (the median is reported).
        #[arg(long, default_value_t = 9)]
        runs: usize,
    },
    /// Boot the scenario, pause it at the end of boot and print its linear map as read
    /// from guest RAM (normalised), after checking the walk line for line against the
    /// kernel's own ptdump.
    Dump {
        /// Scenario file (JSON, schema 1).
        scenario: PathBuf,
        /// Read the map at this boot checkpoint instead of the end of boot (after-map-mem,
        /// after-rsi-init, mem-init, before-smp, caps-finalized, after-repaint,
        /// after-rodata-ro, end-of-boot), or at a source line: line:FILE:LINE (the first
        /// time the kernel reaches it, through the DWARF line table).
        #[arg(long, default_value = "end-of-boot")]
        checkpoint: String,
    },
}

fn main() -> ExitCode {
    // Printing into a closed pipe (`oracle run ... | head`) ends the program quietly,
    // as for any Unix filter, instead of panicking.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    linux_harness::reaper::install_interrupt_handler();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Boot { scenario, keep } => {
            let prepared = prepare(&scenario)?;
            let boot = boot_cmd::boot_scenario(&prepared, EndAction::Poweroff, keep)?;
            print!("{}", boot_cmd::summary(&prepared, &boot));
            if keep {
                println!("run directory kept: {}", boot.run_dir.display());
            }
            Ok(boot_cmd::exit_code(&boot.outcome) as u8)
        }
        Command::Model { scenario } => {
            let prepared = prepare(&scenario)?;
            let (_, results) = oracle::run_cmd::compare(&prepared)?;
            let last = results.last().ok_or_else(|| anyhow::anyhow!("the scenario names no checkpoint"))?;
            for step in &last.model.steps {
                eprintln!("model: {step}");
            }
            eprintln!("model: at {}", last.name);
            print!("{}", last.model.linear_map);
            Ok(0)
        }
        Command::Run { scenarios, json } => {
            let files = oracle::run_cmd::scenario_files(&scenarios)?;
            let mut outcomes = Vec::new();
            for f in &files {
                let o = oracle::run_cmd::run_one(f);
                print!("{}", oracle::run_cmd::report(&o));
                outcomes.push(o);
            }
            let ok = outcomes.iter().filter(|o| o.verdict.as_expected()).count();
            let infra = outcomes.iter().filter(|o| matches!(o.verdict, oracle::run_cmd::Verdict::Infrastructure(_))).count();
            println!("{} scenario(s): {ok} as expected, {} not as expected, {infra} infrastructure failure(s)", outcomes.len(), outcomes.len() - ok - infra);
            if let Some(path) = json {
                let all: Vec<serde_json::Value> = outcomes.iter().map(oracle::run_cmd::report_json).collect();
                std::fs::write(&path, serde_json::to_string_pretty(&all)?)?;
            }
            Ok(oracle::run_cmd::exit_code(&outcomes))
        }
        Command::Repro { entries } => {
            let mut all = Vec::new();
            for f in oracle::reported::entry_files(&entries)? {
                let r = oracle::repro_cmd::repro(&f)?;
                print!("{}", r.report());
                println!();
                all.push(r);
            }
            Ok(oracle::repro_cmd::exit_code(&all))
        }
        Command::Bisect { scenario, series } => {
            let b = oracle::bisect_cmd::bisect(&scenario, &series)?;
            print!("{}", b.report());
            Ok(if b.first_change.is_some() { 0 } else { 1 })
        }
        Command::Bench { what, scenario, runs } => {
            let prepared = prepare(&scenario)?;
            match what.as_str() {
                "walk" => print!("{}", oracle::bench::bench_walk(&prepared, runs.max(1))?),
                "trace" => print!("{}", oracle::bench::bench_trace(&prepared, runs.max(1))?),
                _ => anyhow::bail!("unknown benchmark {what:?}; known: walk, trace"),
            }
            Ok(0)
        }
        Command::Dump { scenario, checkpoint } if checkpoint != "end-of-boot" => {
            let prepared = prepare(&scenario)?;
            let mut capture = oracle::dump_cmd::capture_checkpoints(&prepared, std::slice::from_ref(&checkpoint), false)?;
            let side = capture.sides.remove(&checkpoint).ok_or_else(|| anyhow::anyhow!("no capture at {checkpoint}"))?;
            print!("{}", side.linear_map);
            if let (Some(events), Some(mark)) = (&capture.monitor, capture.log_marks.get(&checkpoint)) {
                print!("{}", oracle::monitor_events::report(&events.before(*mark), &side.linear_map, side.realm.is_some()));
            }
            Ok(0)
        }
        Command::Dump { scenario, .. } => {
            let prepared = prepare(&scenario)?;
            let dump = oracle::dump_cmd::dump_scenario(&prepared)?;
            print!("{}", dump.side.linear_map);
            if let Some(events) = &dump.monitor {
                print!("{}", oracle::monitor_events::report(events, &dump.side.linear_map, dump.side.realm.is_some()));
            }
            if dump.ptdump_mismatches.is_empty() {
                eprintln!("ptdump cross-check: the host walk and the kernel's ptdump agree on all {} lines", dump.ptdump_lines);
                Ok(0)
            } else {
                eprintln!("ptdump cross-check: {} line(s) differ:", dump.ptdump_mismatches.len());
                for m in &dump.ptdump_mismatches {
                    eprintln!("{m}");
                }
                Ok(1)
            }
        }
    }
}
