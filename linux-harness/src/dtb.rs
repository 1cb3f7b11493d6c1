//! The device tree Linux gets under the EL2 monitor: QEMU's own (`-machine dumpdtb=`)
//! for the same machine, with the memory node moved to the RAM Linux owns (the monitor
//! keeps the first GiB) and `/chosen` carrying the command line and the initramfs, which
//! the harness loads itself because QEMU boots the monitor, not Linux.

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
    /// `/reserved-memory` children: `[start, end)` and whether they are `no-map`.
    pub reserved: &'a [(u64, u64, bool)],
}

fn dt_err<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::DeviceTree(format!("{what}: {e:?}"))
}

fn is_memory(node: &Node) -> bool {
    node.name.starts_with("memory@") || node.name == "memory"
}

/// Rewrites QEMU's device tree `qemu_dtb` for Linux under the monitor.
pub fn for_linux(qemu_dtb: &[u8], boot: &LinuxBoot) -> Result<Vec<u8>> {
    let root = read_tree(qemu_dtb).map_err(|e| Error::DeviceTree(format!("reading QEMU's device tree: {e}")))?;
    let mut w = FdtWriter::new().map_err(dt_err("starting a device tree"))?;
    let top = w.begin_node("").map_err(dt_err("root node"))?;
    for (name, value) in &root.properties {
        w.property(name, value).map_err(dt_err("root property"))?;
    }
    let mut memory_done = false;
    let mut chosen_done = false;
    for child in &root.children {
        if is_memory(child) {
            if !memory_done {
                let name = format!("memory@{:x}", boot.memory.0);
                let n = w.begin_node(&name).map_err(dt_err("memory node"))?;
                w.property_string("device_type", "memory").map_err(dt_err("memory node"))?;
                w.property_array_u64("reg", &[boot.memory.0, boot.memory.1]).map_err(dt_err("memory node"))?;
                w.end_node(n).map_err(dt_err("memory node"))?;
                memory_done = true;
            }
        } else if child.name == "chosen" {
            chosen(&mut w, Some(child), boot)?;
            chosen_done = true;
        } else {
            copy(&mut w, child)?;
        }
    }
    if !chosen_done {
        chosen(&mut w, None, boot)?;
    }
    reserved_memory(&mut w, &root, boot)?;
    if !memory_done {
        return Err(Error::DeviceTree("QEMU's device tree has no memory node".into()));
    }
    w.end_node(top).map_err(dt_err("root node"))?;
    w.finish().map_err(dt_err("finishing the device tree"))
}

/// `/reserved-memory` with one child per carve-out (Documentation/devicetree/bindings/
/// reserved-memory/reserved-memory.yaml: two-cell addresses and sizes, `ranges`, and
/// `no-map` where Linux must not map it). QEMU's `virt` tree has none of its own.
fn reserved_memory(w: &mut FdtWriter, root: &Node, boot: &LinuxBoot) -> Result<()> {
    if boot.reserved.is_empty() {
        return Ok(());
    }
    if root.children.iter().any(|c| c.name == "reserved-memory") {
        return Err(Error::DeviceTree("QEMU's device tree already has /reserved-memory".into()));
    }
    let (lo, hi) = (boot.memory.0, boot.memory.0 + boot.memory.1);
    let n = w.begin_node("reserved-memory").map_err(dt_err("reserved-memory"))?;
    w.property_u32("#address-cells", 2).map_err(dt_err("reserved-memory"))?;
    w.property_u32("#size-cells", 2).map_err(dt_err("reserved-memory"))?;
    w.property_null("ranges").map_err(dt_err("reserved-memory"))?;
    for &(start, end, no_map) in boot.reserved {
        if start < lo || end > hi {
            return Err(Error::DeviceTree(format!("reserved memory {start:#x}-{end:#x} is outside Linux's RAM {lo:#x}-{hi:#x}")));
        }
        let c = w.begin_node(&format!("carveout@{start:x}")).map_err(dt_err("reserved-memory child"))?;
        w.property_array_u64("reg", &[start, end - start]).map_err(dt_err("reserved-memory child"))?;
        if no_map {
            w.property_null("no-map").map_err(dt_err("reserved-memory child"))?;
        }
        w.end_node(c).map_err(dt_err("reserved-memory child"))?;
    }
    w.end_node(n).map_err(dt_err("reserved-memory"))
}

/// `/chosen`: QEMU's properties but the boot ones, then ours.
fn chosen(w: &mut FdtWriter, old: Option<&Node>, boot: &LinuxBoot) -> Result<()> {
    let n = w.begin_node("chosen").map_err(dt_err("chosen"))?;
    for (name, value) in old.into_iter().flat_map(|o| &o.properties) {
        if !matches!(*name, "bootargs" | "linux,initrd-start" | "linux,initrd-end") {
            w.property(name, value).map_err(dt_err("chosen"))?;
        }
    }
    w.property_string("bootargs", boot.bootargs).map_err(dt_err("chosen bootargs"))?;
    w.property_u64("linux,initrd-start", boot.initrd.0).map_err(dt_err("chosen initrd"))?;
    w.property_u64("linux,initrd-end", boot.initrd.1).map_err(dt_err("chosen initrd"))?;
    w.end_node(n).map_err(dt_err("chosen"))
}

fn copy(w: &mut FdtWriter, node: &Node) -> Result<()> {
    let n = w.begin_node(node.name).map_err(dt_err("copying a node"))?;
    for (name, value) in &node.properties {
        w.property(name, value).map_err(dt_err("copying a property"))?;
    }
    for c in &node.children {
        copy(w, c)?;
    }
    w.end_node(n).map_err(dt_err("copying a node"))
}

/// A node of a flattened device tree as read: its name, its properties in order, its
/// children in order.
#[derive(Debug)]
struct Node<'a> {
    name: &'a str,
    properties: Vec<(&'a str, &'a [u8])>,
    children: Vec<Node<'a>>,
}

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
/// Nodes nested deeper than this are refused (QEMU's trees are four deep; Linux and
/// vm-fdt stop at 64).
const MAX_DEPTH: usize = 32;

/// Reads a flattened device tree (version 16 or 17), checking every offset and length
/// against the blob: anything malformed is an error, never a panic. (The `fdt` crate
/// panics on malformed trees.)
fn read_tree(dtb: &[u8]) -> std::result::Result<Node<'_>, String> {
    let word = |at: usize| -> std::result::Result<u32, String> {
        let b = dtb.get(at..at.checked_add(4).ok_or("offset overflows")?).ok_or_else(|| format!("header cut short at byte {at}"))?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let magic = word(0)?;
    if magic != FDT_MAGIC {
        return Err(format!("bad magic {magic:#010x}"));
    }
    let total = word(4)? as usize;
    let (off_struct, off_strings) = (word(8)? as usize, word(12)? as usize);
    let (version, last_compatible) = (word(20)?, word(24)?);
    if total > dtb.len() {
        return Err(format!("total size {total} is beyond the {} bytes given", dtb.len()));
    }
    if version < 16 || last_compatible > 17 {
        return Err(format!("version {version} (compatible back to {last_compatible}) cannot be read as version 17"));
    }
    let size_strings = word(32)? as usize;
    let size_struct = if version >= 17 { word(36)? as usize } else { total.saturating_sub(off_struct) };
    let block = |off: usize, size: usize, what: &str| {
        off.checked_add(size).filter(|end| *end <= total).map(|end| &dtb[off..end]).ok_or_else(|| format!("{what} block [{off}, +{size}) is outside the tree"))
    };
    let strings = block(off_strings, size_strings, "strings")?;
    let mut r = Reader { data: block(off_struct, size_struct, "structure")?, at: 0, strings };
    let root = match r.token()? {
        FDT_BEGIN_NODE => r.node(0)?,
        t => return Err(format!("structure block starts with token {t}, not a node")),
    };
    match r.token()? {
        FDT_END => Ok(root),
        t => Err(format!("token {t} after the root node, not the end")),
    }
}

/// The structure block, read token by token.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    strings: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> std::result::Result<u32, String> {
        let b = self.data.get(self.at..self.at + 4).ok_or_else(|| format!("structure block cut short at byte {}", self.at))?;
        self.at += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// The next token that is not a NOP.
    fn token(&mut self) -> std::result::Result<u32, String> {
        loop {
            match self.u32()? {
                FDT_NOP => continue,
                t => return Ok(t),
            }
        }
    }

    /// `len` bytes, then padding to the next 4-byte boundary.
    fn bytes(&mut self, len: usize) -> std::result::Result<&'a [u8], String> {
        let end = self.at.checked_add(len).filter(|e| *e <= self.data.len()).ok_or_else(|| format!("{len} bytes at {} run past the structure block", self.at))?;
        let b = &self.data[self.at..end];
        self.at = end.next_multiple_of(4);
        Ok(b)
    }

    /// A node whose FDT_BEGIN_NODE was just read, up to its FDT_END_NODE.
    fn node(&mut self, depth: usize) -> std::result::Result<Node<'a>, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nodes nested more than {MAX_DEPTH} deep"));
        }
        let rest = self.data.get(self.at..).unwrap_or_default();
        let len = rest.iter().position(|b| *b == 0).ok_or("node name without its NUL")?;
        let name = std::str::from_utf8(self.bytes(len + 1)?.split_last().map_or(&[][..], |(_, n)| n)).map_err(|_| "node name is not UTF-8".to_string())?;
        let mut node = Node { name, properties: Vec::new(), children: Vec::new() };
        loop {
            match self.token()? {
                FDT_PROP => {
                    let len = self.u32()? as usize;
                    let name_off = self.u32()? as usize;
                    let value = self.bytes(len)?;
                    let tail = self.strings.get(name_off..).ok_or_else(|| format!("property name offset {name_off} is outside the strings block"))?;
                    let end = tail.iter().position(|b| *b == 0).ok_or("property name without its NUL")?;
                    let name = std::str::from_utf8(&tail[..end]).map_err(|_| "property name is not UTF-8".to_string())?;
                    node.properties.push((name, value));
                }
                FDT_BEGIN_NODE => node.children.push(self.node(depth + 1)?),
                FDT_END_NODE => return Ok(node),
                t => return Err(format!("unexpected token {t} in node {name:?}")),
            }
        }
    }
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
        let boot = LinuxBoot { memory: (0x8000_0000, 2 << 30), bootargs: "console=ttyAMA0 rodata=on", initrd: (0x8800_0000, 0x8801_0000), reserved: &[] };
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
    fn reserved_memory_carve_outs() {
        let reserved = [(0x9000_0800, 0x9020_0800, true), (0xa000_0000, 0xa000_1000, false)];
        let boot = LinuxBoot { memory: (0x8000_0000, 2 << 30), bootargs: "", initrd: (0x8800_0000, 0x8801_0000), reserved: &reserved };
        let out = for_linux(&qemu_like(), &boot).unwrap();
        let t = fdt::Fdt::new(&out).unwrap();
        let nomap = t.find_node("/reserved-memory/carveout@90000800").unwrap();
        let reg: Vec<(usize, Option<usize>)> = nomap.reg().unwrap().map(|r| (r.starting_address as usize, r.size)).collect();
        assert_eq!(reg, [(0x9000_0800, Some(0x20_0000))]);
        assert!(nomap.property("no-map").is_some());
        assert!(t.find_node("/reserved-memory/carveout@a0000000").unwrap().property("no-map").is_none());
        assert!(t.find_node("/reserved-memory").unwrap().property("ranges").is_some());
        // Outside Linux's RAM: named.
        let bad = [(0x4000_0000, 0x4000_1000, true)];
        let e = for_linux(&qemu_like(), &LinuxBoot { reserved: &bad, ..boot }).unwrap_err();
        assert!(e.to_string().contains("reserved memory 0x40000000-0x40001000 is outside Linux's RAM 0x80000000-0x100000000"), "{e}");
    }

    #[test]
    fn garbage_is_an_error() {
        let boot = LinuxBoot { memory: (0, 1), bootargs: "", initrd: (0, 0), reserved: &[] };
        let e = for_linux(b"not a device tree", &boot).unwrap_err();
        assert!(e.to_string().starts_with("device tree: reading QEMU's device tree"), "{e}");
    }

    fn be32(b: &[u8], at: usize) -> usize {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap()) as usize
    }

    /// Regression (fuzz): the `fdt` crate, which read QEMU's tree before, panicked on a
    /// property whose length runs past the structure block; every malformed tree must be
    /// an error.
    #[test]
    fn malformed_trees_are_errors() {
        let boot = LinuxBoot { memory: (0x8000_0000, 1 << 30), bootargs: "", initrd: (0, 0), reserved: &[] };
        let good = qemu_like();
        let off_struct = be32(&good, 8);
        // The root's first property: FDT_BEGIN_NODE, "\0" padded to 4, FDT_PROP, len.
        assert_eq!(be32(&good, off_struct + 8), 3);
        let mut long_prop = good.clone();
        long_prop[off_struct + 12..off_struct + 16].copy_from_slice(&0x0057_0000u32.to_be_bytes());
        let mut bad_name = good.clone();
        bad_name[off_struct + 16..off_struct + 20].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut no_end = good.clone();
        let size_struct = be32(&good, 36);
        no_end[off_struct + size_struct - 4..off_struct + size_struct].copy_from_slice(&4u32.to_be_bytes());
        let mut big_total = good.clone();
        big_total[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let mut deep = FdtWriter::new().unwrap();
        let nodes: Vec<_> = (0..=MAX_DEPTH + 1).map(|i| deep.begin_node(if i == 0 { "" } else { "n" }).unwrap()).collect();
        for n in nodes.into_iter().rev() {
            deep.end_node(n).unwrap();
        }
        let deep = deep.finish().unwrap();
        for (what, tree) in [("long property", long_prop), ("bad name offset", bad_name), ("no end", no_end), ("total size", big_total), ("too deep", deep)] {
            let e = for_linux(&tree, &boot).unwrap_err().to_string();
            assert!(e.starts_with("device tree: reading QEMU's device tree: "), "{what}: {e}");
            assert!(what != "too deep" || e.contains("nested more than"), "{e}");
        }
        for len in 0..good.len() {
            assert!(for_linux(&good[..len], &boot).is_err(), "cut at {len}");
        }
    }

    #[test]
    fn rewriting_is_idempotent() {
        let boot = LinuxBoot { memory: (0x8000_0000, 2 << 30), bootargs: "console=ttyAMA0", initrd: (0x8800_0000, 0x8801_0000), reserved: &[] };
        let once = for_linux(&qemu_like(), &boot).unwrap();
        assert_eq!(for_linux(&once, &boot).unwrap(), once);
    }
}
