//! Reading the serial console log: the `/init` markers, kernel version, detected CPU
//! features, `WARNING:` blocks and panics, as data.
//!
//! The marker strings are written by `initramfs/init.c`; keep the two in step.

use serde::Serialize;

pub const PTDUMP_BEGIN: &str = "==== LMO-PTDUMP-BEGIN ====";
pub const PTDUMP_END: &str = "==== LMO-PTDUMP-END ====";
pub const WARN_COUNT: &str = "LMO-WARN-COUNT: ";
pub const USERSPACE_REACHED: &str = "==== LMO-USERSPACE-REACHED ====";
pub const PANIC: &str = "Kernel panic - not syncing";
pub const PANIC_END: &str = "---[ end Kernel panic";

/// Console lines without carriage returns and printk timestamps.
pub fn lines(log: &str) -> impl Iterator<Item = &str> {
    log.lines().map(|l| strip_timestamp(l.trim_end_matches('\r')))
}

/// Drops a leading printk timestamp (`[    0.079420] `).
pub fn strip_timestamp(line: &str) -> &str {
    timestamp(line).map(|(_, rest)| rest).unwrap_or(line)
}

/// Splits `[  12.345678] text` into (12.345678, "text").
pub fn timestamp(line: &str) -> Option<(f64, &str)> {
    let rest = line.strip_prefix('[')?;
    let (stamp, text) = rest.split_once(']')?;
    let secs = stamp.trim().parse().ok()?;
    Some((secs, text.strip_prefix(' ').unwrap_or(text)))
}

/// `Linux version ...` up to the compiler part.
pub fn kernel_version(log: &str) -> Option<String> {
    lines(log).find_map(|l| l.strip_prefix("Linux version ")).map(|v| v.split(" (").next().unwrap_or(v).to_string())
}

/// Every `CPU features: detected: X`, in order.
pub fn cpu_features(log: &str) -> Vec<String> {
    lines(log).filter_map(|l| l.strip_prefix("CPU features: detected: ")).map(str::to_string).collect()
}

/// Whether `/init` said it reached userspace.
pub fn reached_userspace(log: &str) -> bool {
    lines(log).any(|l| l == USERSPACE_REACHED)
}

/// The kernel's own WARN count, as `/init` read it from `/sys/kernel/warn_count`.
pub fn warn_count(log: &str) -> Option<u64> {
    lines(log).find_map(|l| l.strip_prefix(WARN_COUNT)).and_then(|v| v.trim().parse().ok())
}

/// Guest time at which the kernel started `/init`, from its printk timestamp.
pub fn init_started_at(log: &str) -> Option<f64> {
    log.lines().filter_map(|l| timestamp(l.trim_end_matches('\r'))).find(|(_, t)| t.starts_with("Run /init")).map(|(s, _)| s)
}

/// The text of `/sys/kernel/debug/kernel_page_tables` as `/init` printed it. Kernel
/// messages that interleave (they carry a printk timestamp) are dropped.
pub fn ptdump(log: &str) -> Option<String> {
    let mut inside = false;
    let mut out = String::new();
    for raw in log.lines() {
        let line = raw.trim_end_matches('\r');
        if line == PTDUMP_BEGIN {
            inside = true;
            continue;
        }
        if line == PTDUMP_END {
            return Some(out);
        }
        if inside && timestamp(line).is_none() {
            out.push_str(line);
            out.push('\n');
        }
    }
    None
}

/// One `WARNING:` block of the kernel log.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Warning {
    /// `file:line` the WARN fired at, when the header names it.
    pub location: Option<String>,
    /// Function (`symbol+off/len`) from the header, when named.
    pub function: Option<String>,
    /// The block's lines, from `WARNING:` to `---[ end trace ... ]---`.
    pub text: String,
}

/// Every WARNING block, in order.
pub fn warnings(log: &str) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut current: Option<(Option<String>, Option<String>, Vec<&str>)> = None;
    for line in lines(log) {
        if let Some(header) = line.strip_prefix("WARNING: ") {
            if let Some((loc, func, text)) = current.take() {
                out.push(Warning { location: loc, function: func, text: text.join("\n") });
            }
            // Before 7.2: "CPU: 0 PID: 1 at arch/arm64/mm/mmu.c:826 split_kernel_leaf_mapping+0x1c/0x2a0";
            // 7.3: "arch/arm64/mm/mmu.c:825 at split_kernel_leaf_mapping+0x78/0x10c, CPU#0: swapper/0".
            let (loc, func) = match header.split_once(" at ") {
                Some((before, rest)) if !before.starts_with("CPU:") => {
                    (Some(before.trim().to_string()), rest.split_whitespace().next().map(|f| f.trim_end_matches(',').to_string()))
                }
                Some((_, rest)) => {
                    let mut parts = rest.split_whitespace();
                    (parts.next().map(str::to_string), parts.next().map(str::to_string))
                }
                None => (None, None),
            };
            current = Some((loc, func, vec![line]));
            continue;
        }
        if let Some((_, _, text)) = current.as_mut() {
            text.push(line);
            if line.starts_with("---[ end trace") {
                let (loc, func, text) = current.take().expect("checked");
                out.push(Warning { location: loc, function: func, text: text.join("\n") });
            }
        }
    }
    if let Some((loc, func, text)) = current {
        out.push(Warning { location: loc, function: func, text: text.join("\n") });
    }
    out
}

/// The panic message (the `Kernel panic - not syncing: ...` line) and the text from the
/// first oops/panic line to the end marker, when the kernel panicked.
pub fn panic(log: &str) -> Option<(String, String)> {
    let all: Vec<&str> = lines(log).collect();
    let at = all.iter().position(|l| l.starts_with(PANIC))?;
    let start = all[..at]
        .iter()
        .rposition(|l| l.starts_with("Internal error:") || l.starts_with("Unable to handle") || l.contains("BUG:"))
        .filter(|s| at - s < 80)
        .unwrap_or(at);
    let end = all[at..].iter().position(|l| l.starts_with(PANIC_END)).map(|e| at + e + 1).unwrap_or(all.len());
    Some((all[at].to_string(), all[start..end].join("\n")))
}

/// The last `n` lines, for a hang report.
pub fn last_lines(log: &str, n: usize) -> Vec<String> {
    let all: Vec<&str> = log.lines().map(|l| l.trim_end_matches('\r')).collect();
    all[all.len().saturating_sub(n)..].iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x410fd842]\r
[    0.000000] Linux version 7.3.4 (root@vm) (aarch64-linux-gnu-gcc (Debian 12.2.0-14) 12.2.0) #1 SMP\r
[    0.000000] CPU features: detected: GICv3 CPU interface\r
[    0.079420] CPU features: detected: BBM Level 3\r
[    0.100000] ------------[ cut here ]------------\r
[    0.100001] WARNING: CPU: 0 PID: 0 at arch/arm64/mm/mmu.c:826 split_kernel_leaf_mapping+0x1c/0x2a0\r
[    0.100002] Modules linked in:\r
[    0.100003] ---[ end trace 0000000000000000 ]---\r
[    0.300000] Run /init as init process\r
\r
==== LMO-PTDUMP-BEGIN ====\r
---[ Linear Mapping start ]---\r
0xffff000000000000-0xffff000000200000           2M PMD       RW NX SHD AF        BLK UXN    MEM/NORMAL-TAGGED\r
[    0.400000] random: interleaved kernel message\r
---[ Linear Mapping end ]---\r
==== LMO-PTDUMP-END ====\r
LMO-WARN-COUNT: 1\r
==== LMO-USERSPACE-REACHED ====\r
";

    #[test]
    fn facts_from_a_log() {
        assert_eq!(kernel_version(LOG).as_deref(), Some("7.3.4"));
        assert_eq!(cpu_features(LOG), vec!["GICv3 CPU interface", "BBM Level 3"]);
        assert!(reached_userspace(LOG));
        assert_eq!(warn_count(LOG), Some(1));
        assert_eq!(init_started_at(LOG), Some(0.3));
        assert!(panic(LOG).is_none());
    }

    #[test]
    fn ptdump_between_markers_without_printk() {
        let p = ptdump(LOG).unwrap();
        assert_eq!(p.lines().count(), 3, "{p}");
        assert!(!p.contains("interleaved"));
    }

    #[test]
    fn warning_blocks() {
        let w = warnings(LOG);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].location.as_deref(), Some("arch/arm64/mm/mmu.c:826"));
        assert_eq!(w[0].function.as_deref(), Some("split_kernel_leaf_mapping+0x1c/0x2a0"));
        assert!(w[0].text.ends_with("---[ end trace 0000000000000000 ]---"));
        // The header as 7.3 prints it.
        let log = "[ 0.1] WARNING: arch/arm64/mm/pageattr.c:342 at realm_set_memory_decrypted+0x48/0x5c, CPU#0: swapper/0\n[ 0.1] Failed to decrypt memory, 512 pages will be leaked\n[ 0.2] ---[ end trace 0000000000000000 ]---\n";
        let w = warnings(log);
        assert_eq!(w[0].location.as_deref(), Some("arch/arm64/mm/pageattr.c:342"));
        assert_eq!(w[0].function.as_deref(), Some("realm_set_memory_decrypted+0x48/0x5c"));
    }

    #[test]
    fn panic_text() {
        let log = "[ 1.0] Run /init as init process\n[ 1.1] Kernel panic - not syncing: No working init found.\n[ 1.2] CPU: 0 PID: 1\n[ 1.3] ---[ end Kernel panic - not syncing: No working init found. ]---\n";
        let (msg, text) = panic(log).unwrap();
        assert_eq!(msg, "Kernel panic - not syncing: No working init found.");
        assert_eq!(text.lines().count(), 3);
    }
}
