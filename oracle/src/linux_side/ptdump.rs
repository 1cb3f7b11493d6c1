//! The kernel's own page-table dump (`/sys/kernel/debug/kernel_page_tables`, printed by
//! `arch/arm64/mm/ptdump.c`) parsed into sections of ranges with level and attributes,
//! and rendered back as aligned text.

use std::fmt;

use rust_impl::address::VirtAddr;
use rust_impl::granule::Level;

/// A level as ptdump names it (`PGD`, `P4D`, `PUD`, `PMD`, `PTE`).
fn parse_level(name: &str) -> Option<Level> {
    [Level::Pgd, Level::P4d, Level::Pud, Level::Pmd, Level::Pte].into_iter().find(|l| l.name() == name)
}

/// One ptdump line: a range of same-level, same-attribute entries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtdumpRange {
    pub start: VirtAddr,
    /// Exclusive end; 0 stands for 2^64 (the top of the address space).
    pub end: VirtAddr,
    pub level: Level,
    /// Empty when nothing is mapped (ptdump prints no attributes then).
    pub attrs: Vec<String>,
}

impl PtdumpRange {
    /// Whether anything is mapped here (valid or present-invalid).
    pub fn is_mapped(&self) -> bool {
        !self.attrs.is_empty()
    }
    /// Whether the entries are valid (ptdump prints `F` when PTE_VALID is clear).
    pub fn is_valid(&self) -> bool {
        self.is_mapped() && !self.has("F")
    }
    pub fn has(&self, attr: &str) -> bool {
        self.attrs.iter().any(|a| a == attr)
    }
    /// Contiguous bit (`CON`).
    pub fn is_cont(&self) -> bool {
        self.has("CON")
    }
    /// Block descriptor (`BLK`).
    pub fn is_block(&self) -> bool {
        self.has("BLK")
    }
    /// The memory type column (`MEM/NORMAL`, `DEVICE/nGnRE`, ...).
    pub fn memory_type(&self) -> Option<&str> {
        self.attrs.iter().map(String::as_str).find(|a| a.starts_with("MEM/") || a.starts_with("DEVICE/"))
    }
    pub fn size(&self) -> u64 {
        self.end.0.wrapping_sub(self.start.0)
    }
}

/// One `---[ NAME start ]---` .. `---[ NAME end ]---` section (or a marker-delimited
/// region, as ptdump prints them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PtdumpSection {
    pub name: String,
    pub ranges: Vec<PtdumpRange>,
}

/// A whole dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ptdump {
    pub sections: Vec<PtdumpSection>,
}

/// A line that is neither a marker nor a range line.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("ptdump line {line}: {reason}: {text:?}")]
pub struct PtdumpError {
    pub line: usize,
    pub reason: &'static str,
    pub text: String,
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

impl Ptdump {
    /// Parses ptdump text. Every line must be a marker or a range line.
    pub fn parse(text: &str) -> Result<Ptdump, PtdumpError> {
        let mut sections: Vec<PtdumpSection> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            let err = |reason| PtdumpError { line: i + 1, reason, text: line.to_string() };
            if line.is_empty() {
                continue;
            }
            if let Some(marker) = line.strip_prefix("---[ ").and_then(|l| l.strip_suffix(" ]---")) {
                // "Linear Mapping start" opens a section, "Linear Mapping end" closes it;
                // ptdump also prints bare markers ("vmalloc() area") that open one.
                let name = marker.strip_suffix(" start").unwrap_or(marker);
                if marker.ends_with(" end") {
                    continue;
                }
                sections.push(PtdumpSection { name: name.to_string(), ranges: Vec::new() });
                continue;
            }
            let mut tokens = line.split_whitespace();
            let range = tokens.next().ok_or_else(|| err("empty"))?;
            let (a, b) = range.split_once('-').ok_or_else(|| err("no address range"))?;
            let (start, end) = (parse_hex(a).ok_or_else(|| err("bad start address"))?, parse_hex(b).ok_or_else(|| err("bad end address"))?);
            // The last range of the address space ends at 2^64, printed as 0.
            if end <= start && end != 0 {
                return Err(err("range ends before it starts"));
            }
            let _size = tokens.next().ok_or_else(|| err("no size"))?;
            let level = tokens.next().and_then(parse_level).ok_or_else(|| err("no level"))?;
            let attrs = tokens.map(str::to_string).collect();
            let section = sections.last_mut().ok_or_else(|| err("range before any section marker"))?;
            section.ranges.push(PtdumpRange { start: VirtAddr(start), end: VirtAddr(end), level, attrs });
        }
        Ok(Ptdump { sections })
    }

    pub fn section(&self, name: &str) -> Option<&PtdumpSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The `Linear Mapping` section.
    pub fn linear_map(&self) -> Option<&PtdumpSection> {
        self.section("Linear Mapping")
    }
}

/// `2M`, `1G`, `960K`, as ptdump prints sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1 << 40, "T"), (1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (unit, name) in UNITS {
        if bytes >= unit && bytes % unit == 0 {
            return format!("{}{name}", bytes / unit);
        }
    }
    format!("{bytes}B")
}

impl fmt::Display for PtdumpSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "---[ {} ]---", self.name)?;
        for r in &self.ranges {
            let attrs = if r.is_mapped() { r.attrs.join(" ") } else { "(unmapped)".into() };
            writeln!(f, "{}-{} {:>7} {} {}", r.start, r.end, human_size(r.size()), r.level.name(), attrs)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as Linux 7.3.4 printed them for a 2 GiB BBML3 guest.
    const DUMP: &str = "\
---[ Linear Mapping start ]---
0xffff000000000000-0xffff000000200000           2M PMD       RW NX SHD AF        BLK UXN    MEM/NORMAL-TAGGED
0xffff000000540000-0xffff000000600000         768K PTE F     RW NX SHD AF NG CON     UXN    MEM/NORMAL-TAGGED
0xffff000002000000-0xffff000040000000         992M PMD       RW NX SHD AF    CON BLK UXN    MEM/NORMAL-TAGGED
0xffff000040000000-0xffff000080000000           1G PUD       RW NX SHD AF        BLK UXN    MEM/NORMAL-TAGGED
0xffff000080000000-0xffff008000000000         510G PUD
---[ Linear Mapping end ]---
---[ Modules start ]---
0xffff800000000000-0xffff800080000000           2G PUD
---[ Modules end ]---
---[ vmalloc() area ]---
0xffff800080440000-0xffff800080450000          64K PTE       RW NX SHD AF            UXN    DEVICE/nGnRE
";

    #[test]
    fn sections_and_ranges() {
        let d = Ptdump::parse(DUMP).unwrap();
        let names: Vec<_> = d.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["Linear Mapping", "Modules", "vmalloc() area"]);
        let lm = d.linear_map().unwrap();
        assert_eq!(lm.ranges.len(), 5);
        assert!(lm.ranges[0].is_block() && !lm.ranges[0].is_cont() && lm.ranges[0].level == Level::Pmd);
        assert!(!lm.ranges[1].is_valid() && lm.ranges[1].is_mapped() && lm.ranges[1].is_cont());
        assert!(lm.ranges[2].is_cont() && lm.ranges[2].is_block());
        assert_eq!(lm.ranges[3].level, Level::Pud);
        assert_eq!(lm.ranges[3].memory_type(), Some("MEM/NORMAL-TAGGED"));
        assert!(!lm.ranges[4].is_mapped());
        assert_eq!(d.sections[2].ranges[0].memory_type(), Some("DEVICE/nGnRE"));
    }

    #[test]
    fn bad_lines_are_named() {
        let e = Ptdump::parse("---[ Linear Mapping start ]---\n0xffff-0xfff0 4K PTE\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(e.reason, "range ends before it starts");
        let top = Ptdump::parse("---[ Fixmap ]---\n0xffffffffff800000-0x0000000000000000 8M PMD\n").unwrap();
        assert_eq!(top.sections[0].ranges[0].size(), 8 << 20);
        let e = Ptdump::parse("0xffff000000000000-0xffff000000200000 2M PMD RW\n").unwrap_err();
        assert_eq!(e.reason, "range before any section marker");
        let e = Ptdump::parse("---[ X ]---\n0xffff000000000000-0xffff000000200000 2M XYZ RW\n").unwrap_err();
        assert_eq!(e.reason, "no level");
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(2 << 20), "2M");
        assert_eq!(human_size(960 << 10), "960K");
        assert_eq!(human_size(130560 << 30), "130560G");
        assert_eq!(human_size(1 << 40), "1T");
    }
}
