//! Where everything sits in guest physical memory when the monitor runs. QEMU's RAM
//! starts at [`RAM_BASE`] (RAM file offset 0); the monitor owns the first GiB of it and
//! Linux gets RAM from [`LINUX_RAM_BASE`] on, described to it by the device tree. Linux
//! sits at the same offset inside its first GiB as without the monitor (2 MiB), so its
//! linear map has the same shape, only 1 GiB higher in PA: on 4K, 16K and 64K pages
//! `memstart_addr` is aligned to at most 1 GiB.

/// Start of RAM on `-machine virt`.
pub const RAM_BASE: u64 = 0x4000_0000;
/// RAM the monitor keeps for itself, below Linux's RAM; never mapped for the realm.
pub const MONITOR_RESERVED: u64 = 1 << 30;
/// Where Linux's RAM starts.
pub const LINUX_RAM_BASE: u64 = RAM_BASE + MONITOR_RESERVED;
/// Where QEMU loads the monitor (an arm64 Image with text_offset 0 goes 2 MiB above
/// RAM, above QEMU's own boot stub). Must match `monitor.ld`.
pub const MONITOR_BASE: u64 = RAM_BASE + 0x20_0000;
/// The boot information page the harness loads ([`crate::bootinfo`]).
pub const BOOT_INFO_PA: u64 = RAM_BASE + 0x40_0000;
/// The event log ([`crate::eventlog`]).
pub const LOG_PA: u64 = RAM_BASE + 0x100_0000;
pub const LOG_SIZE: u64 = 16 << 20;
/// One RIPAS byte per 4 KiB granule of Linux RAM ([`crate::ripas`]).
pub const RIPAS_PA: u64 = RAM_BASE + 0x200_0000;
pub const RIPAS_SIZE: u64 = 16 << 20;
/// Pages for stage-2 translation tables ([`crate::stage2`]).
pub const S2_POOL_PA: u64 = RAM_BASE + 0x400_0000;
pub const S2_POOL_SIZE: u64 = 64 << 20;
/// QEMU puts its own device tree here (RAM + 128 MiB); the monitor ignores it, and no
/// blob the harness loads may overlap it.
pub const QEMU_DTB_PA: u64 = RAM_BASE + 0x800_0000;

/// Linux's Image, initramfs and device tree, at the offsets QEMU's own loader uses.
pub const LINUX_IMAGE_PA: u64 = LINUX_RAM_BASE + 0x20_0000;
pub const LINUX_INITRD_PA: u64 = LINUX_RAM_BASE + 0x800_0000;

/// The RMM granule: RIPAS is tracked per 4 KiB whatever Linux's page size.
pub const GRANULE: u64 = 4096;
/// Most Linux RAM the RIPAS table covers.
pub const MAX_LINUX_RAM: u64 = RIPAS_SIZE * GRANULE;
/// CPUs the monitor has stacks and identities for (the kernel's NR_CPUS in this corpus).
pub const MAX_CPUS: usize = 8;

/// PL011 UART on `-machine virt`: the monitor's banner and panic messages.
pub const UART_PA: u64 = 0x0900_0000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_do_not_overlap() {
        let regions = [
            (MONITOR_BASE, BOOT_INFO_PA),
            (BOOT_INFO_PA, BOOT_INFO_PA + GRANULE),
            (LOG_PA, LOG_PA + LOG_SIZE),
            (RIPAS_PA, RIPAS_PA + RIPAS_SIZE),
            (S2_POOL_PA, S2_POOL_PA + S2_POOL_SIZE),
        ];
        for (i, a) in regions.iter().enumerate() {
            assert!(a.1 <= QEMU_DTB_PA, "region {i} reaches QEMU's device tree");
            for b in &regions[i + 1..] {
                assert!(a.1 <= b.0, "{a:x?} overlaps {b:x?}");
            }
        }
        assert_eq!(LINUX_RAM_BASE % (1 << 30), 0);
        assert_eq!(MAX_LINUX_RAM, 64 << 30);
    }
}
