//! Fuzzes the ptdump parser: any text parses or gives a line-numbered error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(dump) = oracle::linux_side::ptdump::Ptdump::parse(text) {
            for s in &dump.sections {
                let _ = s.to_string();
            }
        }
    }
});
