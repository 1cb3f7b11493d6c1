//! System-register access at EL2, and reading any register of the ID space by CRm/op2
//! (for ID-register reads Linux makes at EL1 and HCR_EL2.TID3 traps).

/// Reads a system register by name or `S<op0>_<op1>_C<n>_C<m>_<op2>` encoding.
macro_rules! mrs {
    ($reg:expr) => {{
        let v: u64;
        // SAFETY: reading a system register the monitor owns at EL2 has no side effects.
        unsafe { core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack, preserves_flags)) };
        v
    }};
}

/// Writes a system register by name or encoding.
macro_rules! msr {
    ($reg:expr, $v:expr) => {{
        let v: u64 = $v;
        // SAFETY: the monitor owns EL2; each write is part of setting up or serving the
        // guest as documented where it is made.
        unsafe { core::arch::asm!(concat!("msr ", $reg, ", {}"), in(reg) v, options(nostack, preserves_flags)) };
    }};
}

pub(crate) use {mrs, msr};

pub fn isb() {
    // SAFETY: a barrier.
    unsafe { core::arch::asm!("isb", options(nostack, preserves_flags)) };
}

/// Invalidates every stage 1+2 TLB entry of the guest, on all CPUs, after a stage-2 change.
pub fn tlbi_guest_all() {
    // SAFETY: TLB maintenance for the EL1&0 regime only.
    unsafe { core::arch::asm!("dsb ishst", "tlbi vmalls12e1is", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Local variant, for the CPU that takes a stale-TLB stage-2 fault.
pub fn tlbi_guest_local() {
    // SAFETY: TLB maintenance for the EL1&0 regime only.
    unsafe { core::arch::asm!("dsb nshst", "tlbi vmalls12e1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

macro_rules! id_reg_match {
    ($crm:expr, $op2:expr; $($m:literal),*) => {
        id_reg_match!(@crm $crm, $op2; [$($m),*])
    };
    (@crm $crm:expr, $op2:expr; [$($m:literal),*]) => {
        match ($crm, $op2) {
            $(
                ($m, 0) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_0")),
                ($m, 1) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_1")),
                ($m, 2) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_2")),
                ($m, 3) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_3")),
                ($m, 4) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_4")),
                ($m, 5) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_5")),
                ($m, 6) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_6")),
                ($m, 7) => mrs!(concat!("S3_0_C0_C", stringify!($m), "_7")),
            )*
            _ => 0,
        }
    };
}

/// The real value of ID register `S3_0_C0_C<crm>_<op2>` (CRm 1 to 7), read at EL2.
pub fn read_id_reg(crm: u8, op2: u8) -> u64 {
    id_reg_match!(crm, op2; 1, 2, 3, 4, 5, 6, 7)
}
