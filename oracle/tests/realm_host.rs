//! The realm's host as a strict adversary, on the real kernel under the EL2 monitor:
//! partial progress and refused shares (`machine.realm.host`), with the model answering
//! each request as the host did and predicting what Linux does with the answers.

mod common;

use std::process::Command;

/// `realm-bbml3` or `realm-pte` with `host` as the realm's host, named `name`.
fn with_host(corpus: &common::TempCorpus, base: &str, name: &str, host: serde_json::Value) -> std::path::PathBuf {
    let mut s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(common::scenario(base)).unwrap()).unwrap();
    s["name"] = name.into();
    s["machine"]["realm"]["host"] = host;
    corpus.add_scenario(name, &s.to_string())
}

fn run(corpus: &common::TempCorpus, files: &[std::path::PathBuf]) -> serde_json::Value {
    run_exiting(corpus, files, 0)
}

/// `oracle run` over `files`, which must exit with `code`; its report.json.
fn run_exiting(corpus: &common::TempCorpus, files: &[std::path::PathBuf], code: i32) -> serde_json::Value {
    let out_dir = corpus.dir.path().join("results");
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).args(["run", "-j", "2", "--out"]).arg(&out_dir).args(files).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap()).unwrap()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).unwrap()
}

/// The RSI_IPA_STATE_SET requests to make memory EMPTY: `(base, top, new_base, accepted)`.
fn shares(scenario: &serde_json::Value) -> Vec<(u64, u64, u64, bool)> {
    scenario["monitor"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let e = e.as_str().unwrap();
            let rest = e.split("RSI_IPA_STATE_SET [").nth(1)?;
            if !rest.contains("-> EMPTY") {
                return None;
            }
            let (range, rest) = rest.split_once(')')?;
            let (base, top) = range.split_once(',')?;
            let new_base = rest.split("new base ").nth(1)?.split(',').next()?;
            Some((hex(base), hex(top), hex(new_base), rest.ends_with("accepted")))
        })
        .collect()
}

/// Linux 7.3 under a host that stops short of every request, with five seeds: each
/// boot matches the model, which retries as Linux does, and every shared range of more
/// than one granule took more than one RSI_IPA_STATE_SET.
#[test]
fn partial_progress_under_five_seeds_matches_the_model() {
    let corpus = common::TempCorpus::new();
    let files: Vec<_> = (1..=5).map(|seed| with_host(&corpus, "realm-bbml3", &format!("partial-{seed}"), serde_json::json!({"seed": seed, "partial_progress": true}))).collect();
    let data = run(&corpus, &files);
    for s in data["scenarios"].as_array().unwrap() {
        assert_eq!(s["verdict"], "match", "{}", s["scenario"]);
        assert_eq!(s["calls"].as_array().unwrap().iter().filter(|c| c["mismatch"] == true).count(), 0);
        let shares = shares(s);
        // Group the requests by the range Linux asked for (their common top).
        let mut tops: Vec<u64> = shares.iter().map(|r| r.1).collect();
        tops.dedup();
        assert!(tops.len() >= 3, "the swiotlb pool, the ITS tables and a DMA pool: {shares:x?}");
        for top in tops {
            let calls: Vec<_> = shares.iter().filter(|r| r.1 == top).collect();
            let first = calls[0].0;
            assert!(calls.iter().all(|r| r.3), "all accepted: {calls:x?}");
            assert_eq!(calls.last().unwrap().2, top, "the last call completes the range: {calls:x?}");
            if top - first > 0x1000 {
                assert!(calls.len() > 1, "{} took one call: {calls:x?}", s["scenario"]);
            }
        }
    }
}

/// A host that refuses shares: the kernel WARNs "Failed to decrypt memory, N pages will
/// be leaked" for each refused call, which the model predicts at the same site with the
/// same return code, and the refused range stays present-invalid (leaked) in both maps.
#[test]
fn a_refused_share_is_predicted_warn_leak_and_map() {
    let corpus = common::TempCorpus::new();
    let file = with_host(&corpus, "realm-pte", "refuses", serde_json::json!({"seed": 1, "partial_progress": true, "reject_empty": 0.3}));
    let data = run(&corpus, &[file]);
    let s = &data["scenarios"][0];
    assert_eq!(s["verdict"], "match", "{s}");
    assert_eq!(s["warning_mismatches"], serde_json::json!([]));
    let warns: Vec<&str> = s["kernel_warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    // WARN(ret, "Failed to decrypt memory, %d pages will be leaked"), pageattr.c:342.
    assert!(!warns.is_empty() && warns.iter().all(|w| w.starts_with("WARNING: arch/arm64/mm/pageattr.c:342 at realm_set_memory_decrypted+")), "{warns:?}");
    let refused: Vec<&serde_json::Value> = s["calls"].as_array().unwrap().iter().filter(|c| c["function"] == "set_memory_decrypted" && c["ret"] == -22).collect();
    assert_eq!(refused.len(), warns.len(), "one WARN per refused share");
    assert!(refused.iter().all(|c| c["model_ret"] == -22), "{refused:?}");
    assert!(shares(s).iter().any(|r| !r.3), "the log shows the refusals");
    // The first refused range is present-invalid in Linux's map at the end of the boot.
    let va = hex(refused[0]["args"][0].as_str().unwrap());
    let end = s["checkpoints"].as_array().unwrap().iter().find(|c| c["checkpoint"] == "end-of-boot").unwrap();
    let line = end["linux"].as_array().unwrap().iter().find(|l| hex(l[0].as_str().unwrap()) <= va && va < hex(l[1].as_str().unwrap())).expect("the range is in the map");
    assert!(line[5].as_str().unwrap().starts_with("INVALID"), "{line}");
}

/// A host that destroyed a granule of the realm's RAM before Linux ran: 7.3's
/// arm64_rsi_setup_memory() asks for RIPAS RAM without RSI_CHANGE_DESTROYED, the host
/// stops at the destroyed granule, and Linux panics by design ("Failed to set memory
/// range to protected", arch/arm64/kernel/rsi.c:70) instead of limping on into an
/// external abort. The oracle reports that as the kernel's failure, with the panic
/// text and the refused request in the monitor's log, not as a harness failure.
#[test]
fn destroyed_ram_is_the_kernels_panic_not_a_harness_failure() {
    let corpus = common::TempCorpus::new();
    // The first granule of Linux's RAM (it starts 1 GiB above QEMU's, under the monitor).
    let file = with_host(&corpus, "realm-pte", "destroyed", serde_json::json!({"destroyed": ["0x80000000-0x80001000"]}));
    let data = run_exiting(&corpus, &[file], 1);
    let s = &data["scenarios"][0];
    assert_eq!(s["verdict"], "KERNEL FAILURE", "{s}");
    assert!(s["infrastructure_failure"].is_null(), "{s}");
    let why = s["kernel_failure"].as_str().unwrap();
    assert!(why.contains("Kernel panic - not syncing: Failed to set memory range to protected: 0x0000000080000000-"), "{why}");
    let events: Vec<&str> = s["monitor"]["events"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert!(events.iter().any(|e| e.contains("RSI_IPA_STATE_SET [0x80000000,") && e.contains("-> RAM") && e.ends_with("rejected")), "{events:#?}");
}

/// A host that scrubs with poison: every granule Linux shares reads the seed's pattern
/// afterwards (on hardware the shared view is host memory, not the old private data),
/// read here from guest RAM after the guest powered off. (The corpus's
/// `realm-host-poison` shows what that does to the ITS tables 7.3 zeroes before it
/// shares them.)
#[test]
fn poison_scrubbing_leaves_the_pattern_in_shared_memory() {
    let corpus = common::TempCorpus::new();
    let file = with_host(&corpus, "realm-pte", "poison", serde_json::json!({"seed": 5, "scrub": "poison"}));
    let p = oracle::prepare::prepare(&file).unwrap_or_else(|e| panic!("{e:#}"));
    let req = linux_harness::BootRequest {
        kernel: &p.kernel,
        initramfs: &p.initramfs,
        machine: &p.scenario.machine,
        cmdline: &p.scenario.cmdline,
        end: linux_harness::EndAction::Poweroff,
        timeout: std::time::Duration::from_secs(120),
        keep_run_dir: true,
        monitor_boot_info_override: None,
    };
    let b = linux_harness::boot(&req).unwrap();
    assert_eq!(b.outcome, linux_harness::BootOutcome::Booted, "{}", b.console);
    let ram = std::fs::read(b.run_dir.join("ram")).unwrap();
    let log = linux_harness::monitor::MonitorLog::read(&b.run_dir.join("ram")).unwrap();
    let events = oracle::linux_side::monitor_log::MonitorEvents::from_view(&log.view().unwrap());
    std::fs::remove_dir_all(&b.run_dir).unwrap();
    // The largest shared range is the swiotlb pool, which no device used.
    let (start, end) = events.empty_ranges().into_iter().max_by_key(|(s, e)| e.0 - s.0).expect("shared memory");
    assert!(end.0 - start.0 >= 1 << 20, "{start:?}..{end:?}");
    let word = |pa: u64| {
        let o = (pa - lmo_monitor::layout::RAM_BASE) as usize;
        u64::from_le_bytes(ram[o..o + 8].try_into().unwrap())
    };
    for pa in (start.0..start.0 + 0x2000).step_by(8).chain([end.0 - 8]) {
        assert_eq!(word(pa), lmo_monitor::host::poison_word(5, pa), "at {pa:#x}");
    }
}
