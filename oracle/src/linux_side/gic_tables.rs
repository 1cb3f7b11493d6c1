//! What the GIC's ITS and redistributors were told to read and write in memory: the
//! command queue (GITS_CBASER), the ITS tables (GITS_BASERn, and the level-2 tables an
//! indirect table's level 1 points at), the LPI configuration table (GICR_PROPBASER) and
//! each redistributor's LPI pending table (GICR_PENDBASER). Read from the devices' own
//! registers (QEMU `virt`: ITS at 0x0808_0000, redistributors from 0x080a_0000), not from
//! the driver's variables, so a driver that shares one buffer and gives the device
//! another is caught. Register layouts: Arm IHI 0069 (GICv3), 12.19 and 12.11.

use rust_impl::address::PhysAddr;

/// QEMU `virt`'s ITS frame (hw/arm/virt.c, `VIRT_GIC_ITS`).
pub const VIRT_GIC_ITS: u64 = 0x0808_0000;
/// QEMU `virt`'s first redistributor (`VIRT_GIC_REDIST`); GICv3 redistributors are two
/// 64 KiB frames each.
pub const VIRT_GIC_REDIST: u64 = 0x080a_0000;
const REDIST_STRIDE: u64 = 0x2_0000;

const GITS_CBASER: u64 = 0x0080;
const GITS_BASER: u64 = 0x0100;
const GICR_TYPER: u64 = 0x0008;
const GICR_PROPBASER: u64 = 0x0070;
const GICR_PENDBASER: u64 = 0x0078;
const VALID: u64 = 1 << 63;
const INDIRECT: u64 = 1 << 62;
/// GICR_TYPER.Last: this is the last redistributor of the region.
const TYPER_LAST: u64 = 1 << 4;

/// One buffer a device was told about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceBuffer {
    /// The register that names it, e.g. `GITS_BASER1 (collections)`.
    pub what: String,
    pub pa: PhysAddr,
    /// Bytes the device may access from `pa`.
    pub bytes: u64,
    /// Bytes the kernel allocates (and shares) for it: the device's size rounded as the
    /// driver's allocation is (drivers/irqchip/irq-gic-v3-its.c:65-66 for the LPI tables).
    pub alloc_bytes: u64,
}

fn baser_type(t: u64) -> &'static str {
    match t {
        1 => "devices",
        2 => "vPEs",
        4 => "collections",
        _ => "unknown type",
    }
}

fn page_size(baser: u64) -> u64 {
    match (baser >> 8) & 3 {
        0 => 4 << 10,
        1 => 16 << 10,
        _ => 64 << 10,
    }
}

/// The table address of a GITS_BASERn: bits [47:12], and with 64 KiB pages bits [51:48]
/// from [15:12].
fn baser_pa(baser: u64, psz: u64) -> u64 {
    let pa = baser & 0x0000_ffff_ffff_f000;
    if psz == 64 << 10 {
        (pa & !0xffff) | ((baser >> 12) & 0xf) << 48
    } else {
        pa
    }
}

fn align_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

type ReadPhys<'a> = dyn FnMut(u64, usize) -> Option<Vec<u8>> + 'a;

/// `n` little-endian 64-bit words at `pa`.
fn words(read: &mut ReadPhys<'_>, pa: u64, n: usize) -> Option<Vec<u64>> {
    let b = read(pa, 8 * n).filter(|b| b.len() == 8 * n)?;
    Some(b.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect())
}

fn reg(read: &mut ReadPhys<'_>, pa: u64) -> Option<u64> {
    words(read, pa, 1).map(|w| w[0])
}

/// Decodes the registers, reading `len` bytes at a physical address with `read`: each
/// 64-bit register, and the level 1 of an indirect table (in guest RAM) in one go.
pub fn device_buffers(read: &mut ReadPhys<'_>) -> Vec<DeviceBuffer> {
    let mut out = Vec::new();
    let Some(cbaser) = reg(read, VIRT_GIC_ITS + GITS_CBASER) else { return out };
    if cbaser & VALID != 0 {
        let bytes = ((cbaser & 0xff) + 1) * 4096;
        out.push(DeviceBuffer { what: "GITS_CBASER (command queue)".into(), pa: PhysAddr(cbaser & 0x000f_ffff_ffff_f000), bytes, alloc_bytes: bytes });
    }
    for n in 0..8u64 {
        let Some(b) = reg(read, VIRT_GIC_ITS + GITS_BASER + 8 * n) else { continue };
        if b & VALID == 0 {
            continue;
        }
        let psz = page_size(b);
        let (pa, bytes) = (baser_pa(b, psz), ((b & 0xff) + 1) * psz);
        let kind = baser_type((b >> 56) & 7);
        out.push(DeviceBuffer { what: format!("GITS_BASER{n} ({kind}{})", if b & INDIRECT != 0 { ", level 1" } else { "" }), pa: PhysAddr(pa), bytes, alloc_bytes: bytes });
        if b & INDIRECT != 0 {
            // Level-1 entries are 8 bytes, valid in bit 63, pointing at one page each.
            let level1 = words(read, pa, (bytes / 8) as usize).unwrap_or_default();
            for (i, e) in level1.into_iter().enumerate().filter(|(_, e)| e & VALID != 0) {
                out.push(DeviceBuffer { what: format!("GITS_BASER{n} ({kind}) level 2, entry {i}"), pa: PhysAddr(e & 0x000f_ffff_ffff_f000 & !(psz - 1)), bytes: psz, alloc_bytes: psz });
            }
        }
    }
    let mut prop_seen = Vec::new();
    for i in 0..512u64 {
        let rd = VIRT_GIC_REDIST + i * REDIST_STRIDE;
        let (Some(typer), Some(prop), Some(pend)) = (reg(read, rd + GICR_TYPER), reg(read, rd + GICR_PROPBASER), reg(read, rd + GICR_PENDBASER)) else { break };
        // IDbits+1 interrupt ID bits: the configuration table holds one byte per LPI
        // (IDs from 8192), the pending table one bit per ID.
        let id_bits = (prop & 0x1f) + 1;
        let prop_pa = prop & 0x000f_ffff_ffff_f000;
        if prop_pa != 0 && !prop_seen.contains(&prop_pa) {
            prop_seen.push(prop_pa);
            let bytes = (1u64 << id_bits).saturating_sub(8192);
            out.push(DeviceBuffer { what: "GICR_PROPBASER (LPI configuration)".into(), pa: PhysAddr(prop_pa), bytes, alloc_bytes: align_up(1 << id_bits, 64 << 10) });
        }
        let pend_pa = pend & 0x000f_ffff_ffff_0000;
        if pend_pa != 0 {
            let bytes = (1u64 << id_bits) / 8;
            out.push(DeviceBuffer { what: format!("GICR_PENDBASER of redistributor {i} (LPI pending)"), pa: PhysAddr(pend_pa), bytes, alloc_bytes: align_up(bytes, 64 << 10) });
        }
        if typer & TYPER_LAST != 0 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn decodes_the_its_and_two_redistributors() {
        let mut regs: HashMap<u64, u64> = HashMap::new();
        regs.insert(VIRT_GIC_ITS + GITS_CBASER, VALID | 0x4083_0000 | 15);
        // BASER0: devices, 64 KiB pages, indirect, one page at 0x4084_0000 (bits [47:16]).
        regs.insert(VIRT_GIC_ITS + GITS_BASER, VALID | INDIRECT | 1 << 56 | 0x4084_0000 | 2 << 8);
        regs.insert(0x4084_0000 + 8, VALID | 0x4090_0000);
        // BASER1: collections, 4 KiB pages, 16 pages.
        regs.insert(VIRT_GIC_ITS + GITS_BASER + 8, VALID | 4 << 56 | 0x4085_0000 | 15);
        for (i, pend) in [(0u64, 0x4087_0000u64), (1, 0x4088_0000)] {
            let rd = VIRT_GIC_REDIST + i * REDIST_STRIDE;
            regs.insert(rd + GICR_TYPER, if i == 1 { TYPER_LAST } else { 0 });
            regs.insert(rd + GICR_PROPBASER, 0x4086_0000 | 15);
            regs.insert(rd + GICR_PENDBASER, pend);
        }
        let got = device_buffers(&mut |pa, len| Some((0..len as u64 / 8).flat_map(|i| regs.get(&(pa + 8 * i)).copied().unwrap_or(0).to_le_bytes()).collect()));
        let brief: Vec<(u64, u64, u64)> = got.iter().map(|b| (b.pa.0, b.bytes, b.alloc_bytes)).collect();
        assert_eq!(
            brief,
            [
                (0x4083_0000, 0x1_0000, 0x1_0000),
                (0x4084_0000, 0x1_0000, 0x1_0000),
                (0x4090_0000, 0x1_0000, 0x1_0000),
                (0x4085_0000, 0x1_0000, 0x1_0000),
                (0x4086_0000, 0x1_0000 - 8192, 0x1_0000),
                (0x4087_0000, 0x2000, 0x1_0000),
                (0x4088_0000, 0x2000, 0x1_0000),
            ]
        );
        assert_eq!(got[1].what, "GITS_BASER0 (devices, level 1)");
        assert_eq!(got[2].what, "GITS_BASER0 (devices) level 2, entry 1");
        assert_eq!(got[6].what, "GICR_PENDBASER of redistributor 1 (LPI pending)");
    }

    #[test]
    fn nothing_programmed_is_nothing_told() {
        assert!(device_buffers(&mut |_, len| Some(vec![0; len])).is_empty());
        assert!(device_buffers(&mut |_, _| None).is_empty());
    }
}
