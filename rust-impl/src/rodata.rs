//! The linear-map side of `mark_rodata_ro()` in arch/arm64/mm/mmu.c (7.3;
//! docs/split.md#mark_rodata_ro): the linear alias of the kernel data/bss becomes
//! present-invalid (in 7.2: read-only; in 6.12: untouched; docs/versions.md).

use crate::address::PhysAddr;
use crate::errno::Result;
use crate::mmu::Mmu;
use crate::pgtable::PgtableEnv;
use crate::pgtable_prot::PAGE_KERNEL_RO;
use crate::split::BootState;

impl<E: PgtableEnv> Mmu<E> {
    /// Mirrors `mark_linear_data_alias_valid()` in arch/arm64/mm/mmu.c (7.3):
    /// `set_memory_valid(lm_alias(__init_end), (__bss_stop - __init_end) / PAGE_SIZE,
    /// valid)`. `init_end` and `bss_stop` are `__pa_symbol()`s (`__bss_stop` is
    /// page-aligned by the linker script, so the division loses nothing).
    pub fn mark_linear_data_alias_valid(&mut self, boot: &BootState, init_end: PhysAddr, bss_stop: PhysAddr, valid: bool) -> Result<()> {
        let addr = self.lm(init_end);
        let numpages = (bss_stop.0.wrapping_sub(init_end.0) / self.granule.page_size()) as u32;
        self.set_memory_valid(boot, addr, numpages, valid)
    }

    /// Mirrors `mark_rodata_ro()` in arch/arm64/mm/mmu.c (7.3), which the kernel runs
    /// only with `rodata_enabled` (from `mark_readonly()`). Its two
    /// `update_mapping_prot()` calls (`[__start_rodata, __init_begin)` and
    /// `[_text, _stext)` to `PAGE_KERNEL_RO`) change the kernel-image mapping, which
    /// is not in the model's tables; what reaches the linear map is
    /// `mark_linear_data_alias_valid(false)`: LM(`[__init_end, __bss_stop)`) becomes
    /// present-invalid, through `set_memory_valid()` and so through the split gate,
    /// with a TLB flush. The kernel ignores the result; the model returns it.
    ///
    /// Under 7.2's rules (`Rules::data_alias_unmapped` false; mmu.c:1218-1222 in 7.2)
    /// it is `update_mapping_prot()` of that alias to `PAGE_KERNEL_RO` instead: still
    /// valid, read-only, MT_NORMAL, the granularity kept, no split, a TLB flush. Under
    /// 6.12's (mmu.c:702-718 in 6.12) nothing reaches the linear map.
    pub fn mark_rodata_ro(&mut self, boot: &BootState, init_end: PhysAddr, bss_stop: PhysAddr) -> Result<()> {
        if !self.rules.mark_rodata_ro_changes_data_alias() {
            return Ok(());
        }
        if self.rules.data_alias_unmapped() {
            return self.mark_linear_data_alias_valid(boot, init_end, bss_stop, false);
        }
        let virt = self.lm(init_end);
        self.update_mapping_prot(init_end, virt, bss_stop.0.wrapping_sub(init_end.0), PAGE_KERNEL_RO)
    }
}
