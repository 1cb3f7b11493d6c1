//! The device tree Linux gets under the EL2 monitor: QEMU's own (`-machine dumpdtb=`)
//! for the same machine, with the memory node moved to the RAM Linux owns (the monitor
//! keeps the first GiB) and `/chosen` carrying the command line and the initramfs, which
//! the harness loads itself because QEMU boots the monitor, not Linux.

use fdt::node::FdtNode;
use vm_fdt::FdtWriter;

use crate::{Error, Result};

/// What Linux must be told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinuxBoot<'a> {
    /// `(base, size)` of the RAM Linux may use.
    pub memory: (u64, u64),
    pub bootargs: &'a str,
    /// `[start, end)` of the initramfs in guest memory.
    pub initrd: (u64, u64),
}

fn dt_err<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::DeviceTree(format!("{what}: {e:?}"))
}

fn is_memory(node: &FdtNode) -> bool {
    node.name.starts_with("memory@") || node.name == "memory"
}

/// Rewrites QEMU's device tree `qemu_dtb` for Linux under the monitor.
pub fn for_linux(qemu_dtb: &[u8], boot: &LinuxBoot) -> Result<Vec<u8>> {
    let tree = fdt::Fdt::new(qemu_dtb).map_err(dt_err("reading QEMU's device tree"))?;
    let root = tree.find_node("/").ok_or_else(|| Error::DeviceTree("QEMU's device tree has no root node".into()))?;
    let mut w = FdtWriter::new().map_err(dt_err("starting a device tree"))?;
    let top = w.begin_node("").map_err(dt_err("root node"))?;
    for p in root.properties() {
        w.property(p.name, p.value).map_err(dt_err("root property"))?;
    }
    let mut memory_done = false;
    let mut chosen_done = false;
    for child in root.children() {
        if is_memory(&child) {
            if !memory_done {
                let name = format!("memory@{:x}", boot.memory.0);
                let n = w.begin_node(&name).map_err(dt_err("memory node"))?;
                w.property_string("device_type", "memory").map_err(dt_err("memory node"))?;
                w.property_array_u64("reg", &[boot.memory.0, boot.memory.1]).map_err(dt_err("memory node"))?;
                w.end_node(n).map_err(dt_err("memory node"))?;
                memory_done = true;
            }
        } else if child.name == "chosen" {
            chosen(&mut w, Some(&child), boot)?;
            chosen_done = true;
        } else {
            copy(&mut w, &child)?;
        }
    }
    if !chosen_done {
        chosen(&mut w, None, boot)?;
    }
    if !memory_done {
        return Err(Error::DeviceTree("QEMU's device tree has no memory node".into()));
    }
    w.end_node(top).map_err(dt_err("root node"))?;
    w.finish().map_err(dt_err("finishing the device tree"))
}

/// `/chosen`: QEMU's properties but the boot ones, then ours.
fn chosen(w: &mut FdtWriter, old: Option<&FdtNode>, boot: &LinuxBoot) -> Result<()> {
    let n = w.begin_node("chosen").map_err(dt_err("chosen"))?;
    for p in old.into_iter().flat_map(|o| o.properties()) {
        if !matches!(p.name, "bootargs" | "linux,initrd-start" | "linux,initrd-end") {
            w.property(p.name, p.value).map_err(dt_err("chosen"))?;
        }
    }
    w.property_string("bootargs", boot.bootargs).map_err(dt_err("chosen bootargs"))?;
    w.property_u64("linux,initrd-start", boot.initrd.0).map_err(dt_err("chosen initrd"))?;
    w.property_u64("linux,initrd-end", boot.initrd.1).map_err(dt_err("chosen initrd"))?;
    w.end_node(n).map_err(dt_err("chosen"))
}

fn copy(w: &mut FdtWriter, node: &FdtNode) -> Result<()> {
    let n = w.begin_node(node.name).map_err(dt_err("copying a node"))?;
    for p in node.properties() {
        w.property(p.name, p.value).map_err(dt_err("copying a property"))?;
    }
    for c in node.children() {
        copy(w, &c)?;
    }
    w.end_node(n).map_err(dt_err("copying a node"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tree shaped like QEMU's: root properties, cpus, memory, chosen, a device.
    fn qemu_like() -> Vec<u8> {
        let mut w = FdtWriter::new().unwrap();
        let r = w.begin_node("").unwrap();
        w.property_u32("#address-cells", 2).unwrap();
        w.property_u32("#size-cells", 2).unwrap();
        w.property_string("compatible", "linux,dummy-virt").unwrap();
        let m = w.begin_node("memory@40000000").unwrap();
        w.property_string("device_type", "memory").unwrap();
        w.property_array_u64("reg", &[0x4000_0000, 3 << 30]).unwrap();
        w.end_node(m).unwrap();
        let c = w.begin_node("chosen").unwrap();
        w.property_string("stdout-path", "/pl011@9000000").unwrap();
        w.property_string("bootargs", "old").unwrap();
        w.end_node(c).unwrap();
        let u = w.begin_node("pl011@9000000").unwrap();
        w.property_array_u64("reg", &[0x0900_0000, 0x1000]).unwrap();
        let i = w.begin_node("inner").unwrap();
        w.property_u32("phandle", 7).unwrap();
        w.end_node(i).unwrap();
        w.end_node(u).unwrap();
        w.end_node(r).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn memory_and_chosen_rewritten_the_rest_kept() {
        let boot = LinuxBoot { memory: (0x8000_0000, 2 << 30), bootargs: "console=ttyAMA0 rodata=on", initrd: (0x8800_0000, 0x8801_0000) };
        let out = for_linux(&qemu_like(), &boot).unwrap();
        let t = fdt::Fdt::new(&out).unwrap();
        let regions: Vec<(usize, Option<usize>)> = t.memory().regions().map(|r| (r.starting_address as usize, r.size)).collect();
        assert_eq!(regions, vec![(0x8000_0000, Some(2 << 30))]);
        let chosen = t.find_node("/chosen").unwrap();
        assert_eq!(chosen.property("bootargs").unwrap().as_str(), Some("console=ttyAMA0 rodata=on"));
        assert_eq!(chosen.property("stdout-path").unwrap().as_str(), Some("/pl011@9000000"));
        assert_eq!(chosen.property("linux,initrd-start").unwrap().as_usize(), Some(0x8800_0000));
        assert_eq!(chosen.property("linux,initrd-end").unwrap().as_usize(), Some(0x8801_0000));
        assert_eq!(t.find_node("/pl011@9000000/inner").unwrap().property("phandle").unwrap().as_usize(), Some(7));
        assert_eq!(t.root().compatible().first(), "linux,dummy-virt");
    }

    #[test]
    fn garbage_is_an_error() {
        let boot = LinuxBoot { memory: (0, 1), bootargs: "", initrd: (0, 0) };
        let e = for_linux(b"not a device tree", &boot).unwrap_err();
        assert!(e.to_string().starts_with("device tree: reading QEMU's device tree"), "{e}");
    }
}
