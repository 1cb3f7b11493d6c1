//! Links the monitor binary at its fixed address (monitor.ld) when built for bare metal.

fn main() {
    println!("cargo:rerun-if-changed=monitor.ld");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.ends_with("-none") || target.ends_with("-none-softfloat") {
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        println!("cargo:rustc-link-arg-bins=-T{dir}/monitor.ld");
    }
}
