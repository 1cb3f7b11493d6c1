//! Feeds device trees (as QEMU's `-machine dumpdtb=` writes them) to the rewriter that
//! makes Linux's tree under the EL2 monitor: a tree or an error, never a panic; a tree
//! it writes rewrites to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use linux_harness::dtb::{for_linux, LinuxBoot};

fuzz_target!(|data: &[u8]| {
    let boot = LinuxBoot { memory: (0x8000_0000, 2 << 30), bootargs: "console=ttyAMA0 rodata=on", initrd: (0x8800_0000, 0x8801_0000), reserved: &[] };
    let Ok(out) = for_linux(data, &boot) else { return };
    let again = for_linux(&out, &boot).expect("the rewritten tree reads back");
    assert!(again == out, "rewriting the rewritten tree changed it");
});
