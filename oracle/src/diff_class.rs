//! The classes of divergence between Linux and the model: what the differ reports and
//! what a scenario or reported-bug entry may expect, by the same names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What differs in a range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiffClass {
    /// Mapped on one side only, or valid on one side and present-invalid on the other.
    Presence,
    /// Different level or contiguous bit.
    Granularity,
    /// Different attribute bits.
    Attributes,
    /// Different output address.
    OutputAddress,
    /// The realm shared bit differs.
    Shared,
}

impl DiffClass {
    pub fn name(self) -> &'static str {
        match self {
            DiffClass::Presence => "presence",
            DiffClass::Granularity => "granularity",
            DiffClass::Attributes => "attributes",
            DiffClass::OutputAddress => "output address",
            DiffClass::Shared => "shared bit",
        }
    }
}

impl DiffClass {
    pub const ALL: [DiffClass; 5] = [DiffClass::Presence, DiffClass::Granularity, DiffClass::Attributes, DiffClass::OutputAddress, DiffClass::Shared];

    /// The class called `name`.
    pub fn parse(name: &str) -> Option<DiffClass> {
        DiffClass::ALL.into_iter().find(|c| c.name() == name)
    }
}

impl fmt::Display for DiffClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for DiffClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DiffClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        DiffClass::parse(&s).ok_or_else(|| {
            let known: Vec<&str> = DiffClass::ALL.iter().map(|c| c.name()).collect();
            serde::de::Error::custom(format!("unknown divergence class {s:?}; known: {}", known.join(", ")))
        })
    }
}
