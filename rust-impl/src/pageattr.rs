//! Changing attributes of live linear-map entries (arch/arm64/mm/pageattr.c and
//! arch/arm64/mm/mem_encrypt.c, 7.3; docs/split.md#attribute-changes and
//! docs/realm.md): `update_range_prot` (split, then a lockless walk that rewrites
//! entries in place), `__change_memory_common` and its flush rule, the `set_memory_*`
//! and `set_direct_map_*` entry points, and the realm share/unshare path
//! `__set_memory_enc_dec`.
//!
//! Only the model's tables (the linear map) are walked. A vmalloc or kernel-image
//! address finds no entries in them, so for those only the split gate, the WARNs and
//! the TLB flush are reported.

use crate::address::{PhysAddr, VirtAddr};
use crate::descriptor::*;
use crate::errno::{Errno, Result};
use crate::lazy_mmu::LazyMmu;
use crate::mmu::{EntryRef, Mmu};
use crate::pagewalk::{walk_kernel_page_table_range_lockless, MmWalkOps, WalkAction};
use crate::pgtable::*;
use crate::pgtable_prot::PTE_PRESENT_VALID_KERNEL;
use crate::rsi::{Ripas, Rsi};
use crate::split::BootState;

/// What `find_vm_area(addr)` returns to `change_memory_common()`: the vmalloc area
/// holding `addr` and the pages behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmArea<'a> {
    /// `area->addr`.
    pub addr: VirtAddr,
    /// `area->size`, guard page included.
    pub size: u64,
    /// `(area->flags & (VM_ALLOC | VM_ALLOW_HUGE_VMAP)) == VM_ALLOC`.
    pub vm_alloc: bool,
    /// `area->pages`: the physical page behind each page of the area, in order.
    pub pages: &'a [PhysAddr],
}

/// `struct page_change_data`: the masks `pageattr_ops` apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PageChangeData {
    set_mask: u64,
    clear_mask: u64,
}

impl PageChangeData {
    /// Mirrors `set_pageattr_masks()` in arch/arm64/mm/pageattr.c (7.3): clear first,
    /// then set (`PTE_NG` and `PTE_PRESENT_INVALID` alias each other).
    const fn set_pageattr_masks(&self, val: u64) -> u64 {
        (val & !self.clear_mask) | self.set_mask
    }

    /// The `WARN_ON_ONCE((next - addr) != P?D_SIZE)` of `pageattr_p?d_entry()`.
    fn check_block_span<E: PgtableEnv>(k: &mut LazyMmu<'_, E>, arch_level: i32, addr: u64, next: u64, val: u64) -> Result<()> {
        let span = next.wrapping_sub(addr);
        if span != k.mmu.entry_size(arch_level) {
            let level = k.mmu.level_name(arch_level);
            k.mmu.env.warn(Warning { kind: WarnKind::PageattrPartialBlock, va: VirtAddr(addr), level, old: val, new: span });
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

impl<E: PgtableEnv> MmWalkOps<E> for PageChangeData {
    /// Mirrors `pageattr_pud_entry()` in arch/arm64/mm/pageattr.c (7.3): a PUD leaf,
    /// valid or present-invalid, is rewritten in place if the walk covers all of it,
    /// else WARN and `-EINVAL`.
    fn pud_entry(&mut self, k: &mut LazyMmu<'_, E>, pudp: EntryRef, addr: u64, next: u64) -> Result<WalkAction> {
        let val = k.read(pudp);
        if pud_leaf(k.mmu.granule, val) {
            Self::check_block_span(k, 1, addr, next, val)?;
            k.set_pud(pudp, self.set_pageattr_masks(val));
            return Ok(WalkAction::Continue);
        }
        Ok(WalkAction::Subtree)
    }

    /// Mirrors `pageattr_pmd_entry()` in arch/arm64/mm/pageattr.c (7.3). A CONT group
    /// is not looked at: one PMD of it may change alone.
    fn pmd_entry(&mut self, k: &mut LazyMmu<'_, E>, pmdp: EntryRef, addr: u64, next: u64) -> Result<WalkAction> {
        let val = k.read(pmdp);
        if pmd_leaf(val) {
            Self::check_block_span(k, 2, addr, next, val)?;
            k.set_pmd(pmdp, self.set_pageattr_masks(val));
            return Ok(WalkAction::Continue);
        }
        Ok(WalkAction::Subtree)
    }

    /// Mirrors `pageattr_pte_entry()` in arch/arm64/mm/pageattr.c (7.3): every slot in
    /// range is rewritten, whatever it holds.
    fn pte_entry(&mut self, k: &mut LazyMmu<'_, E>, ptep: EntryRef, _addr: u64, _next: u64) -> Result<()> {
        let val = k.read(ptep);
        k.set_pte(ptep, self.set_pageattr_masks(val));
        Ok(())
    }
}

/// The negative errno of `e` as the `u64` a [`Warning`] carries (0 for a BUG).
fn errno_bits(e: Errno) -> u64 {
    e.to_errno().map_or(0, |v| i64::from(v) as u64)
}

impl<E: PgtableEnv> Mmu<E> {
    /// Mirrors `update_range_prot()` in arch/arm64/mm/pageattr.c (7.3): splits so that
    /// `start` and `start + size` are leaf boundaries (a failure is WARN_ON_ONCE'd and
    /// returned with nothing walked), then walks `[start, start + size)` applying
    /// `clear_mask` then `set_mask` (docs/split.md#update_range_prot). The walk stops at
    /// the first block it only partly covers (WARN, `-EINVAL`), leaving the entries
    /// before it changed.
    /// No TLB maintenance. An empty range is `-EINVAL` (from the walker).
    pub fn update_range_prot(&mut self, boot: &BootState, start: VirtAddr, size: u64, set_mask: u64, clear_mask: u64) -> Result<()> {
        let end = start.0.wrapping_add(size);
        if let Err(e) = self.split_kernel_leaf_mapping(boot, start, VirtAddr(end)) {
            let level = self.level_name(self.start_level());
            self.env.warn(Warning { kind: WarnKind::UpdateRangeProtSplitFailed, va: start, level, old: errno_bits(e), new: 0 });
            return Err(e);
        }
        let mut data = PageChangeData { set_mask, clear_mask };
        // The caller must ensure that the range does not partially overlap a block or
        // a cont mapping: the split above is what eliminates those.
        LazyMmu::new(self).lazy(|k| walk_kernel_page_table_range_lockless(k, start.0, end, &mut data))
    }

    /// Mirrors `__change_memory_common()` in arch/arm64/mm/pageattr.c (7.3):
    /// [`Mmu::update_range_prot`], then `flush_tlb_kernel_range(start, start + size)`,
    /// also after a failure, unless the change is exactly "set
    /// `PTE_PRESENT_VALID_KERNEL`, clear `PTE_PRESENT_INVALID`" (an invalid entry cannot
    /// be in the TLB).
    pub fn __change_memory_common(&mut self, boot: &BootState, start: VirtAddr, size: u64, set_mask: u64, clear_mask: u64) -> Result<()> {
        let ret = self.update_range_prot(boot, start, size, set_mask, clear_mask);
        if set_mask != PTE_PRESENT_VALID_KERNEL || clear_mask != PTE_PRESENT_INVALID {
            self.env.flush_tlb_kernel_range(start, VirtAddr(start.0.wrapping_add(size)));
        }
        ret
    }

    /// Mirrors `change_memory_common()` in arch/arm64/mm/pageattr.c (7.3). `area` is
    /// what `find_vm_area(addr)` finds: `None` (which is the case for every linear-map
    /// address), a range running past it, or an area that is not plain `VM_ALLOC` is
    /// `-EINVAL`. An unaligned `addr` is rounded down with a WARN_ON_ONCE. With
    /// `rodata_full` and a change of exactly `PTE_RDONLY` (set or clear), the linear
    /// alias of each backing page is changed first, one page per
    /// `__change_memory_common` (so one single-page split each); then the vmalloc range
    /// itself, which is not in the model's tables. `-EINVAL` too if `area.pages` is
    /// shorter than the range (the kernel would read past `area->pages`).
    pub fn change_memory_common(&mut self, boot: &BootState, addr: VirtAddr, numpages: u32, set_mask: u64, clear_mask: u64, area: Option<&VmArea<'_>>) -> Result<()> {
        let page = self.granule.page_size();
        let size = page * u64::from(numpages);
        let mut start = addr.0;
        let mut end = start.wrapping_add(size);
        if start & (page - 1) != 0 {
            start &= !(page - 1);
            end = start.wrapping_add(size);
            let level = self.level_name(self.start_level());
            self.env.warn(Warning { kind: WarnKind::ChangeMemoryUnaligned, va: addr, level, old: addr.0, new: 0 });
        }

        // Only ranges entirely inside one VM_ALLOC (not huge) vmalloc area, so that no
        // split is ever needed there.
        let area = match area {
            Some(a) if addr.0.wrapping_sub(a.addr.0) < a.size && end <= a.addr.0.wrapping_add(a.size) && a.vm_alloc => a,
            _ => return Err(Errno::EINVAL),
        };
        if numpages == 0 {
            return Ok(());
        }

        // Read-only changes also go to the linear alias of the backing pages.
        if boot.policy.rodata_full && (set_mask == PTE_RDONLY || clear_mask == PTE_RDONLY) {
            let first = (start.wrapping_sub(area.addr.0) / page) as usize;
            let pages = first.checked_add(numpages as usize).and_then(|last| area.pages.get(first..last)).ok_or(Errno::EINVAL)?;
            for &pa in pages {
                let alias = self.lm(pa);
                self.__change_memory_common(boot, alias, page, set_mask, clear_mask)?;
            }
        }

        // vm_unmap_aliases(): lazily freed vmalloc aliases are not modelled.
        self.__change_memory_common(boot, VirtAddr(start), size, set_mask, clear_mask)
    }

    /// Mirrors `set_memory_ro()` in arch/arm64/mm/pageattr.c (7.3).
    pub fn set_memory_ro(&mut self, boot: &BootState, addr: VirtAddr, numpages: u32, area: Option<&VmArea<'_>>) -> Result<()> {
        self.change_memory_common(boot, addr, numpages, PTE_RDONLY, PTE_WRITE, area)
    }

    /// Mirrors `set_memory_rw()` in arch/arm64/mm/pageattr.c (7.3).
    pub fn set_memory_rw(&mut self, boot: &BootState, addr: VirtAddr, numpages: u32, area: Option<&VmArea<'_>>) -> Result<()> {
        self.change_memory_common(boot, addr, numpages, PTE_WRITE, PTE_RDONLY, area)
    }

    /// Mirrors `set_memory_nx()` in arch/arm64/mm/pageattr.c (7.3).
    pub fn set_memory_nx(&mut self, boot: &BootState, addr: VirtAddr, numpages: u32, area: Option<&VmArea<'_>>) -> Result<()> {
        self.change_memory_common(boot, addr, numpages, PTE_PXN, pte_maybe_gp(boot), area)
    }

    /// Mirrors `set_memory_x()` in arch/arm64/mm/pageattr.c (7.3).
    pub fn set_memory_x(&mut self, boot: &BootState, addr: VirtAddr, numpages: u32, area: Option<&VmArea<'_>>) -> Result<()> {
        self.change_memory_common(boot, addr, numpages, pte_maybe_gp(boot), PTE_PXN, area)
    }

    /// The `(set, clear)` masks that make a kernel entry invalid: present-invalid
    /// (`PTE_PRESENT_INVALID`, arch/arm64/include/asm/pgtable-prot.h:26-28 in 7.3) or,
    /// under 6.12's rules ([`crate::version::Rules::present_invalid`] false), `PTE_VALID`
    /// cleared alone (pageattr.c:153-193 in 6.12).
    fn invalid_masks(&self) -> (u64, u64) {
        if self.rules.present_invalid() {
            (PTE_PRESENT_INVALID, PTE_PRESENT_VALID_KERNEL)
        } else {
            (0, PTE_VALID)
        }
    }

    /// The `(set, clear)` masks that make it valid again: [`Mmu::invalid_masks`] swapped.
    fn valid_masks(&self) -> (u64, u64) {
        let (set, clear) = self.invalid_masks();
        (clear, set)
    }

    /// Mirrors `set_memory_valid()` in arch/arm64/mm/pageattr.c (7.3): any kernel
    /// address, no area check. Making valid is the one change that does not flush
    /// (under 6.12's rules every change flushes, pageattr.c:51-65 there; nothing it is
    /// called on at boot there needs a split).
    pub fn set_memory_valid(&mut self, boot: &BootState, addr: VirtAddr, numpages: u32, enable: bool) -> Result<()> {
        let size = self.granule.page_size() * u64::from(numpages);
        let (set, clear) = if enable { self.valid_masks() } else { self.invalid_masks() };
        self.__change_memory_common(boot, addr, size, set, clear)
    }

    /// Mirrors `set_direct_map_invalid_noflush()` in arch/arm64/mm/pageattr.c (7.3):
    /// the linear alias of `page` becomes present-invalid, with no flush; a no-op
    /// unless `can_set_direct_map()` (evaluated now, realm included).
    pub fn set_direct_map_invalid_noflush(&mut self, boot: &BootState, page: PhysAddr) -> Result<()> {
        if !boot.policy.can_set_direct_map() {
            return Ok(());
        }
        let addr = self.lm(page);
        let size = self.granule.page_size();
        let (set, clear) = self.invalid_masks();
        self.update_range_prot(boot, addr, size, set, clear)
    }

    /// Mirrors `set_direct_map_default_noflush()` in arch/arm64/mm/pageattr.c (7.3):
    /// the linear alias of `page` becomes valid and writable, with no flush; a no-op
    /// unless `can_set_direct_map()`.
    pub fn set_direct_map_default_noflush(&mut self, boot: &BootState, page: PhysAddr) -> Result<()> {
        if !boot.policy.can_set_direct_map() {
            return Ok(());
        }
        let addr = self.lm(page);
        let size = self.granule.page_size();
        let (set, clear) = self.valid_masks();
        self.update_range_prot(boot, addr, size, set | PTE_WRITE, clear | PTE_RDONLY)
    }

    /// Mirrors `set_direct_map_valid_noflush()` in arch/arm64/mm/pageattr.c (7.3):
    /// `set_memory_valid()` on the linear alias of `nr` pages from `page`, so making
    /// them invalid does flush. A no-op unless `can_set_direct_map()`.
    pub fn set_direct_map_valid_noflush(&mut self, boot: &BootState, page: PhysAddr, nr: u32, valid: bool) -> Result<()> {
        if !boot.policy.can_set_direct_map() {
            return Ok(());
        }
        let addr = self.lm(page);
        self.set_memory_valid(boot, addr, nr, valid)
    }

    /// Mirrors `__set_memory_enc_dec()` in arch/arm64/mm/pageattr.c (7.3;
    /// docs/realm.md#sharing-and-unsharing). Outside a realm: `Ok`, nothing done. Not a
    /// linear-map address: `-EINVAL`. Else:
    ///
    /// 1. break: every entry becomes present-invalid with the NS bit
    ///    (`PROT_NS_SHARED`) set (decrypt) or cleared (encrypt), splitting first; TLB
    ///    flush;
    /// 2. `rsi_set_memory_range()` of the PA range to RIPAS_EMPTY (decrypt) or
    ///    RIPAS_RAM (encrypt);
    /// 3. make: every entry becomes valid again, no flush.
    ///
    /// A failure at 1 or 2 returns at once: after a split failure nothing has changed,
    /// after a walk failure the entries before the partial block are invalid with the
    /// NS bit changed, after an RSI failure the whole range is.
    pub fn __set_memory_enc_dec<R: Rsi>(&mut self, boot: &BootState, rsi: &mut R, addr: VirtAddr, numpages: u32, encrypt: bool) -> Result<()> {
        if !boot.policy.realm {
            return Ok(());
        }
        // __is_lm_address().
        if addr.0.wrapping_sub(self.page_offset().0) >= self.page_end().0.wrapping_sub(self.page_offset().0) {
            return Err(Errno::EINVAL);
        }
        let size = self.granule.page_size() * u64::from(numpages);
        let start = self.lm_to_phys(addr);
        let end = PhysAddr(start.0.wrapping_add(size));

        let (set_prot, clear_prot) = if encrypt { (0, boot.PROT_NS_SHARED()) } else { (boot.PROT_NS_SHARED(), 0) };

        // Break the mapping before any change, against stale TLB entries and the
        // synchronous external aborts RIPAS_EMPTY memory would give.
        self.__change_memory_common(boot, addr, size, set_prot | PTE_PRESENT_INVALID, clear_prot | PTE_PRESENT_VALID_KERNEL)?;

        if encrypt {
            // rsi_set_memory_range_protected().
            rsi.rsi_set_memory_range(start, end, Ripas::Ram)?;
        } else {
            // rsi_set_memory_range_shared().
            rsi.rsi_set_memory_range(start, end, Ripas::Empty)?;
        }

        self.__change_memory_common(boot, addr, size, PTE_PRESENT_VALID_KERNEL, PTE_PRESENT_INVALID)
    }

    /// Mirrors `set_memory_encrypted()` in arch/arm64/mm/mem_encrypt.c (7.3) with
    /// `realm_set_memory_encrypted()` of arch/arm64/mm/pageattr.c as the registered op
    /// (registered iff a realm was found): unaligned `addr` is a WARN and `Ok`; a
    /// failure is a WARN ("pages will be leaked") and returned.
    pub fn set_memory_encrypted<R: Rsi>(&mut self, boot: &BootState, rsi: &mut R, addr: VirtAddr, numpages: u32) -> Result<()> {
        self.set_memory_enc_dec(boot, rsi, addr, numpages, true)
    }

    /// Mirrors `set_memory_decrypted()` in arch/arm64/mm/mem_encrypt.c (7.3) with
    /// `realm_set_memory_decrypted()` of arch/arm64/mm/pageattr.c as the registered op.
    pub fn set_memory_decrypted<R: Rsi>(&mut self, boot: &BootState, rsi: &mut R, addr: VirtAddr, numpages: u32) -> Result<()> {
        self.set_memory_enc_dec(boot, rsi, addr, numpages, false)
    }

    fn set_memory_enc_dec<R: Rsi>(&mut self, boot: &BootState, rsi: &mut R, addr: VirtAddr, numpages: u32, encrypt: bool) -> Result<()> {
        // likely(!crypt_ops): the realm ops are registered by arm64_rsi_init().
        if !boot.policy.realm {
            return Ok(());
        }
        let level = self.level_name(self.start_level());
        if !addr.is_aligned(self.granule.page_size()) {
            self.env.warn(Warning { kind: WarnKind::MemEncryptUnaligned, va: addr, level, old: addr.0, new: 0 });
            return Ok(());
        }
        let ret = self.__set_memory_enc_dec(boot, rsi, addr, numpages, encrypt);
        if let Err(e) = ret {
            // If the request to change state fails, the only sensible course of action
            // for the caller is to leak the memory.
            let kind = if encrypt { WarnKind::EncryptFailed } else { WarnKind::DecryptFailed };
            self.env.warn(Warning { kind, va: addr, level, old: u64::from(numpages), new: errno_bits(e) });
        }
        ret
    }
}

/// `PTE_MAYBE_GP` (asm/pgtable-prot.h): `PTE_GP` when the kernel uses BTI.
const fn pte_maybe_gp(boot: &BootState) -> u64 {
    if boot.bti_kernel {
        PTE_GP
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
