//! The arm64 Image header QEMU boots, the entry points of the boot CPU and of CPUs
//! started by PSCI CPU_ON, the way into EL1, and the EL2 exception vectors (each slot
//! only branches: a full register save inline would overflow its 0x80 bytes).

use lmo_monitor::layout::MAX_CPUS;

/// Bytes of EL2 stack per CPU.
pub const STACK_SIZE: usize = 32 * 1024;

core::arch::global_asm!(
    r#"
    .section .text.head, "ax"
    .global _start
_start:
    b       primary_entry
    .long   0
    .quad   0                       // text_offset: QEMU loads us 2 MiB above RAM
    .quad   __image_size
    .quad   0xa                     // little endian, 4K pages, anywhere in memory
    .quad   0, 0, 0
    .ascii  "ARM\x64"
    .long   0

primary_entry:
    msr     daifset, #0xf
    adrp    x1, __bss_start
    add     x1, x1, :lo12:__bss_start
    adrp    x2, __bss_end
    add     x2, x2, :lo12:__bss_end
1:  cmp     x1, x2
    b.hs    2f
    str     xzr, [x1], #8
    b       1b
2:  mov     x0, #0
    b       cpu_entry

    // PSCI CPU_ON lands here at EL2 with x0 = the CPU index (the context we passed).
    .global secondary_entry
secondary_entry:
    msr     daifset, #0xf
cpu_entry:
    cmp     x0, #{max_cpus}
    b.hs    3f
    adrp    x1, __stacks
    add     x1, x1, :lo12:__stacks
    add     x2, x0, #1
    mov     x3, #{stack}
    madd    x1, x2, x3, x1
    mov     sp, x1
    msr     tpidr_el2, x0
    adrp    x1, vectors
    add     x1, x1, :lo12:vectors
    msr     vbar_el2, x1
    isb
    bl      monitor_cpu_start
3:  wfe
    b       3b

    // enter_el1(entry, x0, sp): drop to EL1h with interrupts masked.
    .global enter_el1
enter_el1:
    mov     sp, x2
    msr     elr_el2, x0
    mov     x3, #0x3c5
    msr     spsr_el2, x3
    mov     x0, x1
    mov     x1, xzr
    mov     x2, xzr
    mov     x3, xzr
    mov     x4, xzr
    mov     x5, xzr
    mov     x6, xzr
    mov     x7, xzr
    mov     x29, xzr
    mov     x30, xzr
    eret

    .section .bss.stacks, "aw", %nobits
    .balign 16
__stacks:
    .space  {stacks_total}

    .section .text.vectors, "ax"
    .balign 0x800
vectors:
    .irp    slot, 0, 1, 2, 3, 4, 5, 6, 7
    .balign 0x80
    mov     x0, #\slot
    b       unexpected_vector
    .endr
    .balign 0x80                    // lower EL, AArch64: synchronous
    b       lower_sync
    .irp    slot, 9, 10, 11, 12, 13, 14, 15
    .balign 0x80
    mov     x0, #\slot
    b       unexpected_vector
    .endr

unexpected_vector:
    mrs     x1, esr_el2
    mrs     x2, elr_el2
    mrs     x3, far_el2
    bl      monitor_unexpected
4:  wfe
    b       4b

    // Frame: x0-x30, ELR_EL2, SPSR_EL2 (trap::Frame).
lower_sync:
    sub     sp, sp, #272
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x0, elr_el2
    stp     x30, x0, [sp, #240]
    mrs     x0, spsr_el2
    str     x0, [sp, #256]
    mov     x0, sp
    bl      handle_lower_sync
    ldr     x0, [sp, #256]
    msr     spsr_el2, x0
    ldp     x30, x0, [sp, #240]
    msr     elr_el2, x0
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    add     sp, sp, #272
    eret
"#,
    max_cpus = const MAX_CPUS,
    stack = const STACK_SIZE,
    stacks_total = const STACK_SIZE * MAX_CPUS,
);

unsafe extern "C" {
    fn enter_el1(entry: u64, x0: u64, sp: u64) -> !;
    static secondary_entry: u8;
    static __stacks: u8;
}

/// Where PSCI CPU_ON should start a CPU (its physical address: the MMU is off).
pub fn secondary_entry_pa() -> u64 {
    core::ptr::addr_of!(secondary_entry) as u64
}

/// Top of `cpu`'s EL2 stack.
pub fn stack_top(cpu: usize) -> u64 {
    let base = core::ptr::addr_of!(__stacks) as u64;
    base + ((cpu + 1) * STACK_SIZE) as u64
}

/// Enters Linux at EL1h at `entry` with `x0`, resetting this CPU's EL2 stack.
pub fn enter_linux(cpu: usize, entry: u64, x0: u64) -> ! {
    // SAFETY: EL2 is set up for this CPU; `entry` is where Linux asked to start, and
    // nothing on the EL2 stack is needed once we leave.
    unsafe { enter_el1(entry, x0, stack_top(cpu)) }
}
