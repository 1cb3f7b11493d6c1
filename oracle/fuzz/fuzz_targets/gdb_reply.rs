//! Feeds bytes from QEMU's gdbstub to the client's readers: packet framing and decoding,
//! stop replies, `qXfer` replies and target-description XML. An answer or an error,
//! never a panic.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use linux_harness::gdbstub::{decode_body, parse_registers, parse_stop_reply, parse_xfer_reply, take_packet};

fuzz_target!(|data: &[u8]| {
    let _ = decode_body(data);
    let mut pending = data.to_vec();
    while let Some(body) = take_packet(&mut pending) {
        reply(&String::from_utf8_lossy(&body));
    }
    reply(&String::from_utf8_lossy(data));
});

fn reply(text: &str) {
    if let Ok(stop) = parse_stop_reply(text) {
        assert_eq!(stop.raw, text);
    }
    let _ = parse_xfer_reply(text);
    let mut regs = HashMap::new();
    let next = parse_registers(text, 0, &mut regs);
    parse_registers(text, next, &mut regs);
}
