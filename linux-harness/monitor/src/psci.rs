//! PSCI and SMCCC architecture calls from Linux: which the monitor answers itself, which
//! it forwards to QEMU's PSCI (reached by an SMC at EL2), and how CPU_ON is routed
//! through the monitor so the new CPU gets its EL2 state before it enters Linux.

use crate::smccc::*;

/// `PSCI_RET_INVALID_PARAMETERS` (-2).
pub const INVALID_PARAMETERS: u64 = -2i64 as u64;

/// What to do with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Return this in x0 without asking QEMU.
    Answer(u64),
    /// Issue the SMC at EL2 with these x0-x3 and return what QEMU answers.
    Forward([u64; 4]),
    /// CPU_ON: remember where Linux wants CPU `target` to start, then forward `forward`
    /// (the monitor's secondary entry, with the CPU index as context).
    CpuOn { target: usize, linux_entry: u64, linux_context: u64, forward: [u64; 4] },
}

/// The CPU index of an MPIDR on `-machine virt` with up to 8 CPUs (Aff0 = index).
pub fn cpu_index(mpidr: u64, cpus: usize) -> Option<usize> {
    let aff = mpidr & 0xff_00ff_ffff;
    (aff < cpus as u64).then_some(aff as usize)
}

/// Decides one SMCCC-architecture or PSCI call (`x` = x0-x3 as Linux passed them).
pub fn decide(x: [u64; 4], cpus: usize, secondary_entry: u64) -> Action {
    let fid = x[0] as u32;
    match fid {
        // The RSI needs SMCCC 1.1 or later to be found (arm_smccc_1_1_get_conduit()),
        // and RSI calls pass up to 17 arguments: v1.2.
        SMCCC_VERSION => Action::Answer(SMCCC_VERSION_1_2),
        // No CPU-vulnerability workarounds or SoC id from this firmware.
        SMCCC_ARCH_FEATURES => Action::Answer(NOT_SUPPORTED),
        // QEMU's PSCI does not know SMCCC_VERSION; the monitor implements it.
        PSCI_FEATURES if x[1] as u32 == SMCCC_VERSION => Action::Answer(0),
        PSCI_CPU_ON | PSCI_CPU_ON_64 => match cpu_index(x[1], cpus) {
            Some(target) => Action::CpuOn {
                target,
                linux_entry: x[2],
                linux_context: x[3],
                forward: [PSCI_CPU_ON_64 as u64, x[1], secondary_entry, target as u64],
            },
            None => Action::Answer(INVALID_PARAMETERS),
        },
        _ => Action::Forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_on_goes_through_the_monitor() {
        let a = decide([PSCI_CPU_ON_64 as u64, 1, 0x8020_1000, 0xdead], 2, 0x4020_0100);
        assert_eq!(
            a,
            Action::CpuOn { target: 1, linux_entry: 0x8020_1000, linux_context: 0xdead, forward: [PSCI_CPU_ON_64 as u64, 1, 0x4020_0100, 1] }
        );
        assert_eq!(decide([PSCI_CPU_ON_64 as u64, 2, 0, 0], 2, 0), Action::Answer(INVALID_PARAMETERS));
        assert_eq!(decide([PSCI_CPU_ON_64 as u64, 0x100, 0, 0], 2, 0), Action::Answer(INVALID_PARAMETERS));
    }

    #[test]
    fn smccc_version_is_ours_the_rest_is_qemus() {
        assert_eq!(decide([SMCCC_VERSION as u64, 0, 0, 0], 1, 0), Action::Answer(0x1_0002));
        assert_eq!(decide([PSCI_FEATURES as u64, SMCCC_VERSION as u64, 0, 0], 1, 0), Action::Answer(0));
        assert_eq!(decide([PSCI_FEATURES as u64, PSCI_CPU_ON_64 as u64, 0, 0], 1, 0), Action::Forward([PSCI_FEATURES as u64, PSCI_CPU_ON_64 as u64, 0, 0]));
        assert_eq!(decide([PSCI_SYSTEM_OFF as u64, 0, 0, 0], 1, 0), Action::Forward([PSCI_SYSTEM_OFF as u64, 0, 0, 0]));
        assert_eq!(decide([SMCCC_ARCH_FEATURES as u64, 0x8000_8000, 0, 0], 1, 0), Action::Answer(NOT_SUPPORTED));
    }
}
