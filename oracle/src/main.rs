//! The `oracle` command line: parses the arguments and hands each command to its file in
//! `commands/`.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Boot(commands::boot::Args),
    /// Replay the scenario's boot through the Rust model and print the linear map it
    /// expects at the scenario's last checkpoint (the guest is booted once, for the
    /// memory layout and the other observed inputs).
    Model(commands::model::Args),
    /// For each scenario (files, or directories of *.json): diff the Linux side against
    /// the model and print a verdict line (details for what is not as expected), and
    /// with --out write a results directory; exit 0 all as expected, 1 an unexpected
    /// divergence, 2 an infrastructure failure or an interrupted run.
    Run(commands::run::Args),
    /// Reproduce reported bugs: for each entry (files, or directories of *.json under
    /// corpora/reported), build and boot each run's kernel and check what the entry says
    /// it shows; print a report to paste into a mail. Exit 0 reproduced, 1 not, 2 an
    /// infrastructure failure.
    Repro(commands::repro::Args),
    /// Find the first patch of a series (a directory of format-patch files or an mbox)
    /// after which the scenario's verdict changes; prints it. Exit 0 when one is found,
    /// 1 when the verdict does not change.
    Bisect(commands::bisect::Args),
    /// Benchmarks: `walk` times walking and normalising a paused guest's linear map
    /// against a plain read of the same table pages and against QMP dump-guest-memory;
    /// `trace` times a boot with every checkpoint and the call trace against the same
    /// boot without them.
    Bench(commands::bench::Args),
    /// Boot the scenario, pause it at the end of boot (or another checkpoint) and print
    /// its linear map as read from guest RAM (normalised), after checking the walk line
    /// for line against the kernel's own ptdump.
    Dump(commands::dump::Args),
    /// Rerun each scenario K times: the verdict, the kernel's WARN count and, at every
    /// checkpoint the scenario calls deterministic, the Linux side and its divergences
    /// must be the same each time. Exit 0 identical, 1 not, 2 an error.
    Determinism(commands::determinism::Args),
    /// List the kernel cache (kernels and build trees: size, last use, how many
    /// scenarios of the corpus need each, in use) or, with `gc`, remove what the corpus
    /// (default corpora/scenarios, geometries, reported and bench) does not need, least recently
    /// used first, optionally only down to --max-size. Exit 0 done, 2 an error.
    Cache(commands::cache::Args),
    /// Compare two results directories (`oracle run --out`): new, fixed and remaining
    /// divergences, changed call results and verdicts. Exit 0 nothing regressed, 1 a
    /// regression, 2 an error.
    CompareRuns(commands::compare_runs::Args),
    /// Join the results directories of every shard of one run (`oracle run --shard
    /// I/N --out DIR`) into one; refuses shard sets that overlap, leave a shard out or
    /// hold an incomplete shard. Exit as `run` would have for the whole matrix.
    Merge(commands::merge::Args),
    /// Snapshot review: boot each scenario (with --series on its kernel) and compare its
    /// Linux side at every deterministic checkpoint with the accepted snapshots, leaving
    /// an insta .snap.new for each that changed (`cargo insta review` shows and accepts
    /// them). Exit 0 nothing changed, 1 something did, 2 an error.
    Snapshot(commands::snapshot::Args),
    /// Move a Debian kernel source's pin in the corpus's kernels.lock (to the newest
    /// version the archive serves, or --version), fetch it, rebuild and review the
    /// snapshots of the scenarios built from it. Exit 0 nothing changed, 1 snapshots
    /// changed (review them), 2 an error.
    Pin(commands::pin::Args),
}

fn main() -> ExitCode {
    // Printing into a closed pipe (`oracle run ... | head`) ends the program quietly,
    // as for any Unix filter, instead of panicking.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl) };
    linux_harness::reaper::install_interrupt_handler();
    let result = match Cli::parse().command {
        Command::Boot(a) => commands::boot::run(a),
        Command::Model(a) => commands::model::run(a),
        Command::Run(a) => commands::run::run(a),
        Command::Repro(a) => commands::repro::run(a),
        Command::Bisect(a) => commands::bisect::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Dump(a) => commands::dump::run(a),
        Command::Cache(a) => commands::cache::run(a),
        Command::Determinism(a) => commands::determinism::run(a),
        Command::CompareRuns(a) => commands::compare_runs::run(a),
        Command::Merge(a) => commands::merge::run(a),
        Command::Snapshot(a) => commands::snapshot::run(a),
        Command::Pin(a) => commands::pin::run(a),
    };
    // A Ctrl-C or SIGTERM that cut the command short ends it with 130, from its handler.
    linux_harness::reaper::wait_if_interrupted();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
