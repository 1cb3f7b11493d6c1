#!/usr/bin/env python3
"""Writes the binary seeds of oracle/fuzz/seeds (walker, monitor_log, dtb) next to this file."""
import struct, os
out = os.path.dirname(os.path.abspath(__file__))
def w(target, name, data):
    d = os.path.join(out, target); os.makedirs(d, exist_ok=True)
    mode = 'wb' if isinstance(data, bytes) else 'w'
    open(os.path.join(d, name), mode).write(data)

# --- walker: 8-byte head + RAM at 0x4000_0000 ---
RAM = 0x4000_0000
def head(granule, va_bits, shared, root):
    x = (root - (RAM - 0x1000)) // 8
    return bytes([granule, va_bits - 30, shared, x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff, 0, 0])
BLOCK = 0x0060000000000705  # valid block: AttrIndx 1, SH inner, AF, PXN|UXN
PAGE  = 0x0060000000000707
TABLE = 0x3
def page(entries):
    b = bytearray(4096)
    for i, v in entries.items():
        struct.pack_into('<Q', b, 8 * i, v)
    return bytes(b)
# 4K granule, 39-bit VA: level-1 root, a level-2 table, a level-3 table.
root = page({0: (RAM + 0x1000) | TABLE, 1: 0x4000_0000 | BLOCK, 3: 0x8000_0000 | BLOCK & ~1 | 0x400 | 0x4})
l2 = page({0: (RAM + 0x2000) | TABLE, 1: 0x4020_0000 | BLOCK, 2: 0x4040_0000 | BLOCK, 5: 0x40a0_0000 | BLOCK | (1 << 52)})
l3 = page({**{i: (0x4000_0000 + i * 0x1000) | PAGE for i in range(16)}, **{i: (0x4001_0000 + i * 0x1000) | PAGE | (1 << 52) for i in range(16, 32)}, 40: 0x4010_0000 | PAGE & ~1 | (1 << 58)})
w('walker', '4k-39bit-three-levels', head(0, 39, 0, RAM) + root + l2 + l3)
# Realm: 4K, 48-bit VA, shared bit 40 (4 levels: root level 0).
root0 = page({256: (RAM + 0x1000) | TABLE})
l1 = page({0: (RAM + 0x2000) | TABLE, 1: (0x4000_0000 | (1 << 40)) | BLOCK})
l2b = page({0: 0x4000_0000 | BLOCK, 1: (0x4020_0000 | (1 << 40)) | BLOCK})
w('walker', '4k-48bit-realm-shared', head(0, 48, 130, RAM) + root0 + l1 + l2b)  # shared bit 30 + 130 % 20 = 40
# 16K granule, 47-bit VA: a level-1 root of 2048 entries (16 KiB), a level-2 table of
# 32M blocks.
r16 = bytearray(16384); struct.pack_into('<Q', r16, 0, (RAM + 0x4000) | TABLE)
l216 = bytearray(16384); struct.pack_into('<QQ', l216, 0, 0x4000_0000 | BLOCK, 0x4200_0000 | BLOCK)
w('walker', '16k-47bit-two-levels', head(1, 47, 0, RAM) + bytes(r16) + bytes(l216))

# --- monitor_log: the log region (header + records) ---
MAGIC = b'LMOMLOG1'
def log(records, capacity, panic=None):
    h = bytearray(4096)
    h[0:8] = MAGIC
    struct.pack_into('<IIII', h, 8, capacity, 64, len(records), 1 if panic else 0)
    if panic:
        struct.pack_into('<II', h, 24, panic[0], len(panic[1]))
        h[64:64 + len(panic[1])] = panic[1]
    r = bytearray(64 * capacity)
    for i, (cpu, kind, args) in enumerate(records[:capacity]):
        struct.pack_into('<IHH7Q', r, 64 * i, i + 1, cpu, kind, *(list(args) + [0] * (7 - len(args))))
    return bytes(h) + bytes(r)
RSI_IPA_STATE_SET = 0xc400_0197
RSI_IPA_STATE_GET = 0xc400_0198
recs = [
    (0, 1, [0x8020_0000, 0x8800_0000, 2, 1, 40]),
    (0, 2, [0x8000_0000, 0x8020_0000, 0x8800_0000, 0x410f_d842, 2]),
    (0, 4, [RSI_IPA_STATE_SET, 0x8000_0000, 0x1_0000_0000, 1, 0, 0x1_0000_0000, 1]),
    (1, 3, [0xc400_0003, 1, 0x8020_0000, 0, 0]),
    (1, 4, [RSI_IPA_STATE_SET, 0x8084_0000, 0x8085_0000, 0, 1, 0x8085_0000, 1]),
    (1, 4, [RSI_IPA_STATE_GET, 0x8084_0000, 0x8085_0000, 0, 0, 0x8085_0000, 0]),
    (0, 5, [0x1_0000_0000, 0xffff_0000_8000_0000, 0xffff_8000_8001_0000, 0x9200_0010, 0]),
    (0, 6, [0x1000_0000_1000, 0x1000_0000_0000, 0xffff_8000_8002_0000]),
    (1, 7, [0x8600_ff00, 1, 2, 3, 1]),
]
w('monitor_log', 'realm-boot', log(recs, 12))
w('monitor_log', 'full-and-panicked', log(recs, 4, panic=(1, b'stage 2 pool exhausted')))

# --- dtb: a tree shaped like QEMU virt's (dumpdtb) ---
class Fdt:
    def __init__(s): s.struct = bytearray(); s.strings = bytearray(); s.offs = {}
    def begin(s, name):
        s.struct += struct.pack('>I', 1) + name.encode() + b'\0'
        s.pad()
    def end(s): s.struct += struct.pack('>I', 2)
    def pad(s):
        while len(s.struct) % 4: s.struct += b'\0'
    def prop(s, name, value):
        if name not in s.offs:
            s.offs[name] = len(s.strings); s.strings += name.encode() + b'\0'
        s.struct += struct.pack('>III', 3, len(value), s.offs[name]) + value
        s.pad()
    def finish(s):
        s.struct += struct.pack('>I', 9)
        rsv = bytes(16)
        off_rsv = 40; off_struct = off_rsv + len(rsv); off_strings = off_struct + len(s.struct)
        total = off_strings + len(s.strings)
        return struct.pack('>10I', 0xd00dfeed, total, off_struct, off_strings, off_rsv, 17, 16, 0, len(s.strings), len(s.struct)) + rsv + bytes(s.struct) + bytes(s.strings)
u32 = lambda *v: struct.pack('>%dI' % len(v), *v)
u64 = lambda *v: struct.pack('>%dQ' % len(v), *v)
st = lambda *v: b''.join(x.encode() + b'\0' for x in v)
f = Fdt()
f.begin('')
f.prop('interrupt-parent', u32(0x8002)); f.prop('model', st('linux,dummy-virt')); f.prop('#size-cells', u32(2)); f.prop('#address-cells', u32(2)); f.prop('compatible', st('linux,dummy-virt'))
f.begin('psci'); f.prop('migrate', u32(0xc4000005)); f.prop('cpu_on', u32(0xc4000003)); f.prop('cpu_off', u32(0x84000002)); f.prop('cpu_suspend', u32(0xc4000001)); f.prop('method', st('smc')); f.prop('compatible', st('arm,psci-1.0', 'arm,psci-0.2', 'arm,psci')); f.end()
f.begin('memory@40000000'); f.prop('reg', u64(0x4000_0000, 3 << 30)); f.prop('device_type', st('memory')); f.end()
f.begin('pl011@9000000'); f.prop('clock-names', st('uartclk', 'apb_pclk')); f.prop('clocks', u32(0x8000, 0x8000)); f.prop('interrupts', u32(0, 1, 4)); f.prop('reg', u64(0x0900_0000, 0x1000)); f.prop('compatible', st('arm,pl011', 'arm,primecell')); f.end()
f.begin('intc@8000000'); f.prop('phandle', u32(0x8002)); f.prop('reg', u64(0x0800_0000, 0x10000, 0x080a_0000, 0xf60000)); f.prop('#redistributor-regions', u32(1)); f.prop('compatible', st('arm,gic-v3')); f.prop('ranges', b''); f.prop('#size-cells', u32(2)); f.prop('#address-cells', u32(2)); f.prop('interrupt-controller', b''); f.prop('#interrupt-cells', u32(3))
f.begin('its@8080000'); f.prop('phandle', u32(0x8003)); f.prop('reg', u64(0x0808_0000, 0x20000)); f.prop('#msi-cells', u32(1)); f.prop('msi-controller', b''); f.prop('compatible', st('arm,gic-v3-its')); f.end()
f.end()
f.begin('cpus'); f.prop('#size-cells', u32(0)); f.prop('#address-cells', u32(1))
for i in range(2):
    f.begin('cpu@%d' % i); f.prop('phandle', u32(0x8010 + i)); f.prop('reg', u32(i)); f.prop('enable-method', st('psci')); f.prop('compatible', st('arm,arm-v8')); f.prop('device_type', st('cpu')); f.end()
f.end()
f.begin('timer'); f.prop('interrupts', u32(1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4)); f.prop('always-on', b''); f.prop('compatible', st('arm,armv8-timer', 'arm,armv7-timer')); f.end()
f.begin('apb-pclk'); f.prop('phandle', u32(0x8000)); f.prop('clock-output-names', st('clk24mhz')); f.prop('clock-frequency', u32(24000000)); f.prop('#clock-cells', u32(0)); f.prop('compatible', st('fixed-clock')); f.end()
f.begin('chosen'); f.prop('stdout-path', st('/pl011@9000000')); f.prop('rng-seed', bytes(range(32))); f.prop('kaslr-seed', u64(0x1234_5678_9abc_def0)); f.prop('bootargs', st('console=ttyAMA0')); f.end()
f.end()
w('dtb', 'qemu-virt-like.dtb', f.finish())
# No /chosen, memory node named "memory".
f = Fdt(); f.begin(''); f.prop('#size-cells', u32(2)); f.prop('#address-cells', u32(2)); f.begin('memory'); f.prop('reg', u64(0x4000_0000, 1 << 30)); f.prop('device_type', st('memory')); f.end(); f.end()
w('dtb', 'no-chosen.dtb', f.finish())
