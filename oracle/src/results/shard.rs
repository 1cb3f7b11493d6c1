//! Shards: a deterministic share of the matrix for one CI runner (`oracle run --shard
//! I/N`), and the merge of every shard's results into the one result an unsharded run
//! would have written (`oracle merge`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{MatrixEntry, Results, SCHEMA};
use crate::error::{Error, Result};

/// Shard `index` of `count` (1-based, as CI engines number their parallel jobs).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields, try_from = "RawShard")]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard as read from a results file, before its range is checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShard {
    index: u32,
    count: u32,
}

impl TryFrom<RawShard> for Shard {
    type Error = String;
    fn try_from(r: RawShard) -> std::result::Result<Shard, String> {
        format!("{}/{}", r.index, r.count).parse()
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || format!("`{s}` is not a shard: write I/N with 1 <= I <= N, e.g. 2/4");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (i.trim().parse().map_err(|_| bad())?, n.trim().parse().map_err(|_| bad())?);
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count} is out of range: the index runs from 1 to the count"));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// This shard's entries of `matrix`, in matrix order. The matrix is ordered by
    /// kernel, then scenario, and cut into `count` contiguous runs of (nearly) equal
    /// length: each shard gets an equal share and scenarios sharing a kernel build tend
    /// to land on the same runner.
    pub fn share<'a>(&self, matrix: &'a [MatrixEntry]) -> Vec<&'a MatrixEntry> {
        let mut order: Vec<usize> = (0..matrix.len()).collect();
        order.sort_by(|&a, &b| (&matrix[a].kernel, &matrix[a].scenario, a).cmp(&(&matrix[b].kernel, &matrix[b].scenario, b)));
        let (n, k) = (matrix.len(), self.count as usize);
        let i = self.index as usize - 1;
        // Runs of n/k, the first n%k of them one longer.
        let start = i * (n / k) + i.min(n % k);
        let len = n / k + usize::from(i < n % k);
        let mut mine: Vec<usize> = order[start..start + len].to_vec();
        mine.sort_unstable();
        mine.into_iter().map(|j| &matrix[j]).collect()
    }
}

/// Joins the results of every shard of one run into the results of the whole matrix.
/// `sources` names each result for messages (its directory). Refuses (naming what is
/// wrong) results of another schema, of different matrices, a shard set that leaves a
/// shard out or gives one twice, and an incomplete shard: a merge is whole or nothing.
pub fn merge(parts: &[(String, Results)]) -> Result<Results> {
    let bad = |msg: String| Error::Results(format!("merge: {msg}"));
    let (first_name, first) = parts.first().ok_or_else(|| bad("no results to merge".into()))?;
    let mut by_index: BTreeMap<u32, &str> = BTreeMap::new();
    let count = first.run.shard.map_or(1, |s| s.count);
    for (name, r) in parts {
        if r.schema != SCHEMA {
            return Err(bad(format!("{name} has schema {}, this oracle merges {SCHEMA}", r.schema)));
        }
        if r.run.matrix != first.run.matrix || r.run.origin != first.run.origin || r.run.series != first.run.series || r.run.kernel != first.run.kernel {
            return Err(bad(format!("{name} ran another matrix (or origin, series or kernel) than {first_name}")));
        }
        let shard = r.run.shard.unwrap_or(Shard { index: 1, count: 1 });
        if shard.count != count {
            return Err(bad(format!("{name} is shard {shard}, {first_name} is one of {count}")));
        }
        if let Some(other) = by_index.insert(shard.index, name) {
            return Err(bad(format!("shard {shard} is given twice ({other} and {name}): the shards overlap")));
        }
        if !r.complete {
            return Err(bad(format!("{name} (shard {shard}) is incomplete: {} of its {} scenario(s) finished", r.scenarios.len(), r.planned().len())));
        }
        let planned: Vec<&str> = r.planned().iter().map(|e| e.scenario.as_str()).collect();
        if let Some(s) = r.scenarios.iter().find(|s| !planned.contains(&s.scenario.as_str())) {
            return Err(bad(format!("{name} (shard {shard}) holds {}, which is not in its share of the matrix", s.scenario)));
        }
    }
    let missing: Vec<String> = (1..=count).filter(|i| !by_index.contains_key(i)).map(|i| format!("{i}/{count}")).collect();
    if !missing.is_empty() {
        return Err(bad(format!("the shards do not cover the matrix: shard(s) {} missing", missing.join(", "))));
    }
    let mut scenarios = Vec::new();
    for entry in &first.run.matrix {
        let found = parts.iter().flat_map(|(_, r)| &r.scenarios).find(|s| s.scenario == entry.scenario && s.file == entry.file);
        scenarios.push(found.cloned().ok_or_else(|| bad(format!("no shard has a result for {}", entry.scenario)))?);
    }
    let mut run = first.run.clone();
    run.shard = None;
    run.seconds = parts.iter().map(|(_, r)| r.run.seconds).fold(0.0, f64::max);
    Ok(Results { schema: SCHEMA.to_string(), complete: true, run, scenarios })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matrix(n: usize) -> Vec<MatrixEntry> {
        (0..n).map(|i| MatrixEntry { scenario: format!("s{i:02}"), file: format!("s{i:02}.json"), kernel: format!("k{}", i % 3) }).collect()
    }

    #[test]
    fn shards_partition_the_matrix() {
        for n in [0, 1, 5, 25] {
            for count in 1..=6u32 {
                let m = matrix(n);
                let mut seen: Vec<&str> = (1..=count).flat_map(|index| Shard { index, count }.share(&m)).map(|e| e.scenario.as_str()).collect();
                let sizes: Vec<usize> = (1..=count).map(|index| Shard { index, count }.share(&m).len()).collect();
                assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
                seen.sort_unstable();
                let all: Vec<&str> = m.iter().map(|e| e.scenario.as_str()).collect();
                assert_eq!(seen, all, "n={n} count={count}");
            }
        }
    }

    #[test]
    fn bad_shards_are_refused() {
        for (text, want) in [("0/3", "out of range"), ("4/3", "out of range"), ("1/0", "out of range"), ("x", "not a shard"), ("1/", "not a shard")] {
            let e = text.parse::<Shard>().unwrap_err();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert_eq!("2/4".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;
    use crate::results::sample::{results, scenario};

    const M: [&str; 3] = ["a", "b", "c"];

    /// Shard `i` of `n` over M, with every scenario of its share.
    fn part(i: u32, n: u32) -> (String, Results) {
        let shard = Shard { index: i, count: n };
        let m = results(&M, Some(shard), vec![]);
        let share: Vec<_> = shard.share(&m.run.matrix).iter().map(|e| scenario(&e.scenario, 0, true)).collect();
        (format!("dir{i}"), results(&M, Some(shard), share))
    }

    #[test]
    fn merged_shards_are_the_whole_run() {
        let merged = merge(&[part(2, 2), part(1, 2)]).unwrap();
        let whole = results(&M, None, M.iter().map(|n| scenario(n, 0, true)).collect());
        assert_eq!(merged, whole);
    }

    #[test]
    fn a_merge_is_whole_or_refused() {
        let err = |parts: &[(String, Results)]| merge(parts).unwrap_err().to_string();
        assert!(err(&[part(1, 3), part(3, 3)]).contains("shard(s) 2/3 missing"));
        assert!(err(&[part(1, 2), part(1, 2), part(2, 2)]).contains("shard 1/2 is given twice"));
        assert!(err(&[part(1, 2), part(1, 3)]).contains("is one of 2"));
        let mut short = part(1, 2);
        short.1.scenarios.pop();
        short.1.complete = false;
        assert!(err(&[short, part(2, 2)]).contains("dir1 (shard 1/2) is incomplete: 1 of its 2 scenario(s) finished"));
        let mut other = part(2, 2);
        other.1.schema = "lmo-results/0".into();
        assert!(err(&[part(1, 2), other]).contains("dir2 has schema lmo-results/0"));
        assert!(err(&[]).contains("no results"));
    }
}
