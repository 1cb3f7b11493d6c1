//! Feeds the kernel's ptdump text (`kernel_page_tables`, as the console carries it) to
//! `Ptdump::parse`: any text parses or gives a line-numbered error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(dump) = oracle::linux_side::ptdump::Ptdump::parse(text) {
            for s in &dump.sections {
                let _ = s.to_string();
                let _ = oracle::linux_side::ptdump_check::compare(&[], s);
            }
            let _ = dump.linear_map();
        }
    }
});
