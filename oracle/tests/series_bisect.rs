//! Patch series as users keep them (a directory of format-patch files, or one mbox saved
//! from a thread) and `oracle bisect` over a series, on the real kernel.

mod common;

use std::path::PathBuf;

use linux_harness::build::build_kernel;
use linux_harness::series::PatchSeries;
use linux_harness::Error;
use oracle::scenario::Scenario;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bisect")
}

/// The fixture series as one mbox, the way a mail client saves a thread.
fn fixture_mbox(dir: &std::path::Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mbox = dir.join("series.mbox");
    let text: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    std::fs::write(&mbox, text).unwrap();
    mbox
}

#[test]
fn a_directory_and_an_mbox_give_the_same_series() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = PatchSeries::load(&fixture_dir()).unwrap();
    let mbox = PatchSeries::load(&fixture_mbox(tmp.path())).unwrap();
    assert_eq!(dir.patches.len(), 3);
    assert_eq!(mbox.patches.len(), 3);
    for ((d, _), (m, _)) in dir.patches.iter().zip(&mbox.patches) {
        let diff = |p: &PathBuf| {
            let t = std::fs::read_to_string(p).unwrap();
            t[t.find("diff --git").unwrap()..].to_string()
        };
        assert_eq!(diff(d), diff(m));
    }
    assert!(mbox.labels[1].ends_with("series.mbox#2: [PATCH 2/3] arm64: mm: always force PTE mappings"), "{}", mbox.labels[1]);
}

#[test]
fn an_mbox_patch_that_does_not_apply_is_named() {
    let corpus = common::TempCorpus::new();
    let good = std::fs::read_to_string(fixture_dir().join("0001-arm64-mm-comment.patch")).unwrap();
    let stale = good.replace("Subject: [PATCH 1/3] arm64: mm: a harmless comment", "Subject: [PATCH 2/2] arm64: mm: written against another tree").replace(
        " // SPDX-License-Identifier: GPL-2.0-only\n",
        " // SPDX-License-Identifier: GPL-2.0-or-later\n",
    );
    let mbox = corpus.root().join("patches").join("thread.mbox");
    std::fs::write(&mbox, format!("{good}{stale}")).unwrap();
    let file = corpus.add_scenario("mbox", &common::scenario_text("mbox", &["thread.mbox"], "", 60));
    let variant = Scenario::load(&file).unwrap().kernel.resolve(&corpus.root());
    match build_kernel(&variant) {
        Err(Error::PatchDoesNotApply { patch, file, detail }) => {
            let patch = patch.display().to_string();
            assert!(patch.ends_with("thread.mbox#2: [PATCH 2/2] arm64: mm: written against another tree"), "{patch}");
            assert_eq!(file, "arch/arm64/mm/mmu.c");
            assert!(detail.contains("line 1"), "{detail}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a stale patch applied"),
    }
}

#[test]
fn bisect_names_the_patch_that_changes_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    let mbox = fixture_mbox(tmp.path());
    let b = oracle::compare::bisect::bisect(&common::scenario("bbml3-blocks"), &mbox).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(b.first_change, Some(2), "{}", b.report());
    assert!(b.report().contains("first patch that changes the verdict: #2"), "{}", b.report());
    // The base matches; with patch 2 Linux maps everything with PTEs and the model does not.
    assert_eq!(b.steps[0], (0, "match".to_string()));
    assert!(b.steps.iter().any(|(k, v)| *k >= 2 && v == "UNEXPECTED DIVERGENCE"), "{:?}", b.steps);
}

/// The reviewer's loop: a series saved from a thread, turned into patches by real `b4
/// am` (offline, from the local mbox), run over corpus scenarios on top of each one's
/// own kernel. The series' second patch forces PTE mappings: the BBML3 scenario now
/// diverges, the PTE one still matches, and the results name the series.
#[test]
fn a_series_from_b4_runs_over_the_corpus() {
    let tmp = tempfile::tempdir().unwrap();
    // The thread as a list archive holds it: each message with its Message-Id, the
    // patches answering the first.
    let mut thread = String::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir()).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for (i, f) in files.iter().enumerate() {
        let text = std::fs::read_to_string(f).unwrap();
        let refs = if i == 0 { String::new() } else { "In-Reply-To: <lmo-series-1@localhost>\nReferences: <lmo-series-1@localhost>\n".to_string() };
        thread.push_str(&text.replacen("\nSubject:", &format!("\nMessage-Id: <lmo-series-{}@localhost>\n{refs}Subject:", i + 1), 1));
    }
    let mbox = tmp.path().join("thread.mbox");
    std::fs::write(&mbox, thread).unwrap();
    let b4 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools/venv/bin/b4");
    assert!(b4.exists(), "{} is missing: run `cargo xtask setup`", b4.display());
    let out = std::process::Command::new(&b4).args(["--offline-mode", "am", "-m"]).arg(&mbox).arg("-o").arg(tmp.path().join("am")).arg("lmo-series-1@localhost").output().unwrap();
    assert!(out.status.success(), "b4 am: {}", String::from_utf8_lossy(&out.stderr));
    let series = std::fs::read_dir(tmp.path().join("am")).unwrap().map(|e| e.unwrap().path()).find(|p| p.extension().is_some_and(|e| e == "mbx")).expect("b4 am writes an .mbx");

    let results = tmp.path().join("results");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oracle"))
        .args(["run", "-j", "1", "--series"])
        .arg(&series)
        .arg("--out")
        .arg(&results)
        .arg(common::scenario("bbml3-blocks"))
        .arg(common::scenario("baseline-pte"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("bbml3-blocks") && lines[0].contains("UNEXPECTED DIVERGENCE"), "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("baseline-pte") && l.contains(" match ")), "{stdout}");
    assert!(stdout.contains("(3 patch(es)) on each scenario's own kernel:\n  1/3: arm64: mm: a harmless comment\n  2/3: arm64: mm: always force PTE mappings\n"), "{stdout}");
    let data: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(results.join("report.json")).unwrap()).unwrap();
    assert_eq!(data["run"]["series"]["subjects"].as_array().map(Vec::len), Some(3));
    for s in data["scenarios"].as_array().unwrap() {
        assert_eq!(s["kernel"]["patch_subjects"][1], "arm64: mm: always force PTE mappings", "{s}");
        assert_eq!(s["kernel"]["patchset_hash"].as_str().map(str::len), Some(64));
    }
    let bbml3 = &data["scenarios"][0];
    assert!(bbml3["checkpoints"].as_array().unwrap().iter().flat_map(|c| c["divergences"].as_array().unwrap()).all(|d| d["classes"] == serde_json::json!(["granularity"])), "{bbml3}");
}

/// Snapshot review of a change: with a series that forces PTE mappings, `oracle
/// snapshot` leaves an insta `.snap.new` for exactly the dumps it changes (every
/// checkpoint of the BBML3 scenario, none of the PTE one), in the series' own folder
/// beside the default snapshots, which stay as they were; insta reads what it wrote.
#[test]
fn snapshot_review_leaves_snap_new_for_what_a_series_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let snaps = common::copy_snapshots(tmp.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_oracle"))
        .args(["snapshot", "--series"])
        .arg(fixture_dir())
        .arg("--snapshots")
        .arg(&snaps)
        .arg(common::scenario("bbml3-blocks"))
        .arg(common::scenario("baseline-pte"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let folder = snaps.join("series-bisect");
    let mut pending: Vec<String> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n.ends_with(".snap.new")).collect();
    pending.sort();
    let bbml3 = oracle::scenario::Scenario::load(&common::scenario("bbml3-blocks")).unwrap();
    let mut want: Vec<String> = bbml3.deterministic_checkpoints().map(|c| format!("bbml3-blocks.{c}.linux.snap.new")).collect();
    want.sort();
    assert_eq!(pending, want, "{stdout}");
    // The default snapshots are untouched and have nothing pending.
    assert!(std::fs::read_dir(&snaps).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".snap.new")));
    // insta reads the new snapshot: the old dump had blocks, the new one none.
    let new = insta::Snapshot::from_file(&folder.join("bbml3-blocks.end-of-boot.linux.snap.new")).unwrap();
    let old = insta::Snapshot::from_file(&folder.join("bbml3-blocks.end-of-boot.linux.snap")).unwrap();
    let text = |s: &insta::Snapshot| s.as_text().unwrap().to_string();
    assert!(text(&old).contains(" PMD ") && !text(&new).contains(" PMD ") && !text(&new).contains(" PUD "), "{}", text(&new));
}
