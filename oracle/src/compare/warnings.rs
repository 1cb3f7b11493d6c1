//! The kernel's WARNs against the model's: a WARN the model's own kernel paths raise at
//! the same site (a refused RIPAS change's "Failed to decrypt memory", a split refused in
//! a boot window) is predicted, not a divergence; a kernel WARN the model does not raise,
//! or one the model raises that the kernel did not print, is.

use linux_harness::console::Warning as KernelWarn;
use rust_impl::pgtable::Warning;

/// Kernel WARN blocks and model warnings that do not pair up, one line each (empty: the
/// model predicts exactly the kernel's WARNs).
pub fn unpredicted(kernel: &[KernelWarn], model: &[Warning]) -> Vec<String> {
    // A WARN_ON_ONCE site prints once per boot however often the model passes it.
    let mut predicted: Vec<&Warning> = Vec::new();
    for w in model.iter().filter(|w| w.kind.kernel_site().is_some()) {
        if !(w.kind.is_once() && predicted.iter().any(|p| p.kind == w.kind)) {
            predicted.push(w);
        }
    }
    let mut out = Vec::new();
    for k in kernel {
        let file = k.location.as_deref().and_then(|l| l.rsplit_once(':')).map(|(f, _)| f).unwrap_or("");
        let function = k.function.as_deref().and_then(|f| f.split('+').next()).unwrap_or("");
        let site = |w: &&Warning| w.kind.kernel_site().is_some_and(|(f, fns)| f == file && fns.contains(&function));
        match predicted.iter().position(site) {
            Some(i) => {
                predicted.remove(i);
            }
            None => out.push(format!("kernel WARN at {} ({}) that the model does not raise", k.location.as_deref().unwrap_or("?"), k.function.as_deref().unwrap_or("?"))),
        }
    }
    out.extend(predicted.iter().map(|w| format!("the model raises a WARN the kernel did not print: {w}")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_impl::address::VirtAddr;
    use rust_impl::pgtable::WarnKind;

    fn kernel(location: &str, function: &str) -> KernelWarn {
        KernelWarn { location: Some(location.into()), function: Some(function.into()), text: String::new() }
    }

    fn model(kind: WarnKind) -> Warning {
        Warning { kind, va: VirtAddr(0xffff_0000_0080_0000), level: rust_impl::granule::Level::Pte, old: 512, new: 0 }
    }

    #[test]
    fn predicted_warns_pair_up_and_the_rest_is_named() {
        let decrypt = kernel("arch/arm64/mm/pageattr.c:342", "realm_set_memory_decrypted+0x48/0x5c");
        assert!(unpredicted(&[decrypt.clone()], &[model(WarnKind::DecryptFailed)]).is_empty());
        // A WARN_ON_ONCE site passed twice by the model prints once.
        let once = kernel("arch/arm64/mm/pageattr.c:115", "update_range_prot+0x30/0x90");
        assert!(unpredicted(&[once], &[model(WarnKind::UpdateRangeProtSplitFailed), model(WarnKind::UpdateRangeProtSplitFailed)]).is_empty());
        let gate = kernel("arch/arm64/mm/mmu.c:825", "split_kernel_leaf_mapping+0x78/0x10c");
        let both = unpredicted(&[decrypt, gate], &[model(WarnKind::EncryptFailed)]);
        assert_eq!(both.len(), 3, "{both:?}");
        assert!(both[1].contains("mmu.c:825") && both[2].contains("the kernel did not print"), "{both:?}");
        // A pr_warn() of the model has no WARN block to pair with.
        assert!(unpredicted(&[], &[model(WarnKind::OutsideKernelRange)]).is_empty());
    }
}
