//! Feeds lines from QEMU's QMP socket to the client's readers: the greeting and the
//! replies to a command (return, error, asynchronous event). An answer or an error,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linux_harness::qmp::{check_greeting, parse_reply};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.split_inclusive('\n') {
        let _ = check_greeting(line);
        if let Ok(Some(ret)) = parse_reply("query-status", line) {
            let _ = ret.get("status").and_then(serde_json::Value::as_str);
        }
    }
});
