//! The call trace: every call of the kernel's linear-map mutation entry points during
//! boot, with arguments, return value, caller, CPU and the boot state at the time
//! (read from guest memory for the record), and the model's return code for the same
//! call under the same boot state.

use anyhow::Result;

use crate::guest_memory::GuestMemory;
use crate::linux_side::KernelView;
use crate::symbols::KernelSymbols;

/// Functions traced, with how many of their arguments to record.
pub const TRACED: &[(&str, usize)] = &[
    ("split_kernel_leaf_mapping", 2),
    ("__change_memory_common", 4),
    ("set_memory_valid", 3),
    ("set_memory_ro", 2),
    ("set_memory_rw", 2),
    ("set_memory_nx", 2),
    ("set_memory_x", 2),
    ("set_memory_decrypted", 2),
    ("set_memory_encrypted", 2),
    ("__set_memory_enc_dec", 3),
    ("set_direct_map_invalid_noflush", 1),
    ("set_direct_map_default_noflush", 1),
    ("set_direct_map_valid_noflush", 3),
    // The stop_machine repaint callback, on every online CPU.
    ("linear_map_split_to_ptes", 1),
];

/// The kernel's boot state when a call was made (observed, for the record and for the
/// model's gate).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ObservedBootState {
    pub page_alloc_available: bool,
    pub online_cpus: u32,
    /// `ARM64_ALWAYS_SYSTEM` (bit 1) set in `system_cpucaps`: system capabilities are
    /// set up (the kernel patches alternatives right after).
    pub caps_finalized: bool,
}

/// One traced call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TracedCall {
    pub function: &'static str,
    pub args: Vec<u64>,
    /// Return value as the C `int` it is; `None` if the boot ended before it returned.
    pub ret: Option<i32>,
    /// `function+offset` of the return address.
    pub caller: String,
    /// The gdbstub thread (vCPU) that made the call.
    pub cpu: String,
    pub state: ObservedBootState,
    /// What the model returns for the same call (only for calls it replays).
    pub model_ret: Option<i32>,
}

impl TracedCall {
    /// Whether the model disagrees with the kernel about this call's result.
    pub fn mismatch(&self) -> bool {
        matches!((self.ret, self.model_ret), (Some(k), Some(m)) if k != m)
    }
}

fn errno_name(v: i32) -> String {
    match v {
        0 => "0".into(),
        -12 => "-ENOMEM".into(),
        -16 => "-EBUSY".into(),
        -22 => "-EINVAL".into(),
        v => v.to_string(),
    }
}

impl std::fmt::Display for TracedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let args: Vec<String> = self.args.iter().map(|a| format!("{a:#x}")).collect();
        let ret = self.ret.map(errno_name).unwrap_or_else(|| "(no return)".into());
        write!(
            f,
            "{}({}) = {ret} from {} on {} [page_alloc_available={} online={} caps_finalized={}]",
            self.function,
            args.join(", "),
            self.caller,
            self.cpu,
            self.state.page_alloc_available as u8,
            self.state.online_cpus,
            self.state.caps_finalized as u8
        )?;
        if let Some(m) = self.model_ret {
            if self.mismatch() {
                write!(f, "  MODEL RETURNS {}", errno_name(m))?;
            } else {
                write!(f, "  (model agrees)")?;
            }
        }
        Ok(())
    }
}

/// Reads the boot state the split gate depends on.
pub fn boot_state<M: GuestMemory + ?Sized>(mem: &M, syms: &KernelSymbols, view: &KernelView) -> Result<ObservedBootState> {
    let byte = |sym: &str| -> Result<u8> { Ok(mem.bytes(view.kimage_to_phys(syms.get(sym)?), 1)?[0]) };
    let word = |sym: &str| -> Result<u64> { Ok(mem.read_u64(view.kimage_to_phys(syms.get(sym)?))?) };
    Ok(ObservedBootState {
        page_alloc_available: byte("page_alloc_available")? != 0,
        online_cpus: word("__num_online_cpus")? as u32,
        caps_finalized: word("system_cpucaps")? & (1 << 1) != 0,
    })
}
