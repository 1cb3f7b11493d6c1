//! The monitor's event log: a header and fixed-size records in the monitor's RAM
//! ([`crate::layout::LOG_PA`]), which the host reads straight out of the guest RAM file.
//!
//! Header (little endian): magic "LMOMLOG1" at 0, capacity (records) u32 at 8, record
//! size u32 at 12, records claimed u32 at 16, panicked u32 at 20, panicking CPU u32 at
//! 24, panic message length u32 at 28, panic message bytes from 64. Records start at
//! [`RECORDS_OFFSET`]; each is `seq + 1` u32 (written last, so a record is complete once
//! it is non-zero), CPU u16, kind u16, then seven u64 arguments.

use crate::mem::PhysMem;

pub const MAGIC: u64 = u64::from_le_bytes(*b"LMOMLOG1");
pub const RECORD_SIZE: u64 = 64;
pub const RECORDS_OFFSET: u64 = 4096;
pub const PANIC_MSG_OFFSET: u64 = 64;
pub const PANIC_MSG_MAX: usize = (RECORDS_OFFSET - PANIC_MSG_OFFSET) as usize;
/// Header fields (offsets from the start of the log).
pub const CAPACITY_OFFSET: u64 = 8;
pub const CLAIMED_OFFSET: u64 = 16;
/// The "panicked" flag the harness polls.
pub const PANICKED_OFFSET: u64 = 20;
pub const PANIC_CPU_OFFSET: u64 = 24;
pub const PANIC_LEN_OFFSET: u64 = 28;

/// What a record says; the arguments are listed with each kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// The monitor started: Linux entry, DTB, CPUs, realm (0/1), IPA bits.
    Boot = 1,
    /// A CPU entered Linux at EL1: MPIDR, Linux entry, context/x0, MIDR shown, BBM shown.
    CpuEnter = 2,
    /// PSCI call from Linux: function, x1, x2, x3, result.
    Psci = 3,
    /// RSI call: function | status << 32, x1, x2, x3, x4, ret1, ret2.
    Rsi = 4,
    /// Stage-2 fault injected into Linux as an external abort: IPA, VA (FAR), PC (ELR),
    /// ESR_EL2, 1 for an instruction fetch.
    Stage2Fault = 5,
    /// ID_AA64MMFR2_EL1 read by Linux: the CPU's value, the value shown.
    IdMmfr2 = 6,
    /// SMC (or HVC) the monitor does not implement, answered NOT_SUPPORTED: function,
    /// x1, x2, x3, 1 for an HVC.
    Unsupported = 7,
}

impl Kind {
    pub fn from_u16(v: u16) -> Option<Kind> {
        Some(match v {
            1 => Kind::Boot,
            2 => Kind::CpuEnter,
            3 => Kind::Psci,
            4 => Kind::Rsi,
            5 => Kind::Stage2Fault,
            6 => Kind::IdMmfr2,
            7 => Kind::Unsupported,
            _ => return None,
        })
    }
}

/// One record as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub seq: u32,
    pub cpu: u16,
    pub kind: u16,
    pub args: [u64; 7],
}

impl Record {
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_u16(self.kind)
    }

    /// For [`Kind::Rsi`]: the function id and the status it returned.
    pub fn rsi_fid_status(&self) -> (u32, u32) {
        (self.args[0] as u32, (self.args[0] >> 32) as u32)
    }
}

/// The writer side, over the monitor's memory.
pub struct Log {
    pub base: u64,
    pub size: u64,
}

impl Log {
    pub fn capacity(&self) -> u32 {
        ((self.size - RECORDS_OFFSET) / RECORD_SIZE) as u32
    }

    /// Clears the header; the records need no clearing (the harness zeroes the RAM file).
    pub fn init<M: PhysMem>(&self, mem: &mut M) {
        mem.zero(self.base, RECORDS_OFFSET);
        mem.write_u64(self.base + CAPACITY_OFFSET, self.capacity() as u64 | (RECORD_SIZE << 32));
        mem.write_u64(self.base, MAGIC);
    }

    /// Appends a record; past the capacity the record is counted but not stored.
    pub fn push<M: PhysMem>(&self, mem: &mut M, cpu: u16, kind: Kind, args: [u64; 7]) {
        let seq = mem.fetch_add_u32(self.base + CLAIMED_OFFSET, 1);
        if seq >= self.capacity() {
            return;
        }
        let at = self.base + RECORDS_OFFSET + seq as u64 * RECORD_SIZE;
        for (i, a) in args.iter().enumerate() {
            mem.write_u64(at + 8 + 8 * i as u64, *a);
        }
        mem.write_u64(at, 0);
        mem.write_u8(at + 4, cpu as u8);
        mem.write_u8(at + 5, (cpu >> 8) as u8);
        mem.write_u8(at + 6, kind as u16 as u8);
        mem.write_u8(at + 7, ((kind as u16) >> 8) as u8);
        mem.store_release_u32(at, seq + 1);
    }

    /// Records a monitor panic: the first one wins, later ones only return false.
    pub fn panic<M: PhysMem>(&self, mem: &mut M, cpu: u32, message: &[u8]) -> bool {
        if mem.fetch_add_u32(self.base + PANICKED_OFFSET, 1) != 0 {
            return false;
        }
        let n = message.len().min(PANIC_MSG_MAX);
        mem.write_bytes(self.base + PANIC_MSG_OFFSET, &message[..n]);
        mem.store_release_u32(self.base + PANIC_LEN_OFFSET, n as u32);
        mem.store_release_u32(self.base + PANIC_CPU_OFFSET, cpu);
        true
    }
}

/// What the host reads out of the log region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogView<'a> {
    /// Records claimed, including any beyond the capacity.
    pub claimed: u32,
    pub capacity: u32,
    /// The panic message and the CPU that panicked, if the monitor panicked.
    pub panic: Option<(u32, &'a [u8])>,
    records: &'a [u8],
}

/// Why a log region could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// No header: the monitor never started (or this is not a monitor run).
    NoMagic(u64),
    Truncated,
    BadRecordSize(u32),
}

impl core::fmt::Display for LogError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            LogError::NoMagic(m) => write!(f, "monitor log: no header (magic {m:#018x}): the monitor did not start"),
            LogError::Truncated => write!(f, "monitor log: region shorter than its header says"),
            LogError::BadRecordSize(s) => write!(f, "monitor log: record size {s}, expected {RECORD_SIZE}"),
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[off..off + 8]);
    u64::from_le_bytes(w)
}

impl<'a> LogView<'a> {
    /// Reads the whole log region (header and records).
    pub fn parse(region: &'a [u8]) -> Result<LogView<'a>, LogError> {
        if region.len() < RECORDS_OFFSET as usize {
            return Err(LogError::Truncated);
        }
        let magic = u64_at(region, 0);
        if magic != MAGIC {
            return Err(LogError::NoMagic(magic));
        }
        let capacity = u32_at(region, CAPACITY_OFFSET as usize);
        let size = u32_at(region, CAPACITY_OFFSET as usize + 4);
        if size as u64 != RECORD_SIZE {
            return Err(LogError::BadRecordSize(size));
        }
        let end = RECORDS_OFFSET as usize + capacity as usize * RECORD_SIZE as usize;
        if region.len() < end {
            return Err(LogError::Truncated);
        }
        let panic = (u32_at(region, PANICKED_OFFSET as usize) != 0).then(|| {
            let n = (u32_at(region, PANIC_LEN_OFFSET as usize) as usize).min(PANIC_MSG_MAX);
            let start = PANIC_MSG_OFFSET as usize;
            (u32_at(region, PANIC_CPU_OFFSET as usize), &region[start..start + n])
        });
        Ok(LogView { claimed: u32_at(region, CLAIMED_OFFSET as usize), capacity, panic, records: &region[RECORDS_OFFSET as usize..end] })
    }

    /// Records lost because the log was full.
    pub fn dropped(&self) -> u32 {
        self.claimed.saturating_sub(self.capacity)
    }

    /// The complete records, in the order they were claimed.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        let n = self.claimed.min(self.capacity) as usize;
        (0..n).filter_map(move |i| {
            let r = &self.records[i * RECORD_SIZE as usize..(i + 1) * RECORD_SIZE as usize];
            let seq1 = u32_at(r, 0);
            (seq1 == i as u32 + 1).then(|| {
                let mut args = [0u64; 7];
                for (k, a) in args.iter_mut().enumerate() {
                    *a = u64_at(r, 8 + 8 * k);
                }
                Record { seq: i as u32, cpu: u16::from_le_bytes([r[4], r[5]]), kind: u16::from_le_bytes([r[6], r[7]]), args }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::VecMem;

    #[test]
    fn written_records_read_back() {
        let log = Log { base: 0x1000, size: RECORDS_OFFSET + 2 * RECORD_SIZE };
        let mut mem = VecMem::new();
        log.init(&mut mem);
        log.push(&mut mem, 1, Kind::Rsi, [0xc400_0197, 0x8000_0000, 0x8001_0000, 0, 1, 0x8001_0000, 0]);
        log.push(&mut mem, 0, Kind::Psci, [0x8400_0008, 0, 0, 0, 0, 0, 0]);
        log.push(&mut mem, 0, Kind::Psci, [0; 7]);
        let region = mem.bytes(0x1000, log.size as usize);
        let view = LogView::parse(&region).unwrap();
        let recs: std::vec::Vec<Record> = view.records().collect();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].cpu, recs[0].kind()), (1, Some(Kind::Rsi)));
        assert_eq!(recs[0].rsi_fid_status(), (0xc400_0197, 0));
        assert_eq!(recs[1].args[0], 0x8400_0008);
        assert_eq!(view.dropped(), 1);
        assert_eq!(view.panic, None);
    }

    #[test]
    fn first_panic_wins() {
        let log = Log { base: 0, size: RECORDS_OFFSET + RECORD_SIZE };
        let mut mem = VecMem::new();
        log.init(&mut mem);
        assert!(log.panic(&mut mem, 1, b"stage 2 pool exhausted"));
        assert!(!log.panic(&mut mem, 0, b"second"));
        let region = mem.bytes(0, log.size as usize);
        let view = LogView::parse(&region).unwrap();
        assert_eq!(view.panic, Some((1, &b"stage 2 pool exhausted"[..])));
    }

    #[test]
    fn no_header_is_an_error() {
        let zeros = std::vec![0u8; 8192];
        assert_eq!(LogView::parse(&zeros), Err(LogError::NoMagic(0)));
        assert_eq!(LogView::parse(&zeros[..10]), Err(LogError::Truncated));
    }
}
