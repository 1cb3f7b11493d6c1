//! Bad input gets a clear error naming what is wrong: a malformed scenario names the file
//! and field, a patch that does not apply names the patch and the file, and a build
//! failure shows the compiler's error; none of them leaves a cache entry behind.

mod common;

use std::process::Command;

use linux_harness::build::{build_kernel, variant_key};
use linux_harness::Error;
use oracle::prepare::prepare;
use oracle::scenario::Scenario;

#[test]
fn malformed_scenario_names_file_and_field() {
    let corpus = common::TempCorpus::new();
    let text = common::scenario_text("bad", &[], "rodata=on", 60).replace("\"cpus\": 2", "\"cpus\": 0");
    let file = corpus.add_scenario("bad", &text);
    let err = Scenario::load(&file).unwrap_err().to_string();
    assert!(err.starts_with(&format!("{}: field `machine.cpus`", file.display())), "{err}");
    assert!(err.contains("must be 1 to 8"), "{err}");

    // The same through the command line: exit status 2 and the message on stderr.
    let out = Command::new(env!("CARGO_BIN_EXE_oracle")).arg("boot").arg(&file).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("field `machine.cpus`") && stderr.contains(&file.display().to_string()), "{stderr}");
}

/// A patch whose context does not match 7.3's mmu.c.
const STALE_PATCH: &str = "\
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Test <test@example.org>
Subject: [PATCH] arm64: mm: a patch written against another tree

---
 arch/arm64/mm/mmu.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/arch/arm64/mm/mmu.c b/arch/arm64/mm/mmu.c
--- a/arch/arm64/mm/mmu.c
+++ b/arch/arm64/mm/mmu.c
@@ -808,3 +808,3 @@
 this line is not in the kernel
-nor is this one
+so the hunk cannot apply
 and the context is wrong too
-- 
2.47.3
";

#[test]
fn patch_that_does_not_apply_names_patch_and_file() {
    let corpus = common::TempCorpus::new();
    corpus.add_patch("stale", "0001-arm64-mm-stale.patch", STALE_PATCH);
    let file = corpus.add_scenario("stale", &common::scenario_text("stale", &["stale"], "", 60));
    let scenario = Scenario::load(&file).unwrap();
    let variant = scenario.kernel.resolve(&corpus.root());
    let key = variant_key(&variant).unwrap();
    match build_kernel(&variant) {
        Err(Error::PatchDoesNotApply { patch, file, detail }) => {
            assert!(patch.ends_with("stale/0001-arm64-mm-stale.patch"), "{}", patch.display());
            assert_eq!(file, "arch/arm64/mm/mmu.c");
            assert!(detail.contains("808"), "{detail}");
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a stale patch applied"),
    }
    let entry = linux_harness::paths::kernels_dir().join(&key[..24]);
    assert!(!entry.exists(), "a failed variant left a cache entry at {}", entry.display());
    // The message a user sees through `prepare` names both as well.
    let msg = format!("{:#}", prepare(&file).err().unwrap());
    assert!(msg.contains("0001-arm64-mm-stale.patch") && msg.contains("arch/arm64/mm/mmu.c"), "{msg}");
}

/// Applies cleanly to 7.3 but does not compile.
const BREAKING_PATCH: &str = "\
diff --git a/arch/arm64/mm/pageattr.c b/arch/arm64/mm/pageattr.c
--- a/arch/arm64/mm/pageattr.c
+++ b/arch/arm64/mm/pageattr.c
@@ -87,3 +87,4 @@
 
 bool rodata_full __ro_after_init = true;
+int lmo_broken = undeclared_on_purpose;
 
";

#[test]
fn build_failure_shows_the_compiler_error_and_caches_nothing() {
    let corpus = common::TempCorpus::new();
    corpus.add_patch("broken", "0001-broken.patch", BREAKING_PATCH);
    let file = corpus.add_scenario("broken", &common::scenario_text("broken", &["broken"], "", 60));
    let variant = Scenario::load(&file).unwrap().kernel.resolve(&corpus.root());
    let key = variant_key(&variant).unwrap();
    match build_kernel(&variant) {
        Err(Error::BuildFailed { errors, log }) => {
            assert!(errors.contains("undeclared_on_purpose"), "{errors}");
            assert!(errors.contains("pageattr.c"), "{errors}");
            assert!(log.is_file());
        }
        Err(other) => panic!("wrong error: {other}"),
        Ok(_) => panic!("a broken patch built"),
    }
    assert!(!linux_harness::paths::kernels_dir().join(&key[..24]).exists());
}
