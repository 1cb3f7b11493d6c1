//! Feeds patch text (a `git format-patch` file or one message of an mbox) to the series
//! reader's path check, and the same bytes as `git apply`'s stderr to the failure
//! explainer: an answer for any input, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linux_harness::series::{check_paths, explain_apply_failure};

fuzz_target!(|data: &[u8]| {
    let _ = check_paths(data);
    let _ = explain_apply_failure(&String::from_utf8_lossy(data));
});
