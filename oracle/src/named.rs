//! Enums that read and print as names (checkpoints, traced functions, divergence
//! classes): one trait, and `Display` and serde by name from it.

/// A closed set of values, each with a name.
pub trait Named: Sized + Copy + 'static {
    /// What a value is, in messages ("checkpoint").
    const WHAT: &'static str;
    /// Every value, in order.
    fn all() -> &'static [Self];
    /// The value's name.
    fn name(self) -> &'static str;
    /// The value called `name`.
    fn parse(name: &str) -> Option<Self> {
        Self::all().iter().copied().find(|v| v.name() == name)
    }
    /// Every name, for messages.
    fn known() -> String {
        Self::all().iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
    }
}

/// `Display`, `Serialize` and `Deserialize` (with an error listing the known names) for a
/// [`Named`] type.
macro_rules! by_name {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::named::Named::name(*self))
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::named::Named::name(*self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use $crate::named::Named;
                let s = String::deserialize(d)?;
                <$t>::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown {} {s:?}; known: {}", <$t>::WHAT, <$t>::known())))
            }
        }
    };
}
pub(crate) use by_name;
