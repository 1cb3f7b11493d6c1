//! The structural diff of two normalised linear maps (Linux and the model): the minimal
//! list of divergent VA ranges, each with both sides' lines, classified, and explained in
//! a sentence a kernel developer can act on.

use std::fmt;

use rust_impl::address::VirtAddr;
use rust_impl::granule::Level;
use rust_impl::linear_map::{AttrText, HumanSize, LinearMap, MapLine};

pub use crate::diff_class::DiffClass;

/// One divergent VA range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub start: VirtAddr,
    pub end: VirtAddr,
    pub classes: Vec<DiffClass>,
    /// Lines of each side overlapping the range.
    pub linux: Vec<MapLine>,
    pub model: Vec<MapLine>,
}

/// What one side says about one VA.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Point {
    level: Level,
    cont: bool,
    pa: u64,
    attrs: u64,
    valid: bool,
    shared: bool,
}

fn point_at(line: Option<&MapLine>, va: u64) -> Option<Point> {
    line.map(|l| Point { level: l.level, cont: l.cont, pa: l.pa.0 + (va - l.start.0), attrs: l.attrs, valid: l.valid, shared: l.shared })
}

fn classify(a: Option<Point>, b: Option<Point>) -> Vec<DiffClass> {
    match (a, b) {
        (None, None) => vec![],
        (None, Some(_)) | (Some(_), None) => vec![DiffClass::Presence],
        (Some(a), Some(b)) => {
            let mut c = Vec::new();
            if a.valid != b.valid {
                c.push(DiffClass::Presence);
            }
            if a.level != b.level || a.cont != b.cont {
                c.push(DiffClass::Granularity);
            }
            if a.attrs != b.attrs {
                c.push(DiffClass::Attributes);
            }
            if a.pa != b.pa {
                c.push(DiffClass::OutputAddress);
            }
            if a.shared != b.shared {
                c.push(DiffClass::Shared);
            }
            c
        }
    }
}

/// The line of `map` containing `va`, searching from `*cursor` (VAs only grow).
fn line_at<'m>(map: &'m LinearMap, cursor: &mut usize, va: u64) -> Option<&'m MapLine> {
    while *cursor < map.lines.len() && map.lines[*cursor].end.0 <= va {
        *cursor += 1;
    }
    map.lines.get(*cursor).filter(|l| l.start.0 <= va)
}

fn overlapping(map: &LinearMap, start: VirtAddr, end: VirtAddr) -> Vec<MapLine> {
    map.lines.iter().filter(|l| l.start < end && l.end > start).copied().collect()
}

/// Compares the two maps over every VA either of them maps.
pub fn diff(linux: &LinearMap, model: &LinearMap) -> Vec<Divergence> {
    // Every place where either side's line starts or ends splits the VA space into
    // segments over which both sides are uniform.
    let mut cuts: Vec<u64> = linux.lines.iter().chain(&model.lines).flat_map(|l| [l.start.0, l.end.0]).collect();
    cuts.sort_unstable();
    cuts.dedup();
    let (mut ci, mut mi) = (0, 0);
    let mut out: Vec<Divergence> = Vec::new();
    for w in cuts.windows(2) {
        let (start, end) = (w[0], w[1]);
        let a = point_at(line_at(linux, &mut ci, start), start);
        let b = point_at(line_at(model, &mut mi, start), start);
        let classes = classify(a, b);
        if classes.is_empty() {
            continue;
        }
        let (start, end) = (VirtAddr(start), VirtAddr(end));
        match out.last_mut() {
            Some(last) if last.end == start && last.classes == classes => last.end = end,
            _ => out.push(Divergence { start, end, classes, linux: vec![], model: vec![] }),
        }
    }
    for d in &mut out {
        d.linux = overlapping(linux, d.start, d.end);
        d.model = overlapping(model, d.start, d.end);
    }
    out
}

fn describe_side(lines: &[MapLine]) -> String {
    match lines {
        [] => "nothing mapped".into(),
        [l] => describe_line(l),
        _ => {
            let mut shapes: Vec<String> = Vec::new();
            for l in lines {
                let shape = shape(l);
                if !shapes.contains(&shape) {
                    shapes.push(shape);
                }
            }
            format!("{} ranges of {}", lines.len(), shapes.join(", "))
        }
    }
}

/// "plain PTEs", "CONT PMD blocks", ... with "(present-invalid)" when so.
fn shape(l: &MapLine) -> String {
    let what = match (l.level, l.cont) {
        (Level::Pte, false) => "plain PTEs".to_string(),
        (Level::Pte, true) => "CONT PTE groups".to_string(),
        (level, true) => format!("CONT {level} blocks"),
        (level, false) => format!("{level} blocks"),
    };
    if l.valid {
        what
    } else {
        format!("{what} (present-invalid)")
    }
}

fn describe_line(l: &MapLine) -> String {
    let shared = if l.shared { " (shared)" } else { "" };
    format!("{}{shared}, {}", shape(l), AttrText { attrs: l.attrs, valid: l.valid })
}

impl Divergence {
    /// One sentence: what each side has in this range.
    pub fn explanation(&self) -> String {
        let classes: Vec<&str> = self.classes.iter().map(|c| c.name()).collect();
        format!(
            "{} differ over {}: Linux has {}; the model expects {}",
            classes.join(" and "),
            HumanSize(self.end.0 - self.start.0),
            describe_side(&self.linux),
            describe_side(&self.model)
        )
    }
}

impl Divergence {
    /// Which side alone maps the range validly, if one does.
    pub fn side(&self) -> Option<crate::diff_class::Side> {
        use crate::diff_class::Side;
        let valid = |lines: &[MapLine]| lines.iter().any(|l| l.valid);
        match (valid(&self.linux), valid(&self.model)) {
            (true, false) => Some(Side::LinuxOnly),
            (false, true) => Some(Side::ModelOnly),
            _ => None,
        }
    }
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}-{} {}", self.start, self.end, self.explanation())?;
        for (side, lines) in [("linux", &self.linux), ("model", &self.model)] {
            if lines.is_empty() {
                writeln!(f, "  {side}: (nothing mapped)")?;
            }
            for l in lines.iter() {
                let one = LinearMap { lines: vec![*l] };
                write!(f, "  {side}: {one}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_impl::address::{PhysAddr, VirtAddr};
    use rust_impl::descriptor::*;

    const RW: u64 = PTE_AF | PTE_SHARED | PTE_PXN | PTE_UXN | PTE_WRITE | PTE_DIRTY | (1 << 2);
    const BASE: u64 = 0xffff_0000_0000_0000;

    fn line(start: u64, end: u64, level: Level, cont: bool, attrs: u64) -> MapLine {
        MapLine { start: VirtAddr(BASE + start), end: VirtAddr(BASE + end), level, cont, pa: PhysAddr(0x4000_0000 + start), attrs, valid: true, shared: false }
    }

    #[test]
    fn equal_maps_have_no_divergence() {
        let m = LinearMap { lines: vec![line(0, 2 << 20, Level::Pmd, false, RW), line(2 << 20, 4 << 20, Level::Pte, true, RW)] };
        assert!(diff(&m, &m).is_empty());
    }

    #[test]
    fn same_bytes_split_differently_is_granularity_only() {
        let linux = LinearMap { lines: vec![line(0, 32 << 20, Level::Pmd, true, RW)] };
        let model = LinearMap { lines: vec![line(0, 32 << 20, Level::Pte, false, RW)] };
        let d = diff(&linux, &model);
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].start.0, d[0].end.0), (BASE, BASE + (32 << 20)));
        assert_eq!(d[0].classes, vec![DiffClass::Granularity]);
        assert_eq!(
            d[0].explanation(),
            "granularity differ over 32M: Linux has CONT PMD blocks, RW NX UXN SHD AF DBM DIRTY MEM/NORMAL-TAGGED; \
             the model expects plain PTEs, RW NX UXN SHD AF DBM DIRTY MEM/NORMAL-TAGGED"
                .replace("DBM DIRTY MEM/NORMAL-TAGGED", "DBM MEM/NORMAL-TAGGED DIRTY")
        );
    }

    #[test]
    fn minimal_ranges_with_classes() {
        // The model makes one 64K range read-only and leaves 4K unmapped.
        let linux = LinearMap { lines: vec![line(0, 1 << 20, Level::Pte, false, RW)] };
        let model = LinearMap {
            lines: vec![
                line(0, 0x10000, Level::Pte, false, RW),
                line(0x10000, 0x20000, Level::Pte, false, RW | PTE_RDONLY),
                line(0x20000, 0xff000, Level::Pte, false, RW),
            ],
        };
        let d = diff(&linux, &model);
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].start.0 - BASE, d[0].end.0 - BASE, d[0].classes.clone()), (0x10000, 0x20000, vec![DiffClass::Attributes]));
        assert_eq!((d[1].start.0 - BASE, d[1].end.0 - BASE, d[1].classes.clone()), (0xff000, 0x100000, vec![DiffClass::Presence]));
        assert!(d[1].explanation().ends_with("the model expects nothing mapped"), "{}", d[1].explanation());
        let text = d[0].to_string();
        assert!(text.contains("  linux: ") && text.contains("  model: "), "{text}");
    }

    #[test]
    fn output_address_and_shared() {
        let linux = LinearMap { lines: vec![MapLine { shared: true, ..line(0, 0x10000, Level::Pte, true, RW) }] };
        let model = LinearMap { lines: vec![MapLine { pa: PhysAddr(0x5000_0000), ..line(0, 0x10000, Level::Pte, true, RW) }] };
        let d = diff(&linux, &model);
        assert_eq!(d[0].classes, vec![DiffClass::OutputAddress, DiffClass::Shared]);
    }
}
