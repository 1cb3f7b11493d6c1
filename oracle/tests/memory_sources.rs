//! The same paused guest read through the RAM-file mapping and through an ELF core from
//! QMP `dump-guest-memory` gives the same walk.

mod common;

use linux_harness::{BootOutcome, EndAction};
use oracle::boot::boot_scenario;
use oracle::linux_side::guest_memory::{ElfCore, GuestMemory, MappedRam};
use oracle::linux_side::kernel::GuestKernel;
use oracle::linux_side::read_linux_side;
use oracle::prepare::prepare;
use rust_impl::address::PhysAddr;

#[test]
fn ram_file_and_elf_core_agree() {
    let p = prepare(&common::scenario("bbml3-blocks")).unwrap_or_else(|e| panic!("{e:#}"));
    let boot = boot_scenario(&p, EndAction::Wait, false).unwrap();
    assert_eq!(boot.outcome, BootOutcome::Booted);
    let guest = boot.guest.as_ref().unwrap();
    guest.pause().unwrap();
    let core_path = guest.run_dir().join("core.elf");
    guest.dump_core(&core_path).unwrap();

    let base = PhysAddr(guest.ram_base());
    let ram = MappedRam::open(guest.ram_file(), base).unwrap();
    let core = ElfCore::open(&core_path).unwrap();
    let info = p.kernel_info().unwrap();
    // Every byte of the first page table page reads the same both ways.
    let from_ram = read_linux_side(&GuestKernel::attach(&ram, base, guest.ram_size(), info).unwrap(), None).unwrap();
    let from_core = read_linux_side(&GuestKernel::attach(&core, base, guest.ram_size(), info).unwrap(), None).unwrap();
    assert_eq!(from_ram.view, from_core.view);
    assert_eq!(from_ram.visits, from_core.visits);
    assert_eq!(from_ram.linear_map, from_core.linear_map);
    let root = from_ram.view.swapper_pa;
    assert_eq!(ram.bytes(root, 4096).unwrap(), core.bytes(root, 4096).unwrap());
    // Outside RAM is an error from both.
    let end = PhysAddr(guest.ram_base() + guest.ram_size());
    assert!(ram.read_u64(end).is_err());
    assert!(core.read_u64(end).is_err());
}
