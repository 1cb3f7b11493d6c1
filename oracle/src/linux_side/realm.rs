//! The realm as the kernel recorded it once `arm64_rsi_init()` found one
//! (arch/arm64/kernel/rsi.c): `rsi_present`, `prot_ns_shared` and the realm config.

use crate::error::{Error, Result};
use crate::linux_side::guest_memory::GuestMemory;
use crate::linux_side::kernel::GuestKernel;

/// What the kernel recorded about its realm (arch/arm64/kernel/rsi.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealmView {
    /// `prot_ns_shared`: the shared bit as it goes into a descriptor's output address.
    pub prot_ns_shared: u64,
    /// `config.ipa_bits` as RSI_REALM_CONFIG returned it.
    pub ipa_bits: u64,
}

/// Reads `rsi_present` (the static key's `enabled` count), `prot_ns_shared` and the
/// realm config; `None` until the kernel has decided it runs in a realm, and on a
/// kernel without realm support (no `rsi_present`: before v6.13, 42be24a4178f).
pub fn realm_view<M: GuestMemory + ?Sized>(gk: &GuestKernel<'_, M>) -> Result<Option<RealmView>> {
    let Ok(rsi_present) = gk.sym_pa("rsi_present") else { return Ok(None) };
    let enabled = gk.mem.bytes(rsi_present, 4)?;
    if u32::from_le_bytes([enabled[0], enabled[1], enabled[2], enabled[3]]) == 0 {
        return Ok(None);
    }
    let prot_ns_shared = gk.read_u64_sym("prot_ns_shared")?;
    let ipa_bits = gk.read_u64_sym("config")?;
    if ipa_bits == 0 || ipa_bits > 52 || prot_ns_shared != 1 << (ipa_bits - 1) {
        return Err(Error::Guest(format!("realm: prot_ns_shared {prot_ns_shared:#x} does not match config.ipa_bits {ipa_bits} (expected BIT(ipa_bits - 1) with 48-bit PAs)")));
    }
    Ok(Some(RealmView { prot_ns_shared, ipa_bits }))
}
