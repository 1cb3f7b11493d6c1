//! What a corpus needs from the kernel cache: the kernel variant (and kbuild family) of
//! every scenario, and of every run of every reported-bug entry. `oracle cache` lists the
//! cache against it and `oracle cache gc` removes the rest (linux_harness::cache).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use linux_harness::build::variant_keys;
use linux_harness::cache::{self, GcReport, GcRequest, Listing};

use crate::error::{Context, Error, Result};
use crate::scenario::files::json_files;
use crate::scenario::reported::Entry;
use crate::scenario::{project_corpora, Scenario};

/// The corpus folders whose kernels are needed when none are named.
pub fn default_corpora() -> Vec<PathBuf> {
    let root = project_corpora();
    vec![root.join("scenarios"), root.join("geometries"), root.join("reported"), root.join("bench")]
}

/// Which kernels and build trees a corpus needs, and who needs them.
#[derive(Clone, Debug, Default)]
pub struct Needed {
    /// Variant key → the scenarios (`file`, or `file run NAME` for reported entries).
    pub kernels: BTreeMap<String, Vec<String>>,
    /// Configuration family → the same.
    pub families: BTreeMap<String, Vec<String>>,
}

impl Needed {
    /// How many scenarios need the cache entry named `name` (a folder name, 24 hex
    /// digits) of `kind`.
    pub fn users(&self, kind: cache::Kind, name: &str) -> usize {
        let map = match kind {
            cache::Kind::Kernel => &self.kernels,
            cache::Kind::BuildTree => &self.families,
        };
        map.iter().filter(|(k, _)| k.get(..24) == Some(name)).map(|(_, v)| v.len()).sum()
    }
}

/// The scenarios in `file`: itself, or each run of a reported-bug entry (told apart by
/// its `runs` field), with a label naming them.
fn scenarios_in(file: &Path) -> Result<Vec<(String, Scenario)>> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(format!("reading {}", file.display()), e))?;
    let is_entry = serde_json::from_str::<serde_json::Value>(&text).is_ok_and(|v| v.get("runs").is_some());
    if !is_entry {
        return Ok(vec![(file.display().to_string(), Scenario::load(file)?)]);
    }
    let entry = Entry::load(file)?;
    entry.runs.iter().map(|run| Ok((format!("{} run {}", file.display(), run.name), entry.scenario_for(file, run)?))).collect()
}

/// The kernels and build trees the scenarios and reported entries in `corpus` (files,
/// or folders of `*.json`) need. Computing a key needs the kernel source in the cache
/// (for its identity) and the cross compiler: without them this fails, naming the file.
pub fn needed(corpus: &[PathBuf]) -> Result<Needed> {
    let mut needed = Needed::default();
    for file in json_files(corpus)? {
        for (label, scenario) in scenarios_in(&file)? {
            let variant = crate::prepare::variant_of(&file, &scenario.kernel)?;
            let (family, key) = variant_keys(&variant)
                .with_context(|| format!("{label}: cannot tell which cached kernel it needs"))?;
            needed.kernels.entry(key).or_default().push(label.clone());
            needed.families.entry(family).or_default().push(label);
        }
    }
    Ok(needed)
}

/// The cache listing and what `corpus` needs of it.
pub fn survey(corpus: &[PathBuf]) -> Result<(Listing, Needed)> {
    let needed = needed(corpus)?;
    Ok((cache::list()?, needed))
}

/// Garbage-collects the cache: everything `corpus` does not need, least recently used
/// first, down to `max_size` bytes if given; with `dry_run` nothing is removed.
pub fn collect(corpus: &[PathBuf], max_size: Option<u64>, dry_run: bool) -> Result<(GcReport, Needed)> {
    let needed = needed(corpus)?;
    let req = GcRequest {
        needed_kernels: needed.kernels.keys().cloned().collect::<HashSet<_>>(),
        needed_families: needed.families.keys().cloned().collect::<HashSet<_>>(),
        max_size,
        dry_run,
    };
    Ok((cache::gc(&req)?, needed))
}

/// Parses a size: plain bytes, or a number (fractions allowed) with a unit: `K`, `M`,
/// `G`, `T` and `KiB`..`TiB` are powers of 1024 (as printed by `oracle cache`, `du -h`),
/// `KB`..`TB` powers of 1000; `B` is bytes. Case does not matter.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(format!("{text:?} is not a size (e.g. 20G, 500M, 1.5GiB, 1000000)"));
    }
    let scale: u128 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (K, M, G, T, KiB.., KB.., B)")),
    };
    let digits = |s: &str| -> std::result::Result<u128, String> {
        if s.is_empty() {
            Ok(0)
        } else {
            s.parse::<u128>().map_err(|_| format!("{text:?} is not a size"))
        }
    };
    let fraction = &fraction[..fraction.len().min(18)];
    let bytes = digits(whole)? * scale + digits(fraction)? * scale / 10u128.pow(fraction.len() as u32);
    u64::try_from(bytes).map_err(|_| format!("{text:?} is too large"))
}

/// `bytes` for people, in powers of 1024 like `du -h`: `947B`, `4.0K`, `52M`, `2.1G`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1}{}", UNITS[unit])
    } else {
        format!("{value:.0}{}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("1.5GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("1.5 gib"), Ok(1_610_612_736));
        assert_eq!(parse_size("123456"), Ok(123_456));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("2KB"), Ok(2000));
        assert_eq!(parse_size("3gb"), Ok(3_000_000_000));
        assert_eq!(parse_size(".5K"), Ok(512));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in ["", "G", "1.2.3G", "12Q", "-1G", "1e9", "99999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn sizes_print_like_du_and_parse_back() {
        assert_eq!(format_size(947), "947B");
        assert_eq!(format_size(4096), "4.0K");
        assert_eq!(format_size(52 << 20), "52M");
        assert_eq!(format_size(2_254_857_830), "2.1G");
        for b in [4096u64, 52 << 20, 3 << 30] {
            assert_eq!(parse_size(&format_size(b)), Ok(b));
        }
    }

    #[test]
    fn users_are_counted_by_folder_name() {
        let mut n = Needed::default();
        let key = format!("{}{}", "ab".repeat(12), "0".repeat(40));
        n.kernels.insert(key, vec!["x.json".into(), "y.json run buggy".into()]);
        assert_eq!(n.users(cache::Kind::Kernel, &"ab".repeat(12)), 2);
        assert_eq!(n.users(cache::Kind::Kernel, &"cd".repeat(12)), 0);
        assert_eq!(n.users(cache::Kind::BuildTree, &"ab".repeat(12)), 0);
    }

    #[test]
    fn an_empty_corpus_needs_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let n = needed(&[tmp.path().to_path_buf()]).unwrap();
        assert!(n.kernels.is_empty() && n.families.is_empty());
    }
}
