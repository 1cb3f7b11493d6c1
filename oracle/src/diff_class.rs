//! The classes of divergence between Linux and the model: what the differ reports and
//! what a scenario or reported-bug entry may expect, by the same names.

use crate::named::{by_name, Named};

/// Which side alone maps a divergent range validly (a presence divergence); `None` for
/// a range both or neither map validly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Side {
    /// Linux maps it, the model does not.
    LinuxOnly,
    /// The model maps it, Linux does not (or holds it present-invalid).
    ModelOnly,
}

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
    /// A realm caller shared other memory than the caller model says (compare/sharing.rs).
    Sharing,
}

impl DiffClass {
    pub fn name(self) -> &'static str {
        match self {
            DiffClass::Presence => "presence",
            DiffClass::Granularity => "granularity",
            DiffClass::Attributes => "attributes",
            DiffClass::OutputAddress => "output address",
            DiffClass::Shared => "shared bit",
            DiffClass::Sharing => "sharing",
        }
    }
}

impl DiffClass {
    pub const ALL: [DiffClass; 6] = [DiffClass::Presence, DiffClass::Granularity, DiffClass::Attributes, DiffClass::OutputAddress, DiffClass::Shared, DiffClass::Sharing];
}

impl Named for DiffClass {
    const WHAT: &'static str = "divergence class";
    fn all() -> &'static [DiffClass] {
        &DiffClass::ALL
    }
    fn name(self) -> &'static str {
        DiffClass::name(self)
    }
}

by_name!(DiffClass);
