//! A client for QEMU's gdbstub (the GDB remote serial protocol) over the run's unix
//! socket: acknowledged packets (no-ack mode when offered), register numbers read by name from the target description,
//! register and memory reads per thread (vCPU), software breakpoints, continue and stop.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{Error, Result};

fn err(msg: impl Into<String>) -> Error {
    Error::Gdb(msg.into())
}

/// Why the guest stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopReply {
    /// Signal number (5 = SIGTRAP for a breakpoint, 2 = SIGINT for an interrupt).
    pub signal: u8,
    /// The thread (vCPU) that stopped, as the stub names it (`p1.2`).
    pub thread: Option<String>,
    /// The raw packet.
    pub raw: String,
}

/// A register of the target description.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterInfo {
    pub number: u32,
    pub bits: u32,
}

pub struct GdbStub {
    stream: UnixStream,
    /// Software breakpoints currently inserted.
    inserted: std::collections::BTreeSet<u64>,
    /// Whether received packets must still be acknowledged (until no-ack mode is on).
    ack: bool,
    /// The thread `Hg` last selected (valid until the guest runs again).
    selected: Option<String>,
    pending: Vec<u8>,
    registers: HashMap<String, RegisterInfo>,
}

/// Checksum of a packet body.
fn checksum(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |a, b| a.wrapping_add(*b))
}

/// Undoes the protocol's escaping (`}` x^0x20) and run-length encoding (`*`).
pub fn decode_body(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'}' if i + 1 < raw.len() => {
                out.push(raw[i + 1] ^ 0x20);
                i += 2;
            }
            b'*' if i + 1 < raw.len() && !out.is_empty() => {
                let repeat = raw[i + 1].saturating_sub(29) as usize;
                let last = *out.last().expect("checked");
                out.extend(std::iter::repeat_n(last, repeat));
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

/// Registers (name → number, size) declared by a target-description XML document,
/// numbered from `first` where no `regnum` is given. Returns the next free number.
pub fn parse_registers(xml: &str, first: u32, into: &mut HashMap<String, RegisterInfo>) -> u32 {
    let mut next = first;
    for chunk in xml.split("<reg ").skip(1) {
        let tag = chunk.split('>').next().unwrap_or("");
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            tag.find(&key).and_then(|at| tag[at + key.len()..].split('"').next()).map(str::to_string)
        };
        let Some(name) = attr("name") else { continue };
        let number = attr("regnum").and_then(|n| n.parse().ok()).unwrap_or(next);
        let bits = attr("bitsize").and_then(|b| b.parse().ok()).unwrap_or(64);
        into.insert(name, RegisterInfo { number, bits });
        next = number.saturating_add(1);
    }
    next
}

/// Reads a stop reply (`T05thread:p1.2;...` or `S05`): the signal and the thread that
/// stopped; anything else is an error.
pub fn parse_stop_reply(reply: &str) -> Result<StopReply> {
    let kind = reply.as_bytes().first().copied();
    if !matches!(kind, Some(b'T' | b'S')) {
        return Err(err(format!("unexpected stop reply {reply:?}")));
    }
    let signal = u8::from_str_radix(reply.get(1..3).unwrap_or("00"), 16).unwrap_or(0);
    let thread = reply.split(';').find_map(|f| f.strip_prefix("thread:").or_else(|| f.get(3..).and_then(|g| g.strip_prefix("thread:"))));
    Ok(StopReply { signal, thread: thread.map(str::to_string), raw: reply.to_string() })
}

/// One `qXfer:...:read` reply: its data and whether it is the last part (`l`) or more
/// follows (`m`); `None` for anything else (an error reply).
pub fn parse_xfer_reply(reply: &str) -> Option<(&str, bool)> {
    if let Some(data) = reply.strip_prefix('l') {
        Some((data, true))
    } else {
        reply.strip_prefix('m').map(|data| (data, false))
    }
}

/// Takes the first complete packet (`$body#xx`) out of `pending` and returns its decoded
/// body; bytes before it (acks) go with it. `None` while no packet is complete (an
/// incomplete one stays for later; a buffer of acks only is cleared).
pub fn take_packet(pending: &mut Vec<u8>) -> Option<Vec<u8>> {
    let Some(start) = pending.iter().position(|b| *b == b'$') else {
        pending.clear(); // only acks
        return None;
    };
    let end = start + pending[start..].iter().position(|b| *b == b'#')?;
    if pending.len() < end + 3 {
        return None;
    }
    let body = decode_body(&pending[start + 1..end]);
    pending.drain(..end + 3);
    Some(body)
}

fn hex_bytes(hex: &str) -> Result<Vec<u8>> {
    (0..hex.len() / 2)
        .map(|i| hex.get(2 * i..2 * i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| err(format!("bad hex {hex:?}")))
}

fn hex_u64_le(hex: &str) -> Result<u64> {
    let bytes = hex_bytes(hex)?;
    let mut v = 0u64;
    for (i, b) in bytes.iter().take(8).enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Ok(v)
}

impl GdbStub {
    /// Connects, asks for no-ack mode and reads the register layout.
    pub fn connect(socket: &Path) -> Result<GdbStub> {
        let stream = UnixStream::connect(socket).map_err(|e| err(format!("{}: {e}", socket.display())))?;
        let mut gdb = GdbStub { stream, inserted: Default::default(), ack: true, selected: None, pending: Vec::new(), registers: HashMap::new() };
        gdb.request("qSupported:swbreak+;hwbreak+;xmlRegisters=aarch64")?;
        // QEMU may not offer no-ack mode; then every packet keeps being acknowledged.
        if gdb.request("QStartNoAckMode")? == "OK" {
            gdb.ack = false;
        }
        gdb.load_registers()?;
        Ok(gdb)
    }

    fn send(&mut self, body: &str) -> Result<()> {
        let packet = format!("${body}#{:02x}", checksum(body.as_bytes()));
        self.stream.write_all(packet.as_bytes()).map_err(|e| err(format!("send {body:?}: {e}")))
    }

    /// Reads one packet, waiting at most `timeout` (None: forever). Ack characters are
    /// skipped; an incomplete packet is kept for the next call.
    fn receive(&mut self, timeout: Option<Duration>) -> Result<Option<String>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            // A complete packet in the buffer?
            if let Some(body) = take_packet(&mut self.pending) {
                if self.ack {
                    self.stream.write_all(b"+").map_err(|e| err(e.to_string()))?;
                }
                return Ok(Some(String::from_utf8_lossy(&body).into_owned()));
            }
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    Some(left)
                }
                None => None,
            };
            self.stream.set_read_timeout(wait).map_err(|e| err(e.to_string()))?;
            let mut buf = [0u8; 65536];
            match self.stream.read(&mut buf) {
                Ok(0) => return Err(err("connection closed by QEMU")),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {
                    continue
                }
                Err(e) => return Err(err(e.to_string())),
            }
        }
    }

    /// Sends a packet and returns the reply.
    pub fn request(&mut self, body: &str) -> Result<String> {
        self.send(body)?;
        self.receive(Some(Duration::from_secs(30)))?.ok_or_else(|| err(format!("no reply to {body:?}")))
    }

    fn xfer(&mut self, annex: &str) -> Result<String> {
        let mut out = String::new();
        loop {
            let reply = self.request(&format!("qXfer:features:read:{annex}:{:x},{:x}", out.len(), 0x3000))?;
            let (data, last) = parse_xfer_reply(&reply).ok_or_else(|| err(format!("reading {annex}: {reply}")))?;
            out.push_str(data);
            if last {
                return Ok(out);
            }
        }
    }

    fn load_registers(&mut self) -> Result<()> {
        let target = self.xfer("target.xml")?;
        let mut next = 0;
        let mut regs = HashMap::new();
        // Registers are numbered in document order across the included files.
        for chunk in target.split("<xi:include href=\"").skip(1) {
            let file = chunk.split('"').next().unwrap_or_default().to_string();
            let doc = self.xfer(&file)?;
            next = parse_registers(&doc, next, &mut regs);
        }
        parse_registers(&target, next, &mut regs);
        self.registers = regs;
        Ok(())
    }

    /// A register's number and size, by its name in the target description.
    pub fn register(&self, name: &str) -> Result<RegisterInfo> {
        self.registers.get(name).copied().ok_or_else(|| err(format!("the target description has no register {name}")))
    }

    /// The stub's thread ids (one per vCPU).
    pub fn threads(&mut self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut reply = self.request("qfThreadInfo")?;
        while let Some(list) = reply.strip_prefix('m') {
            out.extend(list.split(',').map(str::to_string));
            reply = self.request("qsThreadInfo")?;
        }
        Ok(out)
    }

    /// Makes `thread` the one register and memory packets address (`Hg`).
    fn select(&mut self, thread: &str) -> Result<()> {
        if self.selected.as_deref() != Some(thread) {
            let sel = self.request(&format!("Hg{thread}"))?;
            if sel != "OK" {
                return Err(err(format!("selecting thread {thread}: {sel}")));
            }
            self.selected = Some(thread.to_string());
        }
        Ok(())
    }

    /// Reads a (up to 64-bit) register of one vCPU.
    pub fn read_register(&mut self, thread: &str, name: &str) -> Result<u64> {
        let info = self.register(name)?;
        self.select(thread)?;
        let reply = self.request(&format!("p{:x}", info.number))?;
        if reply.starts_with('E') || reply.is_empty() {
            return Err(err(format!("reading {name} on {thread}: {reply:?}")));
        }
        hex_u64_le(&reply)
    }

    /// Writes a (up to 64-bit) register of one vCPU (`P`; the value goes out in the
    /// register's own size, little-endian, as the stub expects).
    pub fn write_register(&mut self, thread: &str, name: &str, value: u64) -> Result<()> {
        let info = self.register(name)?;
        self.select(thread)?;
        let bytes = (info.bits / 8).clamp(1, 8) as usize;
        let hex: String = value.to_le_bytes()[..bytes].iter().map(|b| format!("{b:02x}")).collect();
        match self.request(&format!("P{:x}={hex}", info.number))?.as_str() {
            "OK" => Ok(()),
            other => Err(err(format!("writing {name} = {value:#x} on {thread}: {other:?}"))),
        }
    }

    /// Breakpoints inserted now.
    pub fn inserted(&self) -> &std::collections::BTreeSet<u64> {
        &self.inserted
    }

    /// Reads `len` bytes at virtual address `va` as the selected vCPU sees it (`m`).
    pub fn read_memory(&mut self, va: u64, len: usize) -> Result<Vec<u8>> {
        let reply = self.request(&format!("m{va:x},{len:x}"))?;
        if reply.starts_with('E') || reply.len() != len * 2 {
            return Err(err(format!("reading {len} bytes at {va:#x}: {reply:?}")));
        }
        hex_bytes(&reply)
    }

    /// Reads `len` bytes at guest physical address `pa` in QEMU's physical-memory mode
    /// (`Qqemu.PhyMemMode:1`): the machine's address space without any translation, so a
    /// device's MMIO frame reads as the device answers (only for registers whose read
    /// has no side effect).
    pub fn read_physical(&mut self, pa: u64, len: usize) -> Result<Vec<u8>> {
        self.physical_mode(true)?;
        // QEMU's gdbstub answers at most a packet's worth: read a KiB at a time.
        let mut out = Vec::with_capacity(len);
        let mut read = Ok(());
        while out.len() < len && read.is_ok() {
            let n = (len - out.len()).min(1024);
            read = self.read_memory(pa + out.len() as u64, n).map(|b| out.extend(b));
        }
        self.physical_mode(false)?;
        read.map(|()| out)
    }

    fn physical_mode(&mut self, on: bool) -> Result<()> {
        match self.request(&format!("Qqemu.PhyMemMode:{}", u8::from(on)))?.as_str() {
            "OK" => Ok(()),
            other => Err(err(format!("QEMU's gdbstub refused physical-memory mode: {other:?}"))),
        }
    }

    pub fn set_breakpoint(&mut self, va: u64) -> Result<()> {
        match self.request(&format!("Z0,{va:x},4"))?.as_str() {
            "OK" => {
                self.inserted.insert(va);
                Ok(())
            }
            other => Err(err(format!("setting a breakpoint at {va:#x}: {other:?}"))),
        }
    }

    pub fn clear_breakpoint(&mut self, va: u64) -> Result<()> {
        match self.request(&format!("z0,{va:x},4"))?.as_str() {
            "OK" => {
                self.inserted.remove(&va);
                Ok(())
            }
            other => Err(err(format!("clearing the breakpoint at {va:#x}: {other:?}"))),
        }
    }

    /// Moves `thread` past a software breakpoint at `va`: single-step that vCPU alone
    /// (`vCont;s:THREAD`: a plain `s` resumes every vCPU while one steps, so another
    /// vCPU could hit, or with the breakpoint out even pass, a breakpoint unseen), and if
    /// the step took the breakpoint instead of the instruction, take it out, step, put
    /// it back.
    pub fn step_over(&mut self, thread: &str, va: u64) -> Result<()> {
        // A single step may execute the instruction under the breakpoint without
        // taking it; changing breakpoints costs TCG a flush of translated code, so try
        // that first and fall back to out-step-in.
        self.step_alone(thread)?;
        if self.read_register(thread, "pc")? != va {
            return Ok(());
        }
        self.clear_breakpoint(va)?;
        self.step_alone(thread)?;
        self.set_breakpoint(va)
    }

    /// Single-steps `thread` with every other vCPU stopped.
    fn step_alone(&mut self, thread: &str) -> Result<()> {
        self.selected = None;
        self.send(&format!("vCont;s:{thread}"))?;
        self.wait_stop(Duration::from_secs(10))?.ok_or_else(|| err("no stop after a single step"))?;
        Ok(())
    }

    /// Resumes only `threads`; the other vCPUs stay stopped (`vCont;c:T1;c:T2...`).
    pub fn cont_only(&mut self, threads: &[String]) -> Result<()> {
        self.selected = None;
        let actions: String = threads.iter().map(|t| format!(";c:{t}")).collect();
        self.send(&format!("vCont{actions}"))
    }

    /// Resumes every vCPU; the stop comes back through [`GdbStub::wait_stop`].
    pub fn cont(&mut self) -> Result<()> {
        self.selected = None;
        self.send("c")
    }

    /// Waits up to `timeout` for a stop reply.
    pub fn wait_stop(&mut self, timeout: Duration) -> Result<Option<StopReply>> {
        let Some(reply) = self.receive(Some(timeout))? else { return Ok(None) };
        parse_stop_reply(&reply).map(Some)
    }

    /// Stops a running guest (Ctrl-C) and returns the stop reply.
    pub fn interrupt(&mut self) -> Result<StopReply> {
        self.stream.write_all(&[0x03]).map_err(|e| err(e.to_string()))?;
        self.wait_stop(Duration::from_secs(10))?.ok_or_else(|| err("no stop after an interrupt"))
    }

    /// Shuts the connection down from our side, as a network or stub failure would
    /// (for tests of how a lost debugger is reported); every later request fails.
    pub fn disconnect(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }

    /// Detaches; the guest runs on.
    pub fn detach(&mut self) -> Result<()> {
        let _ = self.request("D")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_decoding() {
        assert_eq!(checksum(b"OK"), 0x9a);
        assert_eq!(decode_body(b"0* "), b"0000");
        assert_eq!(decode_body(b"a}\x03b"), b"a#b");
    }

    #[test]
    fn register_numbering_follows_documents() {
        let mut regs = HashMap::new();
        let next = parse_registers(r#"<reg name="x0" bitsize="64"/><reg name="x1" bitsize="64"/>"#, 0, &mut regs);
        assert_eq!(next, 2);
        let next = parse_registers(r#"<reg name="TTBR1_EL1" bitsize="64" regnum="95" group="system"/><reg name="TCR_EL1" bitsize="64"/>"#, next, &mut regs);
        assert_eq!(regs["x1"], RegisterInfo { number: 1, bits: 64 });
        assert_eq!(regs["TTBR1_EL1"].number, 95);
        assert_eq!(regs["TCR_EL1"].number, 96);
        assert_eq!(next, 97);
    }

    #[test]
    fn stop_replies() {
        let r = parse_stop_reply("T05thread:p1.2;").unwrap();
        assert_eq!((r.signal, r.thread.as_deref()), (5, Some("p1.2")));
        let r = parse_stop_reply("T02thread:p01.01;swbreak:;").unwrap();
        assert_eq!((r.signal, r.thread.as_deref()), (2, Some("p01.01")));
        // The thread field after another one.
        assert_eq!(parse_stop_reply("T05swbreak:;thread:p1.3;").unwrap().thread.as_deref(), Some("p1.3"));
        let r = parse_stop_reply("S05").unwrap();
        assert_eq!((r.signal, r.thread), (5, None));
        assert_eq!(parse_stop_reply("S").unwrap().signal, 0);
        for bad in ["", "OK", "E01", "W00"] {
            assert!(parse_stop_reply(bad).is_err(), "{bad:?}");
        }
    }

    /// Regression (fuzz): a reply starting with a multi-byte character made the split
    /// after the first byte panic.
    #[test]
    fn xfer_replies() {
        assert_eq!(parse_xfer_reply("l<target/>"), Some(("<target/>", true)));
        assert_eq!(parse_xfer_reply("m<feature"), Some(("<feature", false)));
        assert_eq!(parse_xfer_reply("E01"), None);
        assert_eq!(parse_xfer_reply(""), None);
        assert_eq!(parse_xfer_reply("\u{fffd}001f"), None);
    }

    #[test]
    fn packets_are_framed() {
        let mut pending = b"++$T05thread:p1.2;#aa$O".to_vec();
        assert_eq!(take_packet(&mut pending).unwrap(), b"T05thread:p1.2;");
        assert_eq!(pending, b"$O");
        assert_eq!(take_packet(&mut pending), None);
        pending.extend_from_slice(b"K#9");
        assert_eq!(take_packet(&mut pending), None);
        pending.push(b'a');
        assert_eq!(take_packet(&mut pending).unwrap(), b"OK");
        assert!(pending.is_empty());
        let mut acks = b"+++".to_vec();
        assert_eq!(take_packet(&mut acks), None);
        assert!(acks.is_empty());
    }

    /// Regression: `regnum="4294967295"` overflowed the next register number.
    #[test]
    fn register_numbers_at_the_top() {
        let mut regs = HashMap::new();
        let next = parse_registers(r#"<reg name="a" regnum="4294967295"/><reg name="b"/>"#, 0, &mut regs);
        assert_eq!((regs["a"].number, regs["b"].number, next), (u32::MAX, u32::MAX, u32::MAX));
    }

    #[test]
    fn memory_replies() {
        assert_eq!(hex_bytes("00ff10").unwrap(), vec![0, 0xff, 0x10]);
        assert!(hex_bytes("0g").is_err());
    }

    #[test]
    fn little_endian_register_values() {
        assert_eq!(hex_u64_le("0010000000000000").unwrap(), 0x1000);
        assert!(hex_u64_le("zz").is_err());
    }
}
